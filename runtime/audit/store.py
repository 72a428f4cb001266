"""The hash-chained audit log: one SQLite table, each row's hash covers the row and the
previous row's hash, so editing, deleting or reordering any past event breaks the chain."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from runtime.models import Frozen

GENESIS = "0" * 64

# Streams whose id starts with this are not runs (e.g. `@policy`, the policy-change log):
# run ids are hex, so they can never collide, and `run_ids()` leaves them out.
SYSTEM_STREAM_PREFIX = "@"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL,
    ts        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    agent     TEXT,
    step      INTEGER,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, seq);
CREATE TABLE IF NOT EXISTS commits (
    idempotency_key TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL REFERENCES events(seq)
);
"""


class AuditEvent(Frozen):
    seq: int
    run_id: str
    ts: str
    kind: str
    agent: str | None = None
    step: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class VerifyReport(Frozen):
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


def is_system_stream(stream_id: str) -> bool:
    """True for a reserved stream id such as `@policy`: its events belong to no run."""
    return stream_id.startswith(SYSTEM_STREAM_PREFIX)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _event_hash(
    prev_hash: str,
    seq: int,
    run_id: str,
    ts: str,
    kind: str,
    agent: str | None,
    step: int | None,
    payload_json: str,
) -> str:
    body = _canonical([prev_hash, seq, run_id, ts, kind, agent, step, payload_json])
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """Append-only event log shared by every run of a state directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @property
    def path(self) -> Path:
        return self._path

    def append(
        self,
        run_id: str,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        agent: str | None = None,
        step: int | None = None,
    ) -> AuditEvent:
        payload_json = _canonical(payload or {})
        ts = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                digest = _event_hash(prev, seq, run_id, ts, kind, agent, step, payload_json)
                self._db.execute(
                    "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                    (seq, run_id, ts, kind, agent, step, payload_json, prev, digest),
                )
                key = (payload or {}).get("idempotency_key") if kind == "commit" else None
                if key:
                    # Same transaction as the event: a key is recorded iff its commit is.
                    self._db.execute("INSERT INTO commits VALUES (?, ?)", (key, seq))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AuditEvent(
            seq=seq,
            run_id=run_id,
            ts=ts,
            kind=kind,
            agent=agent,
            step=step,
            payload=json.loads(payload_json),
            prev_hash=prev,
            hash=digest,
        )

    def events(self, run_id: str | None = None) -> list[AuditEvent]:
        query = "SELECT seq, run_id, ts, kind, agent, step, payload, prev_hash, hash FROM events"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [
            AuditEvent(
                seq=r[0],
                run_id=r[1],
                ts=r[2],
                kind=r[3],
                agent=r[4],
                step=r[5],
                payload=json.loads(r[6]),
                prev_hash=r[7],
                hash=r[8],
            )
            for r in rows
        ]

    def has_commit(self, idempotency_key: str) -> bool:
        """True when an action with this key already committed (resume safety)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM commits WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
        return row is not None

    def run_ids(self) -> list[str]:
        """Every run, oldest first; system streams (`@...`) are not runs and are left out."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, MIN(seq) FROM events WHERE substr(run_id, 1, 1) != ? "
                "GROUP BY run_id ORDER BY MIN(seq)",
                (SYSTEM_STREAM_PREFIX,),
            ).fetchall()
        return [r[0] for r in rows]

    def verify(self) -> VerifyReport:
        """Recompute the chain; report the first event whose hash or link is wrong."""
        prev = GENESIS
        count = 0
        expected_seq = 1
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, run_id, ts, kind, agent, step, payload, prev_hash, hash "
                "FROM events ORDER BY seq"
            ).fetchall()
        for seq, run_id, ts, kind, agent, step, payload, prev_hash, digest in rows:
            count += 1
            if seq != expected_seq:
                return VerifyReport(
                    ok=False,
                    events=count,
                    first_bad_seq=seq,
                    problem=f"event {expected_seq} is missing",
                )
            if prev_hash != prev:
                return VerifyReport(
                    ok=False,
                    events=count,
                    first_bad_seq=seq,
                    problem=f"event {seq} does not link to event {seq - 1}",
                )
            if _event_hash(prev, seq, run_id, ts, kind, agent, step, payload) != digest:
                return VerifyReport(
                    ok=False,
                    events=count,
                    first_bad_seq=seq,
                    problem=f"event {seq} was altered after it was written",
                )
            prev = digest
            expected_seq += 1
        return VerifyReport(ok=True, events=count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
