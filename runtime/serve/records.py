"""Read models over the audit log: a run's summary and its timeline, step by step.

Everything here is derived from audit events, the one record every process that drives a
run appends to, so a dashboard in another process sees the same truth as `runs show`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from runtime.audit.store import AuditEvent, AuditLog
from runtime.models import Frozen, Usage
from runtime.record import final_status, outcome
from runtime.runs import run_status

REFUSED_DECISIONS = frozenset({"deny"})
REFUSED_VERDICTS = frozenset({"block"})


class RunSummary(Frozen):
    run_id: str
    team: str
    task: str
    status: str
    started: str
    ended: str | None = None
    duration_s: float | None = None
    steps: int = 0
    denials: int = 0
    blocks: int = 0
    findings: int = 0
    approvals: int = 0
    blocked_steps: list[int] = Field(default_factory=list)
    redacted_steps: list[int] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)  # the sum of its model.turn events


class StepView(Frozen):
    """One tool call as a person reads it: what was asked, decided, run, checked, committed."""

    step: int
    agent: str | None = None
    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    args_shown: dict[str, Any] = Field(default_factory=dict)
    args_sha256: str | None = None
    refused: str | None = None
    model_turn: dict[str, Any] | None = None
    decision: str | None = None
    reasons: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)
    policy_version: str | None = None
    engine: str | None = None
    decision_ms: float | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)
    sandbox_id: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    duration_ms: float | None = None
    stdout_tail: dict[str, Any] | None = None
    stderr_tail: dict[str, Any] | None = None
    memory_hits: list[dict[str, Any]] = Field(default_factory=list)
    memory_access: list[dict[str, Any]] = Field(default_factory=list)
    changes: list[dict[str, Any]] = Field(default_factory=list)
    verdict: str | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    verdict_reasons: list[str] = Field(default_factory=list)
    committed_files: list[str] = Field(default_factory=list)
    memory_ids: list[str] = Field(default_factory=list)
    approval: dict[str, Any] | None = None
    committed: bool = False
    discarded: bool = False


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _elapsed_ms(start: str, end: str) -> float:
    return round((parse_ts(end) - parse_ts(start)).total_seconds() * 1000, 3)


def summarize(run_id: str, events: Sequence[AuditEvent], status: str) -> RunSummary:
    """A run's one-line summary, from its own events."""
    start = next((e for e in events if e.kind == "run.start"), None)
    end = next((e for e in reversed(events) if e.kind == "run.end"), None)
    started = start.ts if start else (events[0].ts if events else "")
    steps = {e.step for e in events if e.kind == "proposal" and e.step is not None}
    marked = outcome(events)
    return RunSummary(
        run_id=run_id,
        team=str(start.payload.get("team", "")) if start else "",
        task=str(start.payload.get("task", "")) if start else "",
        status=final_status(status, marked),
        blocked_steps=marked["blocked_steps"],
        redacted_steps=marked["redacted_steps"],
        started=started,
        ended=end.ts if end else None,
        duration_s=(
            round((parse_ts(end.ts) - parse_ts(started)).total_seconds(), 3)
            if end and started
            else None
        ),
        steps=len(steps),
        denials=sum(
            1 for e in events if e.kind == "decision" and e.payload.get("decision") == "deny"
        ),
        blocks=sum(
            1 for e in events if e.kind == "verdict" and e.payload.get("verdict") == "block"
        ),
        findings=sum(len(e.payload.get("findings", [])) for e in events if e.kind == "verdict"),
        approvals=sum(1 for e in events if e.kind == "approval.requested"),
        usage=Usage.of(e.payload for e in events if e.kind == "model.turn"),
    )


def run_summaries(
    audit: AuditLog,
    state_dir: Path,
    *,
    status: str | None = None,
    team: str | None = None,
    since: datetime | None = None,
) -> list[RunSummary]:
    """Every run, newest first, filtered by status, team and start time."""
    by_run: dict[str, list[AuditEvent]] = {}
    for event in audit.events():
        if event.run_id.startswith("@"):
            continue
        by_run.setdefault(event.run_id, []).append(event)
    summaries = []
    for run_id, events in by_run.items():
        summary = summarize(run_id, events, run_status(events, state_dir, run_id))
        if status and summary.status != status:
            continue
        if team and summary.team != team:
            continue
        if since and summary.started and parse_ts(summary.started) < since:
            continue
        summaries.append(summary)
    return sorted(summaries, key=lambda s: s.started, reverse=True)


