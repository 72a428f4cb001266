"""The audit log is append-only and tamper-evident."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runtime.audit.store import AuditLog


def filled_log(path: Path) -> AuditLog:
    log = AuditLog(path)
    log.append("r1", "run.start", {"task": "t"})
    log.append("r1", "proposal", {"tool": "fs.write"}, agent="coder", step=1)
    log.append("r1", "decision", {"decision": "allow"}, agent="coder", step=1)
    log.append("r2", "run.start", {"task": "u"})
    return log


def test_untouched_log_verifies(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    report = log.verify()
    assert report.model_dump() == {"ok": True, "events": 4, "first_bad_seq": None, "problem": None}


def test_edited_payload_is_detected(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    log.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute('UPDATE events SET payload = \'{"decision":"deny"}\' WHERE seq = 3')
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        3,
        "event 3 was altered after it was written",
    )


def test_deleted_event_is_detected(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    log.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute("DELETE FROM events WHERE seq = 2")
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.problem) == (False, "event 2 is missing")


def test_rewritten_chain_tail_is_detected(tmp_path: Path) -> None:
    """Recomputing one row's own hash is not enough: the next row's link breaks."""
    import hashlib
    import json

    log = filled_log(tmp_path / "a.db")
    log.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        row = db.execute(
            "SELECT seq, run_id, ts, kind, agent, step, prev_hash FROM events WHERE seq = 2"
        ).fetchone()
        payload = '{"tool":"python.run"}'
        body = json.dumps(
            [row[6], row[0], row[1], row[2], row[3], row[4], row[5], payload],
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(body.encode()).hexdigest()
        db.execute("UPDATE events SET payload = ?, hash = ? WHERE seq = 2", (payload, digest))
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_events_of_one_run_in_order_and_commit_lookup(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    assert [e.kind for e in log.events("r1")] == ["run.start", "proposal", "decision"]
    assert log.run_ids() == ["r1", "r2"]
    assert not log.has_commit("k1")
    log.append("r1", "commit", {"idempotency_key": "k1"}, agent="coder", step=1)
    assert log.has_commit("k1")
