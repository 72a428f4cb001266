"""The run record (issue 12): each step keeps what a person needs to judge it, redacted
before it is stored, and a secret passed as an argument appears nowhere: not in the state
folder, not in the dashboard's pages, not in the JSONL, OPA or OTel exports. A run that
completed with a refused or redacted step ends `completed_with_blocks` (exit code 6).
Real Docker engine, real OPA server, real Chroma, the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.serve.app import create_app
from runtime.settings import load_settings
from tests.integration.test_cli_errors import run_cli
from tests.integration.test_exec import add_team

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

SECRET = "ghp_" + "Zq8Xw2Lm4Np6Rt1Vb3Kc5Hd7Jf9Gs0Ty2Ue4"
TOKEN = "record-test-token-0123456789abcdef"
CODE = (
    f'key = "{SECRET}"\nprint("key length", len(key))\nimport sys\nprint("warn", file=sys.stderr)\n'
)


@pytest.fixture
def recorded(project: Path, opa_path: Path, sandbox_image: str) -> Iterator[dict[str, Any]]:
    """One run that passes the secret as arguments: code that holds it (runs, prints only
    its length), a file that holds it (redacted before commit), a memory write that holds
    it, and a call the policy denies (fs.read of an absolute path)."""
    turns = [
        {"tool": "python.run", "args": {"code": CODE}},
        {"tool": "fs.write", "args": {"path": "notes.txt", "content": f"token = {SECRET}\n"}},
        {"tool": "memory.put", "args": {"text": f"the token is {SECRET}", "source": "task"}},
        {"tool": "fs.read", "args": {"path": f"/etc/{SECRET}"}},
        {"answer": "done"},
    ]
    add_team(project, "keeper", {"coder": "keeps secrets"}, {"coder": turns})
    env = {"RUNTIME_OPA_BINARY": str(opa_path)}
    done = run_cli(project, "exec", "Store the token", "--team", "keeper", "--json", env=env)
    yield {"project": project, "done": done, "env": env, "state": project / ".state"}


def _step(record: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    return next(step for step in record if step["tool"] == tool)


def test_exec_json_reads_the_record_and_the_status_says_blocks(
    recorded: dict[str, Any],
) -> None:
    done = recorded["done"]
    assert done.returncode == 6, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed_with_blocks"
    assert result["blocked_steps"] == [4]  # the denied read
    assert result["redacted_steps"] == [2, 3]  # the file and the memory write
    record = result["record"]

    run = _step(record, "python.run")
    assert run["exit_code"] == 0
    assert run["stdout_tail"]["text"] == "key length 40\n"
    assert run["stderr_tail"]["text"] == "warn\n"
    code = run["args_shown"]["code"]
    assert code["len"] == len(CODE) and "REDACTED" in code["text"]
    assert len(run["args_sha256"]) == 64
    assert run["args"]["code"]["len"] == len(CODE)  # the digest stays beside it

    write = _step(record, "fs.write")
    assert write["verdict"] == "redact" and write["committed"]
    assert [(c["path"], c["change"]) for c in write["changes"]] == [("notes.txt", "added")]
    assert all(len(c["sha256"]) == 64 and c["size"] > 0 for c in write["changes"])
    assert {f["type"] for f in write["findings"]} and all(
        len(f["value_hash"]) > 0 and f["location"] for f in write["findings"]
    )
    assert write["provenance"]["args"], write["provenance"]

    read = _step(record, "fs.read")
    assert read["decision"] == "deny" and read["reasons"]
    assert read["policy_version"]


def test_runs_show_and_list_read_the_record(recorded: dict[str, Any]) -> None:
    project, env = recorded["project"], recorded["env"]
    run_id = json.loads(recorded["done"].stdout)["run_id"]
    shown = run_cli(project, "runs", "show", run_id, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["run"]["status"] == "completed_with_blocks"
    assert document["run"]["blocked_steps"] == [4]
    assert [s["tool"] for s in document["steps"]] == [
        "python.run",
        "fs.write",
        "memory.put",
        "fs.read",
    ]
    assert document["events"][0]["kind"] == "run.start"
    text = run_cli(project, "runs", "show", run_id, env=env)
    assert "step 1: coder python.run -> allow" in text.stdout
    assert "exit 0" in text.stdout and "stdout: key length 40" in text.stdout
    listed = run_cli(project, "runs", "list", "--status", "completed_with_blocks", "--json")
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["blocked_steps"], row["redacted_steps"]) == (run_id, [4], [2, 3])


def test_the_secret_appears_nowhere(recorded: dict[str, Any], tmp_path: Path) -> None:
    project, env, state = recorded["project"], recorded["env"], recorded["state"]
    done = recorded["done"]
    assert done.returncode == 6, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    assert SECRET not in done.stdout + done.stderr
    needle = SECRET.encode()

    # Every file under the state folder: audit, checkpoints, staging, held, memory, output.
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "audit.db" for p in files)
    assert any(p.name == "notes.txt" for p in files)  # the committed file, redacted
    for path in files:
        assert needle not in path.read_bytes(), path

    # The exports.
    for fmt in ("jsonl", "opa", "otel"):
        target = tmp_path / f"export.{fmt}"
        exported = run_cli(
            project, "audit", "export", "--run", run_id, "--format", fmt, "-o", str(target)
        )
        assert exported.returncode == 0, exported.stderr
        assert target.stat().st_size > 0
        assert needle not in target.read_bytes(), fmt

    # The dashboard's pages, the run's page and its JSON.
    settings = load_settings(
        project_dir=project, state_dir=state, opa_binary=env["RUNTIME_OPA_BINARY"]
    )
    with TestClient(create_app(settings, TOKEN), base_url="http://127.0.0.1:8765") as client:
        assert client.get(f"/login?token={TOKEN}", follow_redirects=False).status_code == 303
        pages = ["/", f"/runs/{run_id}", f"/api/runs/{run_id}", "/approvals", "/charts"]
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, page
            assert SECRET not in response.text, page
        html = client.get(f"/runs/{run_id}").text
    assert "completed_with_blocks" in html
    assert "key length 40" in html  # the stdout tail is shown
    assert "REDACTED" in html  # the arguments, as redacted
