"""Exports of the audit log: JSON Lines that can be verified away from the database, OPA
decision logs for existing OPA tooling, and OTLP/JSON traces rebuilt from the events.

A JSONL export is a header line (format, version, the filter, and for a whole-log export
the signed head) and one line per event holding the row exactly as stored (the payload as
its canonical JSON text), so each event's HMAC can be recomputed by whoever holds the audit
key. `verify_export` does that: every event's MAC, every link between consecutive events,
and for a whole-log export the signed head, which makes a truncated export visible too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from runtime.audit import seal
from runtime.audit.seal import GENESIS, Head
from runtime.audit.store import AuditEvent, AuditLog, VerifyReport, canonical, event_hash

FORMAT = "agent-runtime-audit"
VERSION = 1
DECISION_PATH = "runtime/authz/decision"


def selected(log: AuditLog, run_id: str | None, since: datetime | None) -> list[AuditEvent]:
    events = log.events(run_id)
    if since is not None:
        events = [e for e in events if datetime.fromisoformat(e.ts) >= since]
    return events


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "run_id": event.run_id,
        "ts": event.ts,
        "kind": event.kind,
        "agent": event.agent,
        "step": event.step,
        "payload": canonical(event.payload),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def export_jsonl(
    log: AuditLog, *, run_id: str | None = None, since: datetime | None = None
) -> Iterator[str]:
    whole = run_id is None and since is None
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "run_id": run_id,
        "since": since.isoformat() if since else None,
        "whole_log": whole,
    }
    if whole:
        header["head"] = json.loads(seal.head_path(log.path).read_text())
    yield json.dumps(header, sort_keys=True)
    for event in selected(log, run_id, since):
        yield json.dumps(_row(event), sort_keys=True)


def verify_export(lines: Iterable[str], key: bytes) -> VerifyReport:
    """Check an export against the audit key, as `AuditLog.verify` checks the database."""

    def bad(count: int, problem: str, seq: int | None = None) -> VerifyReport:
        return VerifyReport(ok=False, events=count, first_bad_seq=seq, problem=problem)

    iterator = iter(lines)
    try:
        header = json.loads(next(iterator))
    except (StopIteration, ValueError):
        return bad(0, "the export has no header line")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        return bad(0, f"not an {FORMAT} export of version {VERSION}")
    count, previous = 0, None
    for line in iterator:
        count += 1
        try:
            row = json.loads(line)
            seq = int(row["seq"])
            fields = (row["run_id"], row["ts"], row["kind"], row["agent"], row["step"])
            payload = str(row["payload"])
        except (ValueError, KeyError, TypeError):
            return bad(count, f"line {count + 1} is not an exported event")
        if previous is not None and seq <= previous[0]:
            return bad(count, f"event {seq} is out of order", seq)
        if previous is not None and seq == previous[0] + 1 and row["prev_hash"] != previous[1]:
            return bad(count, f"event {seq} does not link to event {seq - 1}", seq)
        if header.get("whole_log") and seq != count:
            return bad(count, f"event {count} is missing", seq)
        if event_hash(key, row["prev_hash"], seq, *fields, payload) != row["hash"]:
            return bad(count, f"event {seq} was altered after it was written", seq)
        if header.get("whole_log") and seq == 1 and row["prev_hash"] != GENESIS:
            return bad(count, "event 1 does not start the chain", seq)
        previous = (seq, row["hash"])
    if header.get("whole_log"):
        document = header.get("head") or {}
        try:
            head = Head(seq=int(document["seq"]), hash=str(document["hash"]))
            expected = seal.event_mac(key, f"audit-head:{head.seq}:{head.hash}")
        except (KeyError, TypeError, ValueError):
            return bad(count, "the export's signed head is malformed")
        if document.get("mac") != expected:
            return bad(count, "the export's signed head does not match the audit key")
        last = previous or (0, GENESIS)
        if last[0] < head.seq:
            return bad(count, f"the export ends at event {last[0]}; its head is event {head.seq}")
    return VerifyReport(ok=True, events=count)


def decision_logs(
    log: AuditLog, *, run_id: str | None = None, since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Each policy decision in the shape of OPA's decision log events. The input is what
    the audit keeps of it: arguments as length and hash, so they are listed as masked."""
    proposals: dict[tuple[str, int | None], AuditEvent] = {}
    for event in selected(log, run_id, since):
        if event.kind == "proposal":
            proposals[(event.run_id, event.step)] = event
            continue
        if event.kind != "decision":
            continue
        payload = event.payload
        proposal = proposals.get((event.run_id, event.step))
        decision = payload.get("decision")
        yield {
            "decision_id": payload.get("decision_id") or f"{event.run_id}-{event.seq}",
            "path": DECISION_PATH,
            "input": {
                "subject": {"agent": event.agent},
                "action": {
                    "tool": payload.get("tool"),
                    "args": proposal.payload.get("args", {}) if proposal else {},
                },
                "provenance": payload.get("provenance", {}),
                "context": {"run_id": event.run_id, "step": event.step},
            },
            "result": {
                "allow": decision == "allow",
                "require_approval": decision == "require_approval",
                "reasons": payload.get("reasons", []),
                "obligations": payload.get("obligations", {}),
                "alternatives": payload.get("alternatives", []),
            },
            "masked": ["/input/action/args"],
            "timestamp": event.ts,
            "labels": {"app": "agent-runtime", "engine": str(payload.get("engine", ""))},
            "bundles": {"runtime": {"revision": str(payload.get("policy_version", ""))}},
            "requested_by": "agent-runtime",
        }


