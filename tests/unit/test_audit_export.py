"""Audit exports: a JSONL export verifies under the key away from the database, any edit or
truncation of it does not; decisions come out as OPA decision-log events; OTLP traces keep
the run -> stage structure and carry no argument values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from runtime.audit import seal
from runtime.audit.export import decision_logs, export_jsonl, otlp_traces, verify_export
from runtime.audit.store import AuditLog

SECRET = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    audit = AuditLog(tmp_path / "state" / "audit.db")
    for run_id, tool, decision in (
        ("aaa111", "fs.write", "allow"),
        ("bbb222", "python.run", "deny"),
    ):
        audit.append(run_id, "run.start", {"team": "t", "task": f"do it with {SECRET}"})
        audit.append(
            run_id,
            "proposal",
            {"tool": tool, "args": {"content": {"len": 40, "sha256": "ab" * 32}}},
            agent="coder",
            step=1,
        )
        audit.append(
            run_id,
            "decision",
            {
                "tool": tool,
                "decision": decision,
                "decision_id": f"id-{run_id}",
                "reasons": [f"tool {tool} is {decision}ed"],
                "policy_version": "sha256:" + "cd" * 32,
                "engine": "opa-server",
                "obligations": {},
                "provenance": {"args": {"content": "trusted"}},
            },
            agent="coder",
            step=1,
        )
        if decision == "allow":
            audit.append(
                run_id, "execution", {"tool": tool, "sandbox_id": "box1"}, agent="coder", step=1
            )
            audit.append(
                run_id,
                "verdict",
                {"tool": tool, "verdict": "pass", "findings": []},
                agent="coder",
                step=1,
            )
            audit.append(
                run_id,
                "commit",
                {"tool": tool, "idempotency_key": "k" + run_id, "files": ["a.txt"]},
                agent="coder",
                step=1,
            )
        audit.append(
            run_id, "run.end", {"status": "completed" if decision == "allow" else "blocked"}
        )
    return audit


def key(audit: AuditLog) -> bytes:
    found = seal.read_key_file(audit.path)
    assert found is not None
    return found


def test_whole_log_export_verifies_under_the_key(log: AuditLog) -> None:
    lines = list(export_jsonl(log))
    report = verify_export(lines, key(log))
    assert report.ok and report.events == len(log.events())


def test_a_run_export_verifies_on_its_own(log: AuditLog) -> None:
    lines = list(export_jsonl(log, run_id="bbb222"))
    assert [json.loads(line)["run_id"] for line in lines[1:]] == ["bbb222"] * 4
    assert verify_export(lines, key(log)).ok


def test_an_edited_export_fails(log: AuditLog) -> None:
    lines = list(export_jsonl(log, run_id="aaa111"))
    row = json.loads(lines[3])
    row["payload"] = row["payload"].replace("allow", "deny")
    lines[3] = json.dumps(row)
    report = verify_export(lines, key(log))
    assert not report.ok
    assert report.problem == f"event {row['seq']} was altered after it was written"


def test_a_truncated_whole_export_fails(log: AuditLog) -> None:
    lines = list(export_jsonl(log))[:-2]
    report = verify_export(lines, key(log))
    assert not report.ok
    total = len(log.events())
    assert report.problem == f"the export ends at event {total - 2}; its head is event {total}"


def test_another_key_verifies_nothing(log: AuditLog) -> None:
    report = verify_export(list(export_jsonl(log)), b"x" * 32)
    assert not report.ok and report.problem == "event 1 was altered after it was written"


def test_since_filters_by_time(log: AuditLog) -> None:
    later = datetime.fromisoformat(log.events("bbb222")[0].ts)
    lines = list(export_jsonl(log, since=later))
    assert {json.loads(line)["run_id"] for line in lines[1:]} == {"bbb222"}
    assert verify_export(lines, key(log)).ok


def test_decisions_come_out_as_opa_decision_log_events(log: AuditLog) -> None:
    events = list(decision_logs(log))
    assert [(e["decision_id"], e["result"]["allow"]) for e in events] == [
        ("id-aaa111", True),
        ("id-bbb222", False),
    ]
    for event in events:
        # The fields OPA's decision log events carry, with their types.
        assert isinstance(event["decision_id"], str) and event["path"] == "runtime/authz/decision"
        assert isinstance(event["input"], dict) and isinstance(event["result"], dict)
        datetime.fromisoformat(event["timestamp"])
        assert event["bundles"]["runtime"]["revision"].startswith("sha256:")
        assert event["masked"] == ["/input/action/args"]
        assert set(event["input"]["action"]["args"]["content"]) == {"len", "sha256"}


def test_otlp_traces_nest_stages_under_their_run(log: AuditLog) -> None:
    doc = otlp_traces(log)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    runs = {s["spanId"]: s for s in spans if s["name"] == "run"}
    assert len(runs) == 2
    stages = [s for s in spans if s["name"] != "run"]
    assert sorted({s["name"] for s in stages}) == ["authorize", "check", "commit", "execute"]
    for span in stages:
        parent = runs[span["parentSpanId"]]
        assert parent["traceId"] == span["traceId"]
        assert int(parent["startTimeUnixNano"]) <= int(span["startTimeUnixNano"])
        assert int(span["startTimeUnixNano"]) <= int(span["endTimeUnixNano"])
    assert SECRET not in json.dumps(doc)


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=state.parent,
        env={**os.environ, "RUNTIME_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_export_then_verify_the_file(log: AuditLog, tmp_path: Path) -> None:
    state = log.path.parent
    target = tmp_path / "export.jsonl"
    done = cli(state, "audit", "export", "--run", "aaa111", "-o", str(target))
    assert done.returncode == 0, done.stderr
    done = cli(state, "audit", "verify", "--file", str(target))
    assert (done.returncode, done.stdout.strip()) == (0, "export intact: 7 events")
    target.write_text(target.read_text().replace("fs.write", "fs.read"))
    done = cli(state, "audit", "verify", "--file", str(target))
    assert done.returncode == 1
    assert done.stderr.strip() == "export tampered: event 2 was altered after it was written"


def test_cli_export_of_an_unknown_run_says_so(log: AuditLog) -> None:
    done = cli(log.path.parent, "audit", "export", "--run", "nope")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no run 'nope' in the audit log; see `runtime runs list`"


def test_cli_decision_logs_are_one_json_object_per_line(log: AuditLog) -> None:
    done = cli(log.path.parent, "audit", "export", "--format", "opa")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["decision_id"] for line in done.stdout.splitlines()] == [
        "id-aaa111",
        "id-bbb222",
    ]
