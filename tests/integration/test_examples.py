"""CI's example run: the README's two example teams, as a user runs them, on a copy of the
repo's own agents/ and rego/ (the rest of the suite runs on tests/fixtures/project).

The assertions are what a user sees (exit code, status, printed lines, files in the output
folder), never policy hashes or step-by-step internals, so a user who adds a team or a grant
keeps this green while a broken example turns it red.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from tests.conftest import REPO
from tests.integration.test_cli_errors import run_cli

pytestmark = [
    pytest.mark.opa,
    pytest.mark.docker,
    pytest.mark.usefixtures("no_leftover_containers", "sandbox_image"),
]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A project holding the repo's example teams and policies, as a user's checkout does."""
    root = tmp_path / "examples"
    shutil.copytree(REPO / "agents", root / "agents", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "rego", root / "rego")
    shutil.copytree(REPO / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_analyst_example_ranks_the_regions_and_writes_its_report(
    examples: Path, opa_path: Path
) -> None:
    done = run_cli(
        examples,
        "exec",
        "Rank our sales regions by revenue",
        "--team",
        "analyst",
        "--json",
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert "report.md" in result["output"]
    output = examples / result["output_dir"]
    assert sorted(p.name for p in output.iterdir()) == ["report.md", "totals.csv"]
    assert (output / "totals.csv").read_text().splitlines()[:2] == ["region,revenue", "north,1025"]
    assert "| 1 | north | 1025 |" in (output / "report.md").read_text()


def test_rogue_example_is_blocked_before_any_sandbox(examples: Path, opa_path: Path) -> None:
    done = run_cli(
        examples,
        "exec",
        "List the root folder",
        "--team",
        "rogue",
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert done.returncode == 3, done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith(
        "blocked: planner's call to python.run was denied: "
        "tool python.run is not granted to agent planner"
    )
    assert said[1].startswith("safe alternative: use a tool granted to agent planner instead:")
    listed = run_cli(examples, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert (run["team"], run["status"], run["denials"]) == ("rogue", "blocked", 1)
    log = AuditLog(examples / ".state" / "audit.db")
    try:
        kinds = [event.kind for event in log.events(run["id"])]
    finally:
        log.close()
    assert "decision" in kinds and "sandbox.acquired" not in kinds  # no box was ever started


def test_words_example_runs_the_projects_own_tool_without_docker(
    examples: Path, opa_path: Path
) -> None:
    done = run_cli(
        examples,
        "exec",
        "How many words are in 'to be or not to be'?",
        "--team",
        "words",
        "--json",
        env={"RUNTIME_OPA_BINARY": str(opa_path), "DOCKER_HOST": "unix:///nonexistent.sock"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["output"]) == ("completed", "6 words")
    assert [(s["tool"], s["decision"], s["sandbox_id"]) for s in result["steps"]] == [
        ("word_count", "allow", None)
    ]