def _id(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[: size * 2]


def _nanos(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1_000_000_000)


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append({"key": key, "value": {"boolValue": value}})
        elif isinstance(value, int):
            out.append({"key": key, "value": {"intValue": str(value)}})
        else:
            out.append({"key": key, "value": {"stringValue": str(value)}})
    return out


STAGES = {"decision": "authorize", "execution": "execute", "verdict": "check", "commit": "commit"}


def otlp_traces(
    log: AuditLog, *, run_id: str | None = None, since: datetime | None = None
) -> dict[str, Any]:
    """OTLP/JSON `resourceSpans` rebuilt from the events: a span per run, and per step a
    span per stage from the previous stage's event to its own. Ids and outcomes only."""
    by_run: dict[str, list[AuditEvent]] = {}
    for event in selected(log, run_id, since):
        if not event.run_id.startswith("@"):
            by_run.setdefault(event.run_id, []).append(event)
    spans: list[dict[str, Any]] = []
    for rid, events in by_run.items():
        trace_id = _id(f"trace:{rid}", 16)
        root_id = _id(f"run:{rid}", 8)
        end = next((e for e in reversed(events) if e.kind == "run.end"), events[-1])
        start = events[0]
        spans.append(
            {
                "traceId": trace_id,
                "spanId": root_id,
                "name": "run",
                "kind": 1,
                "startTimeUnixNano": str(_nanos(start.ts)),
                "endTimeUnixNano": str(_nanos(end.ts)),
                "attributes": _attrs(
                    {
                        "runtime.run_id": rid,
                        "runtime.team": start.payload.get("team"),
                        "runtime.status": end.payload.get("status"),
                    }
                ),
            }
        )
        previous: dict[int, AuditEvent] = {}
        for event in events:
            if event.step is None:
                continue
            if event.kind == "proposal":
                previous[event.step] = event
                continue
            stage = STAGES.get(event.kind)
            before = previous.get(event.step)
            if stage is None or before is None:
                continue
            spans.append(
                {
                    "traceId": trace_id,
                    "spanId": _id(f"{rid}:{event.seq}", 8),
                    "parentSpanId": root_id,
                    "name": stage,
                    "kind": 1,
                    "startTimeUnixNano": str(_nanos(before.ts)),
                    "endTimeUnixNano": str(_nanos(event.ts)),
                    "attributes": _attrs(
                        {
                            "runtime.run_id": rid,
                            "runtime.step": event.step,
                            "runtime.agent": event.agent,
                            "runtime.tool": event.payload.get("tool"),
                            "runtime.decision": event.payload.get("decision"),
                            "runtime.decision_id": event.payload.get("decision_id"),
                            "runtime.policy_version": event.payload.get("policy_version"),
                            "runtime.verdict": event.payload.get("verdict"),
                            "runtime.sandbox_id": event.payload.get("sandbox_id"),
                            "runtime.idempotency_key": event.payload.get("idempotency_key"),
                        }
                    ),
                }
            )
            previous[event.step] = event
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": "agent-runtime"})},
                "scopeSpans": [{"scope": {"name": "agent-runtime.audit"}, "spans": spans}],
            }
        ]
    }
