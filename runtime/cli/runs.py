"""`runtime runs list|show|pending`: what the audit log says about past runs. Read-only:
none of them creates a state folder or an audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runtime.cli.common import DebugOpt, JsonOpt, ProjectOpt, audit_log, command, settings_for
from runtime.cli.output import print_json, say
from runtime.errors import UserError
from runtime.state import private_umask

if TYPE_CHECKING:
    from runtime.audit.store import AuditEvent

runs = typer.Typer()

STATUSES = (
    "completed",
    "completed_with_blocks",
    "failed",
    "blocked",
    "awaiting_approval",
    "running",
    "interrupted",
)


def _parse_since(text: str) -> datetime:
    """`30m`, `2h`, `7d` ago, or an ISO date/time (UTC unless it says otherwise)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--since {text!r} is neither a duration (30m, 2h, 7d) nor an ISO date "
            "(2026-01-31 or 2026-01-31T09:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_summary(run_id: str, events: list[AuditEvent], state_dir: Path) -> dict[str, Any]:
    """One row of `runs list`: who, what, when, how long, and what the pipeline saw."""
    from runtime.record import final_status, outcome
    from runtime.runs import run_status

    marked = outcome(events)
    start = events[0].payload if events else {}
    began = datetime.fromisoformat(events[0].ts)
    ended = datetime.fromisoformat(events[-1].ts)
    findings = sum(len(e.payload.get("findings", [])) for e in events if e.kind == "verdict")
    return {
        "id": run_id,
        "team": start.get("team"),
        "status": final_status(run_status(events, state_dir, run_id), marked),
        "started": events[0].ts,
        "duration_s": round((ended - began).total_seconds(), 3),
        "steps": sum(1 for e in events if e.kind == "proposal"),
        "denials": sum(
            1 for e in events if e.kind == "decision" and e.payload.get("decision") == "deny"
        ),
        "findings": findings,
        "blocked_steps": marked["blocked_steps"],
        "redacted_steps": marked["redacted_steps"],
        "task": start.get("task"),
    }


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


@command(runs, "list")
def runs_list(
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only runs in this state: {', '.join(STATUSES)}."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs started since: 30m, 2h, 7d or a date.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON list: id, team, status, started, duration_s, steps, denials, "
            "findings, blocked_steps, redacted_steps, task.",
        ),
    ] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """List the runs recorded in the audit log, oldest first."""
    if status is not None and status not in STATUSES:
        raise UserError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    after = _parse_since(since) if since else None
    settings = settings_for(project)
    rows: list[dict[str, Any]] = []
    with audit_log(settings) as log:
        if log is None:
            if as_json:
                print_json([])
            else:
                from runtime.cli.common import no_state_line

                say(no_state_line(settings))
            return 0
        for run_id in log.run_ids():
            row = run_summary(run_id, log.events(run_id), log.path.parent)
            if status and row["status"] != status:
                continue
            if after and datetime.fromisoformat(row["started"]) < after:
                continue
            rows.append(row)
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        say("no runs match" if status or since else "no runs yet")
        return 0
    say(
        f"{'RUN':<12}  {'TEAM':<10} {'STATUS':<18} {'STARTED (UTC)':<19} {'TOOK':>7} "
        f"{'STEPS':>5} {'DENIED':>6} {'FINDINGS':>8}  TASK"
    )
    for row in rows:
        task = " ".join(str(row["task"] or "").split())
        say(
            f"{row['id']:<12}  {row['team'] or '?':<10} {row['status']:<18} "
            f"{row['started'][:19].replace('T', ' '):<19} {_duration(row['duration_s']):>7} "
            f"{row['steps']:>5} {row['denials']:>6} {row['findings']:>8}  "
            f"{task if len(task) <= 60 else task[:59] + '…'}"
        )
    return 0