def timeline(events: Iterable[AuditEvent]) -> list[StepView]:
    """The run's tool calls in step order, each stage folded into one view."""
    steps: dict[int, dict[str, Any]] = {}
    proposed_at: dict[int, str] = {}
    turns: dict[str, dict[str, Any]] = {}  # each agent's last model turn
    for event in events:
        if event.kind == "model.turn" and event.agent:
            turns[event.agent] = dict(event.payload)
        payload = event.payload
        # A human's answer is a run event; the step it answers is in its payload.
        step = event.step if event.step is not None else _answered_step(event)
        if step is None:
            continue
        view = steps.setdefault(step, {"step": step})
        if event.kind == "proposal":
            proposed_at[step] = event.ts
            view.update(
                agent=event.agent,
                tool=payload.get("tool"),
                args=payload.get("args", {}),
                args_shown=payload.get("args_shown", {}),
                args_sha256=payload.get("args_sha256"),
                refused=payload.get("refused"),
                # The model turn that proposed it (chat models record one per turn).
                model_turn=turns.pop(event.agent, None) if event.agent else None,
            )
        elif event.kind == "decision":
            view.update(
                decision=payload.get("decision"),
                reasons=list(payload.get("reasons", [])),
                alternatives=list(payload.get("alternatives", [])),
                policy_version=payload.get("policy_version"),
                engine=payload.get("engine"),
                provenance=dict(payload.get("provenance", {})),
            )
            if step in proposed_at:
                view["decision_ms"] = _elapsed_ms(proposed_at[step], event.ts)
        elif event.kind == "execution":
            view.update(
                sandbox_id=payload.get("sandbox_id"),
                exit_code=payload.get("exit_code"),
                timed_out=bool(payload.get("timed_out", False)),
                duration_ms=payload.get("duration_ms"),
                stdout_tail=payload.get("stdout_tail"),
                stderr_tail=payload.get("stderr_tail"),
                memory_hits=list(payload.get("memory_hits", [])),
                memory_access=list(payload.get("memory_access", [])),
                changes=list(payload.get("changes", [])),
            )
        elif event.kind == "verdict":
            view.update(
                verdict=payload.get("verdict"),
                findings=list(payload.get("findings", [])),
                verdict_reasons=list(payload.get("reasons", [])),
            )
        elif event.kind == "discard":
            view["discarded"] = True
        elif event.kind == "commit":
            view.update(
                committed=True,
                committed_files=list(payload.get("files", [])),
                memory_ids=list(payload.get("memory_ids", [])),
            )
        elif event.kind in {"approval.requested", "run.resumed"}:
            approval = dict(view.get("approval") or {})
            approval.update({k: v for k, v in payload.items() if k != "args"})
            approval["state"] = "requested" if event.kind == "approval.requested" else "answered"
            view["approval"] = approval
    return [StepView.model_validate(steps[key]) for key in sorted(steps)]


def _answered_step(event: AuditEvent) -> int | None:
    if event.kind != "run.resumed":
        return None
    step = event.payload.get("step")
    return step if isinstance(step, int) else None


def latency_points(audit: AuditLog) -> dict[str, list[tuple[str, float]]]:
    """Time series for the charts: decision latency and tool-call latency per step, and a
    point per denial and per finding, each at the time it was recorded."""
    series: dict[str, list[tuple[str, float]]] = {
        "decision_ms": [],
        "tool_ms": [],
        "denials": [],
        "findings": [],
    }
    proposed: dict[tuple[str, int], str] = {}
    for event in audit.events():
        key = (event.run_id, event.step or 0)
        if event.kind == "proposal":
            proposed[key] = event.ts
        elif event.kind == "decision":
            if key in proposed:
                series["decision_ms"].append((event.ts, _elapsed_ms(proposed[key], event.ts)))
            if event.payload.get("decision") == "deny":
                series["denials"].append((event.ts, 1.0))
        elif event.kind == "execution" and event.payload.get("duration_ms") is not None:
            series["tool_ms"].append((event.ts, float(event.payload["duration_ms"])))
        elif event.kind == "verdict" and event.payload.get("findings"):
            series["findings"].append((event.ts, float(len(event.payload["findings"]))))
    return series
