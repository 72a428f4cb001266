"""The hash-chained audit log: one SQLite table, each row's hash an HMAC (under the audit
key, `seal.py`) of the row and the previous row's hash, so editing, deleting or reordering
any past event breaks the chain, and the signed head kept beside the database makes
truncating, wiping or dropping it visible too. The `commits` table (idempotency keys) is
bound to the chain: each row carries the hash of its `commit` event."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from runtime.audit import seal
from runtime.audit.seal import GENESIS, Head
from runtime.errors import AuditTampered
from runtime.models import Frozen
from runtime.state import ensure_state_dir, open_private_db

__all__ = ["GENESIS", "SYSTEM_STREAM_PREFIX", "AuditEvent", "AuditLog", "VerifyReport"]

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
    seq             INTEGER NOT NULL REFERENCES events(seq),
    event_hash      TEXT
);
"""

_COLUMNS = "seq, run_id, ts, kind, agent, step, payload, prev_hash, hash"


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


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    key: bytes,
    prev_hash: str,
    seq: int,
    run_id: str,
    ts: str,
    kind: str,
    agent: str | None,
    step: int | None,
    payload_json: str,
) -> str:
    """HMAC-SHA256 under the audit key of the row and the previous row's hash."""
    body = canonical([prev_hash, seq, run_id, ts, kind, agent, step, payload_json])
    return seal.event_mac(key, body)


def _event(row: tuple[Any, ...]) -> AuditEvent:
    return AuditEvent(
        seq=row[0],
        run_id=row[1],
        ts=row[2],
        kind=row[3],
        agent=row[4],
        step=row[5],
        payload=json.loads(row[6]),
        prev_hash=row[7],
        hash=row[8],
    )


