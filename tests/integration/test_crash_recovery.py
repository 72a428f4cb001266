"""kill -9 during a commit: the run shows as interrupted, `runtime runs resume` finishes it
from its last checkpoint, and no action commits twice (files, memory records, audit)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.memory.chroma import ChromaMemory
from tests.integration.test_approval import cli
from tests.integration.test_cli_errors import run_cli
from tests.integration.test_exec import add_team

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "default/coder"


@pytest.fixture
def crash_project(project: Path, opa_path: Path, sandbox_image: str) -> Path:
    add_team(
        project,
        "steady",
        {"coder": "writes files and remembers"},
        {
            "coder": [
                {"tool": "fs.write", "args": {"path": "a.txt", "content": "alpha"}},
                {"tool": "memory.put", "args": {"text": "the alpha file was written"}},
                {
                    "tool": "python.run",
                    "args": {
                        "code": "import os\nos.makedirs('out', exist_ok=True)\n"
                        "open('out/b.txt', 'w').write('bravo')\nopen('c.txt', 'w').write('charlie')"
                    },
                },
                {"answer": "done"},
            ]
        },
    )
    return project


def exec_and_kill(project: Path, opa_path: Path, point: str, step: int) -> str:
    env = {
        **os.environ,
        "RUNTIME_STATE_DIR": str(project / ".state"),
        "RUNTIME_OPA_BINARY": str(opa_path),
        "CRASH_AT": point,
        "CRASH_STEP": str(step),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.crash_driver",
            "exec",
            "work",
            "--team",
            "steady",
            "--json",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr)
    log = AuditLog(project / ".state" / "audit.db")
    try:
        runs = log.run_ids()
        assert len(runs) == 1
        return runs[0]
    finally:
        log.close()


def assert_committed_once(project: Path, run_id: str, output: Path) -> None:
    assert (output / "a.txt").read_text() == "alpha"
    assert (output / "out" / "b.txt").read_text() == "bravo"
    assert (output / "c.txt").read_text() == "charlie"
    log = AuditLog(project / ".state" / "audit.db")
    try:
        events = log.events(run_id)
        commits = [e for e in events if e.kind == "commit"]
        keys = [c.payload["idempotency_key"] for c in commits]
        assert len(keys) == len(set(keys)) == 3, [c.payload for c in commits]
        assert [c.step for c in commits] == [1, 2, 3]
        assert sorted(commits[2].payload["files"]) == ["c.txt", "out/b.txt"]
        assert [e.kind for e in events].count("run.recovered") == 1
        assert log.verify().ok
    finally:
        log.close()
    memory = ChromaMemory(project / ".state" / "memory")
    records = memory.search(NAMESPACE, "alpha file", k=10)
    assert [r.text for r in records] == ["the alpha file was written"]
    assert not (project / ".state" / "runs" / run_id / "staged").exists()


@pytest.mark.parametrize(
    ("point", "step"),
    [("after-files", 3), ("after-commit-event", 3), ("after-memory-put", 2)],
)
def test_kill_9_during_commit_then_resume_commits_each_action_once(
    crash_project: Path, opa_path: Path, point: str, step: int
) -> None:
    run_id = exec_and_kill(crash_project, opa_path, point, step)

    listed = run_cli(crash_project, "runs", "list")
    assert listed.returncode == 0
    assert re.search(rf"^{run_id}\s+steady\s+interrupted\s", listed.stdout, re.M), listed.stdout
    refused = run_cli(crash_project, "approve", run_id, env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: run {run_id} is not awaiting approval (status: interrupted); "
        f"resume it with `runtime runs resume {run_id}`"
    )

    code, doc = cli(crash_project, opa_path, "runs", "resume", run_id)
    assert code == 0, doc
    assert doc["status"] == "completed"
    assert doc["output"] == "done"
    assert_committed_once(crash_project, run_id, Path(str(doc["output_dir"])))

    again = run_cli(
        crash_project, "runs", "resume", run_id, env={"RUNTIME_OPA_BINARY": str(opa_path)}
    )
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"error: run {run_id} is completed; only an interrupted run (its process died) can be resumed"
    )


def test_resume_refuses_a_run_that_is_still_being_driven(
    crash_project: Path, opa_path: Path
) -> None:
    """The run lock is an flock: while a process holds it, nobody else drives the run."""
    from runtime.runs import RunLock

    run_id = exec_and_kill(crash_project, opa_path, "after-files", 3)
    with RunLock(crash_project / ".state", run_id):
        busy = run_cli(
            crash_project, "runs", "resume", run_id, env={"RUNTIME_OPA_BINARY": str(opa_path)}
        )
        listed = run_cli(crash_project, "runs", "list")
    assert busy.returncode == 2
    assert (
        busy.stderr.strip()
        == f"error: run {run_id} is running; only an interrupted run (its process died) can be resumed"
    )
    assert re.search(rf"^{run_id}\s+steady\s+running\s", listed.stdout, re.M), listed.stdout
    code, doc = cli(crash_project, opa_path, "runs", "resume", run_id)
    assert code == 0 and doc["status"] == "completed"
    assert json.loads(json.dumps(doc))["run_id"] == run_id
