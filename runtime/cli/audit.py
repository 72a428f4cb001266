"""`runtime audit verify`: the chain, its key, its signed head and the commit records."""

from __future__ import annotations

import typer

from runtime.cli.common import DebugOpt, ProjectOpt, audit_log, command, settings_for
from runtime.cli.output import say

audit = typer.Typer()


@command(audit, "verify")
def audit_verify(project: ProjectOpt = None, debug: DebugOpt = False) -> int:
    """Check the audit log against its key and signed head; exit 1 and name the first
    problem if it was tampered with (edited, truncated, wiped or dropped)."""
    settings = settings_for(project)
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
