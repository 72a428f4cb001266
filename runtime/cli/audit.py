"""`runtime audit verify`: the chain, its key, its signed head and the commit records."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from runtime.cli.common import DebugOpt, ProjectOpt, audit_log, command, settings_for
from runtime.cli.output import say

audit = typer.Typer()


@command(audit, "verify")
def audit_verify(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify a JSONL export (`audit export`) instead of the log."),
    ] = None,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Check the audit log against its key and signed head; exit 1 and name the first
    problem if it was tampered with (edited, truncated, wiped or dropped)."""
    settings = settings_for(project)
    if file is not None:
        return _verify_export(file, settings.resolved_state_dir / "audit.db")
    with audit_log(settings) as log:
        if log is None:
            from runtime.audit import seal

            head = seal.head_path(settings.resolved_state_dir / "audit.db")
            if head.exists():
                say(
                    f"audit log tampered: the log is gone but its signed head {head} is not",
                    stderr=True,
                )
                return 1
            say(f"no audit log yet in {settings.resolved_state_dir}")
            return 0
        report = log.verify()
    if report.ok:
        say(f"audit log intact: {report.events} events")
        return 0
    say(f"audit log tampered: {report.problem}", stderr=True)
    return 1


@command(audit, "export")
def audit_export(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's events.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events at or after this ISO time.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl (verifiable with `audit verify --file`), opa (decision logs), "
            "otel (OTLP/JSON traces).",
        ),
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Export the audit log (or one run, or what came after a time)."""
    from runtime.audit.export import decision_logs, export_jsonl, otlp_traces
    from runtime.errors import UserError

    if fmt not in ("jsonl", "opa", "otel"):
        raise UserError(f"--format must be jsonl, opa or otel, not {fmt!r}")
    try:
        after = _aware(datetime.fromisoformat(since)) if since else None
    except ValueError as exc:
        raise UserError(f"--since must be an ISO date or time, not {since!r}") from exc
    settings = settings_for(project)
    with audit_log(settings) as log:
        if log is None:
            raise UserError(f"no audit log in {settings.resolved_state_dir}")
        if run is not None and run not in log.run_ids():
            raise UserError(f"no run {run!r} in the audit log; see `runtime runs list`")
        if fmt == "jsonl":
            lines = list(export_jsonl(log, run_id=run, since=after))
        elif fmt == "opa":
            lines = [
                json.dumps(e, sort_keys=True) for e in decision_logs(log, run_id=run, since=after)
            ]
        else:
            lines = [json.dumps(otlp_traces(log, run_id=run, since=after))]
    text = "\n".join(lines) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        say(f"exported {len(lines)} lines to {output}", stderr=True)
    return 0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _verify_export(file: Path, log_path: Path) -> int:
    from runtime.audit import seal
    from runtime.audit.export import verify_export
    from runtime.errors import UserError

    key = seal.key_from_env() or seal.read_key_file(log_path)
    if key is None:
        raise UserError(
            f"no audit key to verify with: set {seal.KEY_ENV} or run in the project whose "
            "log was exported"
        )
    try:
        lines = file.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from exc
    report = verify_export(lines, key)
    if report.ok:
        say(f"export intact: {report.events} events")
        return 0
    say(f"export tampered: {report.problem}", stderr=True)
    return 1
