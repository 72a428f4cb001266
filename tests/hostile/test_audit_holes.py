"""Attacks on the audit log by someone who can write the state folder but does not hold the
audit key: truncation, wiping, dropping the table, rewriting the chain, editing commits.

Each attack must be reported by `verify`; an untouched log must still verify.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.errors import AuditTampered

EVENTS = 60


def written_log(path: Path) -> None:
    """A log as a run leaves it: lifecycle events, steps, and commits with idempotency keys."""
    log = AuditLog(path)
    try:
        log.append("r1", "run.start", {"task": "t", "team": "analyst"})
        for step in range(1, EVENTS - 1):
            if step % 10 == 0:
                log.append(
                    "r1", "commit", {"idempotency_key": f"key-{step}"}, agent="coder", step=step
                )
            else:
                log.append("r1", "proposal", {"tool": "fs.write"}, agent="coder", step=step)
        log.append("r1", "run.end", {"status": "completed"})
    finally:
        log.close()


def verified(path: Path) -> tuple[bool, str | None]:
    log = AuditLog(path)
    try:
        report = log.verify()
    finally:
        log.close()
    return report.ok, report.problem


def sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)


def rewrite_chain_from(path: Path, seq: int, payload: str) -> None:
    """Edit one event, then recompute every hash from there on with the algorithm a reader
    of the source knows (sha256 over the canonical row): what an attacker without the key
    can do."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (payload, seq))
        prev = db.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()[0]
        rows = db.execute(
            "SELECT seq, run_id, ts, kind, agent, step, payload FROM events WHERE seq >= ? "
            "ORDER BY seq",
            (seq,),
        ).fetchall()
        for number, run_id, ts, kind, agent, step, body in rows:
            canonical = json.dumps(
                [prev, number, run_id, ts, kind, agent, step, body],
                sort_keys=True,
                separators=(",", ":"),
            )
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            db.execute(
                "UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, number)
            )
            prev = digest


ATTACKS: dict[str, Callable[[Path], None]] = {
    "delete the last 25 rows": lambda db: sql(db, f"DELETE FROM events WHERE seq > {EVENTS - 25}"),
    "delete every row": lambda db: sql(db, "DELETE FROM events", "DELETE FROM commits"),
    "drop the events table": lambda db: sql(db, "DROP TABLE commits", "DROP TABLE events"),
    "edit a row and recompute the chain": lambda db: rewrite_chain_from(
        db, 5, '{"tool":"python.run"}'
    ),
    "edit a commits row": lambda db: sql(
        db, "UPDATE commits SET idempotency_key = 'forged' WHERE idempotency_key = 'key-20'"
    ),
    "delete a commits row": lambda db: sql(
        db, "DELETE FROM commits WHERE idempotency_key = 'key-30'"
    ),
    "delete the signed head": lambda db: db.with_suffix(".head").unlink(),
    "delete the key": lambda db: db.with_suffix(".key").unlink(),
    "point a commits row at another event": lambda db: sql(
        db, "UPDATE commits SET seq = seq + 1 WHERE idempotency_key = 'key-40'"
    ),
}


def test_untouched_log_verifies(tmp_path: Path) -> None:
    written_log(tmp_path / "audit.db")
    assert verified(tmp_path / "audit.db") == (True, None)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_tampering_is_reported(tmp_path: Path, attack: str) -> None:
    db = tmp_path / "audit.db"
    written_log(db)
    ATTACKS[attack](db)
    ok, problem = verified(db)
    assert not ok, f"{attack}: verify said intact"
    assert problem


def test_truncated_log_refuses_new_events(tmp_path: Path) -> None:
    """Appending after a truncation would paper over it: the log fails closed instead."""
    db = tmp_path / "audit.db"
    written_log(db)
    ATTACKS["delete the last 25 rows"](db)
    log = AuditLog(db)
    try:
        with pytest.raises(AuditTampered) as refused:
            log.append("r2", "run.start", {"task": "t"})
    finally:
        log.close()
    assert str(refused.value) == (
        f"audit log {db} was truncated: it ends at event {EVENTS - 25} but its signed head is "
        f"event {EVENTS}; run `runtime audit verify`"
    )
    assert len(AuditLog(db).events()) == EVENTS - 25


def test_wiped_log_reported_by_the_cli(tmp_path: Path) -> None:
    """`runtime audit verify` (the command an operator runs) exits 1 after a wipe."""
    state = tmp_path / ".runtime"
    written_log(state / "audit.db")
    ATTACKS["delete every row"](state / "audit.db")
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "audit", "verify", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("audit log tampered: "), done.stderr


def test_forged_commit_record_is_not_taken_as_done(tmp_path: Path) -> None:
    """A record inserted so that a resumed run skips an action fails closed."""
    db = tmp_path / "audit.db"
    written_log(db)
    sql(db, "INSERT INTO commits VALUES ('skip-me', 3, 'f' || substr(hex(zeroblob(32)), 2))")
    log = AuditLog(db)
    try:
        assert log.has_commit("key-10")
        assert not log.has_commit("never-committed")
        with pytest.raises(AuditTampered) as refused:
            log.has_commit("skip-me")
    finally:
        log.close()
    assert str(refused.value) == (
        "the commit record 'skip-me' does not match its audit event: run `runtime audit verify`"
    )
