"""A human's denial either ends the run (the default) or, with `runtime deny --continue`, goes
back to the agent as the tool's answer so it can choose another way; both are audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.core import Runtime
from runtime.settings import load_settings
from tests.integration.test_approval import cli
from tests.integration.test_exec import add_team

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]


@pytest.fixture
def careful_project(project: Path, opa_path: Path, sandbox_image: str) -> Path:
    data_path = project / "rego" / "data.json"
    data = json.loads(data_path.read_text())
    data["runtime_data"]["authz"]["approval"]["tools"] = ["fs.write"]
    data_path.write_text(json.dumps(data))
    add_team(
        project,
        "careful",
        {"coder": "writes after approval, or keeps the draft"},
        {
            "coder": [
                {"tool": "python.run", "args": {"code": "open('draft.txt', 'w').write('draft')"}},
                {"tool": "fs.write", "args": {"path": "final.txt", "content": "final text"}},
                {"tool": "fs.read", "args": {"path": "draft.txt"}},
                {"answer": "kept the draft"},
            ]
        },
    )
    return project


def paused_run(project: Path, opa_path: Path) -> str:
    code, doc = cli(project, opa_path, "exec", "write it", "--team", "careful")
    assert code == 4 and doc["status"] == "awaiting_approval", doc
    return str(doc["run_id"])


def resumed_payloads(project: Path, run_id: str) -> list[dict[str, object]]:
    log = AuditLog(project / ".state" / "audit.db")
    try:
        assert log.verify().ok
        return [e.payload for e in log.events(run_id) if e.kind == "run.resumed"]
    finally:
        log.close()


def test_deny_continue_sends_the_reason_to_the_agent_and_the_run_goes_on(
    careful_project: Path, opa_path: Path
) -> None:
    run_id = paused_run(careful_project, opa_path)
    code, doc = cli(
        careful_project,
        opa_path,
        "deny",
        run_id,
        "--reason",
        "keep the draft instead",
        "--by",
        "bob",
        "--continue",
    )
    assert code == 6, doc  # completed_with_blocks: a human denied step 1
    assert doc["status"] == "completed_with_blocks"
    assert doc["output"] == "kept the draft"
    assert [(s["tool"], s["decision"]) for s in doc["steps"]] == [  # type: ignore[index, union-attr]
        ("python.run", "allow"),
        ("fs.write", "deny"),
        ("fs.read", "allow"),
    ]
    denied = doc["steps"][1]  # type: ignore[index]
    assert denied["reasons"][-1] == "denied by bob: keep the draft instead"  # type: ignore[index]
    output = Path(str(doc["output_dir"]))
    assert sorted(p.name for p in output.iterdir()) == ["draft.txt"]
    assert resumed_payloads(careful_project, run_id) == [
        {
            "approved": False,
            "by": "bob",
            "reason": "keep the draft instead",
            "step": 2,
            "continue": True,
        }
    ]
    # The agent read the reason as the tool's answer to its call.
    settings = load_settings(project_dir=careful_project, state_dir=careful_project / ".state")
    with Runtime(settings) as rt:
        saved = rt.checkpointer().get_tuple({"configurable": {"thread_id": run_id}})
    messages = saved.checkpoint["channel_values"]["messages"]
    answers = [m["content"] for m in messages if m.get("tool") == "fs.write"]
    assert answers == [
        "denied by bob, nothing was run or committed: keep the draft instead; choose another way"
    ]


def test_plain_deny_still_ends_the_run_and_says_so_in_the_audit(
    careful_project: Path, opa_path: Path
) -> None:
    run_id = paused_run(careful_project, opa_path)
    code, doc = cli(careful_project, opa_path, "deny", run_id, "--reason", "no", "--by", "bob")
    assert code == 3 and doc["status"] == "blocked"
    assert doc["reason"] == "coder's call to fs.write was denied by bob: no"
    assert resumed_payloads(careful_project, run_id) == [
        {"approved": False, "by": "bob", "reason": "no", "step": 2, "continue": False}
    ]
