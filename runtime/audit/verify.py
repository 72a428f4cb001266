"""`AuditLog.verify`: the chain under the key, the signed head, and the commit records.

Checked in that order, first problem wins:
1. the key is there and both tables exist (a dropped table is tampering, not an empty log);
2. every event links to the one before and its HMAC matches (an edit, a deletion in the
   middle, or a chain recomputed without the key fails here);
3. the log reaches the signed head and the event there has the head's hash (truncation and
   wiping fail here; events past the head are fine: a writer died before moving it);
4. every `commits` row names a `commit` event with its key and hash, and every commit event
   with a key has its row (an edited, forged or deleted idempotency record fails here).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from runtime.audit import seal
from runtime.audit.seal import GENESIS, Head
from runtime.audit.store import VerifyReport, event_hash


def verify_log(
    db: sqlite3.Connection, path: Path, key: bytes | None, key_problem: str | None
) -> VerifyReport:
    def bad(events: int, problem: str, seq: int | None = None) -> VerifyReport:
        return VerifyReport(ok=False, events=events, first_bad_seq=seq, problem=problem)

    if key is None:
        return bad(0, key_problem or "the audit key is missing")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in ("events", "commits"):
        if table not in tables:
            return bad(0, f"the {table} table is missing: it was dropped")
    try:
        head = seal.read_head(path, key)
    except ValueError as exc:
        return bad(0, str(exc))
    if head is None:
        return bad(0, f"the signed head {seal.head_path(path)} is missing")

    rows = db.execute(
        "SELECT seq, run_id, ts, kind, agent, step, payload, prev_hash, hash "
        "FROM events ORDER BY seq"
    ).fetchall()
    prev, count = GENESIS, 0
    commit_events: dict[int, tuple[str, str]] = {}
    for seq, run_id, ts, kind, agent, step, payload, prev_hash, digest in rows:
        count += 1
        if seq != count:
            return bad(count, f"event {count} is missing", seq)
        if prev_hash != prev:
            return bad(count, f"event {seq} does not link to event {seq - 1}", seq)
        if event_hash(key, prev, seq, run_id, ts, kind, agent, step, payload) != digest:
            return bad(count, f"event {seq} was altered after it was written", seq)
        if kind == "commit":
            idempotency_key = json.loads(payload).get("idempotency_key")
            if idempotency_key:
                commit_events[seq] = (str(idempotency_key), digest)
        prev = digest

    reached = _reaches_head(rows, head)
    if reached is not None:
        return bad(count, reached, count + 1 if count < head.seq else head.seq)

    records = db.execute("SELECT idempotency_key, seq, event_hash FROM commits").fetchall()
    recorded = set()
    for idempotency_key, seq, digest in sorted(records, key=lambda r: r[1]):
        if commit_events.get(seq) != (idempotency_key, digest):
            return bad(count, f"commit record {idempotency_key!r} does not match event {seq}", seq)
        recorded.add(seq)
    for seq in sorted(set(commit_events) - recorded):
        return bad(count, f"the commit record of event {seq} is missing", seq)
    return VerifyReport(ok=True, events=count)


def _reaches_head(rows: list[tuple[object, ...]], head: Head) -> str | None:
    if not rows and head.seq > 0:
        return f"the log holds no events but its signed head is event {head.seq}: all were removed"
    if len(rows) < head.seq:
        return (
            f"the log ends at event {len(rows)} but its signed head is event {head.seq}: "
            f"events {len(rows) + 1}-{head.seq} were removed"
        )
    if head.seq > 0 and rows[head.seq - 1][8] != head.hash:
        return f"event {head.seq} does not match the signed head"
    return None