@command(runs, "show")
def runs_show(
    run_id: str,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """The timeline of one run: every proposal, decision, execution, verdict and commit."""
    from runtime.audit.store import is_system_stream
    from runtime.errors import RunNotFound
    from runtime.provenance.show import provenance_lines

    if is_system_stream(run_id):
        raise RunNotFound(
            f"{run_id!r} is not a run; policy changes: `runtime policy history --events`"
        )
    from runtime.runs import run_status
    from runtime.serve.records import summarize, timeline

    settings = settings_for(project)
    with audit_log(settings) as log:
        events = log.events(run_id) if log else []
    if not events:
        raise RunNotFound(f"no run {run_id!r} in the audit log; see `runtime runs list`")
    shown = summarize(run_id, events, run_status(events, settings.resolved_state_dir, run_id))
    steps = timeline(events)
    if as_json:
        print_json(
            {
                "run": shown.model_dump(mode="json"),
                "steps": [step.model_dump(mode="json") for step in steps],
                "events": [e.model_dump(mode="json") for e in events],
            }
        )
        return 0
    say(f"run {run_id} · team {shown.team} · {shown.status}")
    if shown.usage.model_calls:
        usage = shown.usage
        say(
            f"model calls: {usage.model_calls}; tokens: {usage.input_tokens} in, "
            f"{usage.output_tokens} out"
        )
    for event in events:
        where = (
            f"{event.agent or '':<8} #{event.step}" if event.step else f"{event.agent or '':<8}   "
        )
        summary = {k: v for k, v in event.payload.items() if k not in ("args", "provenance")}
        say(
            f"{event.seq:>5} {event.ts[11:23]} {event.kind:<16} {where} {json.dumps(summary)[:140]}"
        )
        if event.kind == "decision":
            for line in provenance_lines(event.payload.get("provenance")):
                say(f"{'':>36}{line}")
    for step in steps:
        for line in step_lines(step):
            say(line)
    return 0


def step_lines(step: Any) -> list[str]:
    """One step of the run record: arguments as shown (redacted), decision, run, check."""
    lines = [f"step {step.step}: {step.agent} {step.tool} -> {step.decision or step.refused}"]
    if step.model_turn:  # the model call that proposed it
        turn = step.model_turn
        lines.append(
            f"  model {turn.get('provider')}:{turn.get('model')}: {turn.get('tokens_in')} tokens "
            f"in, {turn.get('tokens_out')} out ({turn.get('latency_ms')} ms)"
        )
    for name, value in step.args_shown.items():
        text = value.get("text") if isinstance(value, dict) else json.dumps(value)
        lines.append(f"  arg {name}: {str(text)[:200]}")
    if step.reasons:
        lines.append(f"  reasons: {'; '.join(step.reasons)}")
    if step.exit_code is not None:
        lines.append(f"  exit {step.exit_code} in {step.duration_ms} ms")
    for stream in ("stdout_tail", "stderr_tail"):
        tail = getattr(step, stream)
        if tail:
            lines.append(f"  {stream[:6]}: {str(tail.get('text', ''))[-200:]}")
    lines += [f"  {c.get('change')} {c.get('path')} ({c.get('size')} bytes)" for c in step.changes]
    lines += [
        f"  memory hit {h['id']} in {h['namespace']} ({h['trust']})" for h in step.memory_hits
    ]
    if step.verdict:
        found = ", ".join(f"{f['type']} at {f['location']}" for f in step.findings)
        lines.append(f"  verdict {step.verdict}" + (f": {found}" if found else ""))
    if step.committed:
        lines.append(f"  committed {', '.join(step.committed_files) or '(memory)'}")
    return lines


def _pending_lines(item: dict[str, Any]) -> str:
    kind = item.get("kind", "approval")
    what = {
        "escalation": f"{item['agent']}'s {item['tool']} was escalated by the safety check",
        "answer": f"{item['agent']}'s final answer was escalated by the safety check",
    }.get(kind, f"{item['agent']} wants {item['tool']}")
    staged = ", ".join(item.get("files", []) + item.get("memory_writes", []))
    findings = ", ".join(
        f"{f['type']} at {f['location']} ({f['severity']})" for f in item.get("findings", [])
    )
    return (
        f"{item['run_id']} step {item['step']}: {what}\n"
        f"  args: {json.dumps(item['args'])[:400]}\n"
        + (f"  staged: {staged}\n" if staged else "")
        + (f"  findings: {findings}\n" if findings else "")
        + f"  reasons: {'; '.join(item['reasons'])}\n"
        f"  argument provenance: {item['provenance']}\n"
        f"  untrusted sources seen: {', '.join(item['untrusted_sources_seen']) or 'none'}"
    )


@command(runs, "pending")
def runs_pending(
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Runs paused on an approval: the action, its provenance and the reasons."""
    from runtime.core import Runtime

    settings = settings_for(project)
    if not (settings.resolved_state_dir / "audit.db").is_file():
        waiting: list[dict[str, Any]] = []
    else:
        with private_umask(), Runtime(settings) as rt:
            waiting = rt.pending()
    if as_json:
        print_json(waiting)
        return 0
    if not waiting:
        say("no run is waiting for approval")
    for item in waiting:
        say(_pending_lines(item))
    return 0