class AuditLog:
    """Append-only event log shared by every run of a state directory."""

    def __init__(self, path: Path) -> None:
        ensure_state_dir(path.parent)
        self._path = path
        self._lock = threading.Lock()
        self._db = open_private_db(path, isolation_level=None)
        self._ensure_schema()
        self._key, self._key_problem = self._load_key()

    @property
    def path(self) -> Path:
        return self._path

    def _tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {r[0] for r in rows}

    def _ensure_schema(self) -> None:
        """Tables are created in a new database only: a dropped table is evidence, left
        for `verify` to report, never silently recreated."""
        tables = self._tables()
        if not tables:
            # One transaction: a process opening the log at the same moment sees both
            # tables or neither, never one (which would read as a dropped table).
            self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            return
        if "commits" in tables:
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(commits)")}
            if "event_hash" not in columns:
                self._db.execute("ALTER TABLE commits ADD COLUMN event_hash TEXT")

    def _has_events(self) -> bool:
        if "events" not in self._tables():
            return False
        return self._db.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None

    def _load_key(self) -> tuple[bytes | None, str | None]:
        """The key from the environment or the key file; a new one only when there is
        nothing it would have to vouch for (no events, no head past genesis)."""
        env_key = seal.key_from_env()
        with seal.head_lock(self._path):
            if env_key is not None:
                if not seal.head_path(self._path).exists() and not self._has_events():
                    seal.write_head(self._path, env_key, Head(seq=0, hash=GENESIS))
                return env_key, None
            key = seal.read_key_file(self._path)
            if key is not None:
                return key, None
            if self._has_events() or (seal.head_claim(self._path) or 0) > 0:
                return None, (
                    f"the audit key {seal.key_path(self._path)} is missing, so the log cannot "
                    f"be verified: restore the key (or set {seal.KEY_ENV}), or move "
                    f"{self._path} aside to start a new log"
                )
            return seal.create_key(self._path), None

    def _sealing_key(self) -> bytes:
        if self._key is None:
            raise AuditTampered(self._key_problem or "the audit key is missing")
        return self._key

    def _check_head(self, key: bytes, last_seq: int, last_hash: str) -> None:
        """Refuse to append to a log that no longer reaches its signed head."""
        hint = "run `runtime audit verify`"
        try:
            head = seal.read_head(self._path, key)
        except ValueError as exc:
            raise AuditTampered(f"{exc}: {hint}") from None
        if head is None:
            raise AuditTampered(f"the signed head {seal.head_path(self._path)} is missing: {hint}")
        if last_seq < head.seq:
            raise AuditTampered(
                f"audit log {self._path} was truncated: it ends at event {last_seq} but its "
                f"signed head is event {head.seq}; {hint}"
            )
        if head.seq == 0:
            return
        row = (
            (last_hash,)
            if last_seq == head.seq
            else self._db.execute("SELECT hash FROM events WHERE seq = ?", (head.seq,)).fetchone()
        )
        if row is None or row[0] != head.hash:
            raise AuditTampered(f"event {head.seq} does not match the signed head: {hint}")

    def _query(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(query, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                raise AuditTampered(
                    f"audit log {self._path} has lost a table ({exc}): run `runtime audit verify`"
                ) from None

    def append(
        self,
        run_id: str,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        agent: str | None = None,
        step: int | None = None,
    ) -> AuditEvent:
        key = self._sealing_key()
        payload_json = canonical(payload or {})
        ts = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._lock:
            if not {"events", "commits"} <= self._tables():
                raise AuditTampered(
                    f"audit log {self._path} has lost a table: run `runtime audit verify`"
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                self._check_head(key, seq - 1, prev)
                digest = event_hash(key, prev, seq, run_id, ts, kind, agent, step, payload_json)
                self._db.execute(
                    "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                    (seq, run_id, ts, kind, agent, step, payload_json, prev, digest),
                )
                idempotency_key = (payload or {}).get("idempotency_key")
                if kind == "commit" and idempotency_key:
                    # Same transaction as the event: a key is recorded iff its commit is,
                    # and the row names the event's hash so `verify` can hold it to it.
                    self._db.execute(
                        "INSERT INTO commits (idempotency_key, seq, event_hash) VALUES (?,?,?)",
                        (idempotency_key, seq, digest),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            # After the commit: a crash here leaves the head behind, never ahead.
            seal.advance_head(self._path, key, Head(seq=seq, hash=digest))
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
        query = f"SELECT {_COLUMNS} FROM events"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        return [_event(r) for r in self._query(query + " ORDER BY seq", args)]

    def has_commit(self, idempotency_key: str) -> bool:
        """True when an action with this key already committed (resume safety).

        The record must name a `commit` event for this key whose hash it carries and whose
        MAC holds: a record forged to make a resumed run skip an action is refused
        (AuditTampered), never taken as "already done"."""
        rows = self._query(
            f"SELECT c.event_hash, {', '.join('e.' + c for c in _COLUMNS.split(', '))} "
            "FROM commits c LEFT JOIN events e ON e.seq = c.seq WHERE c.idempotency_key = ?",
            (idempotency_key,),
        )
        if not rows:
            return False
        recorded, *event = rows[0]
        seq, run_id, ts, kind, agent, step, payload, prev_hash, digest = event
        key = self._sealing_key()
        if (
            kind != "commit"
            or recorded != digest
            or json.loads(payload).get("idempotency_key") != idempotency_key
            or event_hash(key, prev_hash, seq, run_id, ts, kind, agent, step, payload) != digest
        ):
            raise AuditTampered(
                f"the commit record {idempotency_key!r} does not match its audit event: "
                "run `runtime audit verify`"
            )
        return True

    def run_ids(self) -> list[str]:
        """Every run, oldest first; system streams (`@...`) are not runs and are left out."""
        rows = self._query(
            "SELECT run_id, MIN(seq) FROM events WHERE substr(run_id, 1, 1) != ? "
            "GROUP BY run_id ORDER BY MIN(seq)",
            (SYSTEM_STREAM_PREFIX,),
        )
        return [r[0] for r in rows]

    def verify(self) -> VerifyReport:
        """Recompute the chain under the key, hold it to the signed head, and check every
        commit record against its event; report the first problem found."""
        from runtime.audit.verify import verify_log

        with self._lock:
            return verify_log(self._db, self._path, self._key, self._key_problem)

    def close(self) -> None:
        with self._lock:
            self._db.close()
