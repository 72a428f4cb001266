"""The audit log is append-only and tamper-evident."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.errors import AuditTampered, ConfigError


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
    """Recomputing one row's own hash is not enough, even with the key: the next row's
    link breaks."""
    from runtime.audit.store import event_hash

    log = filled_log(tmp_path / "a.db")
    log.close()
    key = bytes.fromhex((tmp_path / "a.key").read_text())
    with sqlite3.connect(tmp_path / "a.db") as db:
        row = db.execute(
            "SELECT seq, run_id, ts, kind, agent, step, prev_hash FROM events WHERE seq = 2"
        ).fetchone()
        payload = '{"tool":"python.run"}'
        digest = event_hash(key, row[6], row[0], row[1], row[2], row[3], row[4], row[5], payload)
        db.execute("UPDATE events SET payload = ?, hash = ? WHERE seq = 2", (payload, digest))
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_key_and_head_are_private_and_created_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    filled_log(state / "audit.db").close()
    key = (state / "audit.key").read_text()
    AuditLog(state / "audit.db").close()
    assert (state / "audit.key").read_text() == key
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()}
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}
    assert {"audit.db", "audit.key", "audit.head"} <= set(modes)


def test_lost_key_is_reported_not_replaced(tmp_path: Path) -> None:
    filled_log(tmp_path / "a.db").close()
    (tmp_path / "a.key").unlink()
    log = AuditLog(tmp_path / "a.db")
    report = log.verify()
    assert (report.ok, report.problem) == (
        False,
        f"the audit key {tmp_path / 'a.key'} is missing, so the log cannot be verified: "
        f"restore the key (or set RUNTIME_AUDIT_KEY), or move {tmp_path / 'a.db'} aside "
        "to start a new log",
    )
    with pytest.raises(AuditTampered):
        log.append("r1", "run.end", {})
    assert not (tmp_path / "a.key").exists()


def test_forged_head_is_reported(tmp_path: Path) -> None:
    filled_log(tmp_path / "a.db").close()
    head = json.loads((tmp_path / "a.head").read_text())
    (tmp_path / "a.head").write_text(json.dumps({**head, "seq": 2}))
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.problem) == (
        False,
        f"the signed head {tmp_path / 'a.head'} does not match the audit key: it was altered, "
        "or the key is not this log's",
    )


def test_key_from_the_environment_leaves_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME_AUDIT_KEY", "k" * 40)
    filled_log(tmp_path / "a.db").close()
    assert not (tmp_path / "a.key").exists()
    assert AuditLog(tmp_path / "a.db").verify().ok
    monkeypatch.setenv("RUNTIME_AUDIT_KEY", "x" * 40)
    report = AuditLog(tmp_path / "a.db").verify()
    assert (report.ok, report.problem) == (
        False,
        f"the signed head {tmp_path / 'a.head'} does not match the audit key: it was altered, "
        "or the key is not this log's",
    )


def test_short_environment_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME_AUDIT_KEY", "short")
    with pytest.raises(ConfigError, match="RUNTIME_AUDIT_KEY is 5 characters; use at least 32"):
        AuditLog(tmp_path / "a.db")


def test_head_follows_the_last_event(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    last = log.append("r2", "run.end", {"status": "completed"})
    assert json.loads((tmp_path / "a.head").read_text())["seq"] == last.seq == 5
    assert log.verify().ok


def test_events_of_one_run_in_order_and_commit_lookup(tmp_path: Path) -> None:
    log = filled_log(tmp_path / "a.db")
    assert [e.kind for e in log.events("r1")] == ["run.start", "proposal", "decision"]
    assert log.run_ids() == ["r1", "r2"]
    assert not log.has_commit("k1")
    log.append("r1", "commit", {"idempotency_key": "k1"}, agent="coder", step=1)
    assert log.has_commit("k1")


def test_state_folder_is_tightened_but_a_shared_one_is_refused(tmp_path: Path) -> None:
    from runtime.state import ensure_state_dir

    mine = tmp_path / "state"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    ensure_state_dir(mine)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(ConfigError) as refused:
        AuditLog(shared / "audit.db")
    assert str(refused.value) == (
        f"state folder {shared} is shared (owner uid {os.geteuid()}, mode 1777): set "
        "state_dir to a folder of its own"
    )
    assert list(shared.iterdir()) == []
