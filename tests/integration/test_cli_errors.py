"""Bad input answers with one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_exec import add_team

pytestmark = [pytest.mark.usefixtures("no_leftover_containers")]


def run_cli(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "RUNTIME_STATE_DIR": str(project / ".state"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.opa
def test_unknown_team(project: Path, opa_path: Path) -> None:
    done = run_cli(project, "exec", "do it", "--team", "nope")
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"error: unknown team 'nope'; teams in {project / 'agents'}: analyst, rogue"
    )


def test_team_naming_an_unknown_agent(project: Path) -> None:
    (project / "agents" / "broken.py").write_text(
        "from runtime.agents import Agent, Team\n"
        "a = Agent(name='a', instruction='x', model='scripted:x.json')\n"
        "t = Team(name='broken', agents=[a], entry='ghost')\n"
    )
    done = run_cli(project, "exec", "do it", "--team", "broken")
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"error: {project / 'agents' / 'broken.py'}: team 'broken' starts with unknown agent 'ghost'"
    )


@pytest.mark.opa
@pytest.mark.docker
def test_unknown_tool(project: Path, opa_path: Path, sandbox_image: str) -> None:
    """A call to a tool that does not exist goes back to the agent as a denial (issue 14
    item 15); a scripted agent that stops there ends the run blocked, in one line."""
    add_team(project, "typo", {"coder": "x"}, {"coder": [{"tool": "fs.delete", "args": {}}]})
    done = run_cli(
        project, "exec", "do it", "--team", "typo", env={"RUNTIME_OPA_BINARY": str(opa_path)}
    )
    assert done.returncode == 3
    assert one_line(done.stderr) == (
        "blocked: coder's call to fs.delete was denied: unknown tool 'fs.delete'; known tools: "
        "fs.list, fs.read, fs.write, memory.put, memory.search, python.run"
    )


@pytest.mark.opa
def test_rego_that_does_not_compile(project: Path, opa_path: Path) -> None:
    (project / "rego" / "broken.rego").write_text("package runtime.broken\n\nallow if {\n")
    done = run_cli(
        project, "exec", "do it", "--team", "analyst", env={"RUNTIME_OPA_BINARY": str(opa_path)}
    )
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith("error: ") and "broken.rego" in line


@pytest.mark.opa
def test_docker_engine_down(project: Path, opa_path: Path, tmp_path: Path) -> None:
    socket = tmp_path / "no-docker.sock"
    done = run_cli(
        project,
        "exec",
        "do it",
        "--team",
        "analyst",
        env={"DOCKER_HOST": f"unix://{socket}", "RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 5
    assert one_line(done.stderr) == (
        f"error: Docker engine not reachable at unix://{socket}: run `runtime doctor`"
    )


def test_opa_missing(project: Path, tmp_path: Path) -> None:
    bare_path = os.pathsep.join(
        p
        for p in os.environ["PATH"].split(os.pathsep)
        if not (Path(p) / "opa").exists() and not (Path(p) / "go").exists()
    )
    done = run_cli(
        project,
        "exec",
        "do it",
        "--team",
        "analyst",
        env={"PATH": bare_path, "HOME": str(tmp_path), "GOPATH": str(tmp_path / "go")},
    )
    assert done.returncode == 5
    assert one_line(done.stderr).startswith("error: OPA not found")


@pytest.mark.opa
@pytest.mark.docker
def test_json_output_of_a_blocked_run(project: Path, opa_path: Path, sandbox_image: str) -> None:
    done = run_cli(
        project,
        "exec",
        "look",
        "--team",
        "rogue",
        "--json",
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["status"] == "blocked"
    assert [(s["agent"], s["tool"], s["decision"]) for s in doc["steps"]] == [
        ("planner", "python.run", "deny")
    ]
    assert doc["steps"][0]["reasons"] == [
        "tool python.run is not granted to agent planner",
        'grant missing: add "python.run" to runtime_data.authz.grants.agents.planner.tools in '
        f"{project.resolve() / 'rego' / 'data.json'} (or to "
        "runtime_data.authz.grants.teams.rogue.agents.planner.tools for team rogue only)",
    ]
