"""A call that needs approval pauses the run; the pause survives the process; a human's
answer resumes it (approve) or stops it cleanly (deny); both are audited with who answered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.audit.store import AuditLog
from tests.integration.test_cli_errors import run_cli
from tests.integration.test_exec import add_team

PAUSE_S = 3.0

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]


def edit_policy_data(project: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply `edit` to the project's `rego/data.json` (its `runtime_data` object)."""
    data_path = project / "rego" / "data.json"
    data = json.loads(data_path.read_text())
    edit(data["runtime_data"])
    data_path.write_text(json.dumps(data))


def require_approval_for_writes(project: Path) -> None:
    edit_policy_data(project, lambda data: data["authz"]["approval"].update(tools=["fs.write"]))


@pytest.fixture
def approval_project(project: Path, opa_path: Path, sandbox_image: str) -> Path:
    require_approval_for_writes(project)
    add_team(
        project,
        "careful",
        {"coder": "writes after approval"},
        {
            "coder": [
                {"tool": "python.run", "args": {"code": "open('draft.txt', 'w').write('draft')"}},
                {"tool": "fs.write", "args": {"path": "final.txt", "content": "approved text"}},
                {"tool": "fs.read", "args": {"path": "draft.txt"}},
                {"answer": "final.txt written"},
            ]
        },
    )
    return project


def cli(project: Path, opa_path: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_cli(project, *args, "--json", env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_paused_run_survives_restart_and_resumes_on_approval(
    approval_project: Path, opa_path: Path
) -> None:
    code, doc = cli(approval_project, opa_path, "exec", "write it", "--team", "careful")
    assert code == 4 and doc["status"] == "awaiting_approval"
    run_id = str(doc["run_id"])
    assert doc["reason"] == (
        "coder's call to fs.write needs approval: tool fs.write needs human approval "
        f"(runtime approve {run_id} | runtime deny {run_id} --reason ...)"
    )
    output = Path(str(doc["output_dir"]))
    assert sorted(p.name for p in output.iterdir()) == ["draft.txt"]

    code, waiting = cli(approval_project, opa_path, "runs", "pending")
    assert code == 0
    assert [(w["run_id"], w["step"], w["agent"], w["tool"]) for w in waiting] == [  # type: ignore[index, union-attr]
        (run_id, 2, "coder", "fs.write")
    ]
    assert waiting[0]["args"] == {"path": "final.txt", "content": "approved text"}  # type: ignore[index]

    code, doc = cli(approval_project, opa_path, "approve", run_id, "--step", "2", "--by", "alice")
    assert code == 0, doc
    assert doc["status"] == "completed"
    assert [(s["tool"], s["decision"], s["verdict"]) for s in doc["steps"]] == [  # type: ignore[index, union-attr]
        ("python.run", "allow", "pass"),
        ("fs.write", "require_approval", "pass"),
        ("fs.read", "allow", "pass"),
    ]
    assert (output / "final.txt").read_text() == "approved text"
    # The resumed box was seeded with what the run had committed before the pause.
    log = AuditLog(approval_project / ".state" / "audit.db")
    try:
        events = log.events(run_id)
        approvals = [e.payload for e in events if e.kind == "approval"]
        assert approvals == [
            {"kind": "approval", "tool": "fs.write", "approved": True, "by": "alice", "reason": ""}
        ]
        reads = [e.payload for e in events if e.kind == "execution" and e.step == 3]
        assert reads[0]["ok"] is True
        commits = [e.payload["idempotency_key"] for e in events if e.kind == "commit"]
        assert len(commits) == len(set(commits)) == 3
        assert log.verify().ok
    finally:
        log.close()

    again = run_cli(approval_project, "approve", run_id, env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert again.returncode == 2
    assert (
        again.stderr.strip() == f"error: run {run_id} is not awaiting approval (status: completed)"
    )


def test_time_waiting_for_a_human_is_not_counted_in_the_step(
    approval_project: Path, opa_path: Path
) -> None:
    """A step's duration adds up the time the nodes spent on it in their own processes: a
    pause for approval (and the new process that resumes) adds nothing (issue 13)."""
    code, doc = cli(approval_project, opa_path, "exec", "write it", "--team", "careful")
    assert code == 4, doc
    time.sleep(PAUSE_S)
    code, doc = cli(approval_project, opa_path, "approve", str(doc["run_id"]), "--by", "alice")
    assert code == 0, doc
    write = doc["steps"][1]  # type: ignore[index]
    assert write["tool"] == "fs.write"
    assert 0 < write["duration_ms"] < PAUSE_S * 1000


def test_denied_approval_stops_the_run_cleanly(approval_project: Path, opa_path: Path) -> None:
    code, doc = cli(approval_project, opa_path, "exec", "write it", "--team", "careful")
    assert code == 4
    run_id = str(doc["run_id"])

    code, doc = cli(
        approval_project, opa_path, "deny", run_id, "--reason", "not today", "--by", "bob"
    )
    assert code == 3
    assert doc["status"] == "blocked"
    assert doc["reason"] == "coder's call to fs.write was denied by bob: not today"
    assert not (Path(str(doc["output_dir"])) / "final.txt").exists()
    code, waiting = cli(approval_project, opa_path, "runs", "pending")
    assert waiting == []
