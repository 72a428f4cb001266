"""An agent that declares a tool no grant gives it: `runtime doctor` and the run's denial
name the missing grant and the exact place to add it, and adding it there is enough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import run_cli

pytestmark = [pytest.mark.usefixtures("no_leftover_containers")]

# `rogue`'s planner declares python.run; the built-in grants give it to the coder only.
AGENT_PATH = "runtime_data.authz.grants.agents.planner.tools"
TEAM_PATH = "runtime_data.authz.grants.teams.rogue.agents.planner.tools"


def fix_line(project: Path) -> str:
    data = project.resolve() / "rego" / "data.json"
    return f'add "python.run" to {AGENT_PATH} in {data} (or to {TEAM_PATH} for team rogue only)'


def grant(project: Path, path: str, tool: str) -> None:
    """Add `tool` at the dotted JSON `path` of rego/data.json, as the hint says."""
    data_path = project / "rego" / "data.json"
    document = json.loads(data_path.read_text())
    node = document
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node.setdefault(last, []).append(tool)
    data_path.write_text(json.dumps(document))


def test_doctor_names_the_missing_grant_and_where_to_add_it(project: Path) -> None:
    done = run_cli(project, "doctor")
    lines = done.stdout.splitlines()
    warned = [i for i, line in enumerate(lines) if line.startswith("warning  grants ")]
    assert [lines[i] for i in warned] == [
        "warning  grants rogue: agent planner declares python.run, which no grant gives it "
        "(denied when called)"
    ]
    assert lines[warned[0] + 1] == f"         fix: {fix_line(project)}"
    # A warning is not a missing part: it does not count toward doctor's exit code.
    assert not any(line.startswith("missing  grants") for line in lines)

    grant(project, TEAM_PATH, "python.run")
    again = run_cli(project, "doctor").stdout.splitlines()
    assert not any(line.startswith("warning  grants") for line in again)


@pytest.mark.docker
@pytest.mark.opa
def test_the_first_denial_names_the_missing_grant_and_adding_it_there_is_enough(
    project: Path, opa_path: Path, sandbox_image: str
) -> None:
    env = {"RUNTIME_OPA_BINARY": str(opa_path)}
    done = run_cli(project, "exec", "look", "--team", "rogue", "--json", env=env)
    assert done.returncode == 3, done.stderr
    doc = json.loads(done.stdout)
    first = doc["steps"][0]
    assert (first["agent"], first["tool"], first["decision"]) == ("planner", "python.run", "deny")
    assert first["reasons"] == [
        "tool python.run is not granted to agent planner",
        f"grant missing: {fix_line(project)}",
    ]
    assert doc["reason"].endswith(f"; grant missing: {fix_line(project)}")

    grant(project, AGENT_PATH, "python.run")
    done = run_cli(project, "exec", "look", "--team", "rogue", "--json", env=env)
    doc = json.loads(done.stdout)
    first = doc["steps"][0]
    assert (first["agent"], first["tool"], first["decision"]) == ("planner", "python.run", "allow")
    assert not any("grant missing" in r for s in doc["steps"] for r in s["reasons"])
