"""Commands that drive a run: `exec`, `approve`, `deny`, `runs resume`.

They share one flow: build the Runtime from settings, run, print the result with the one
printer (or `--json`), and exit by the run's status. Everything they create in the state
folder is private (umask 077: files 0600, folders 0700).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runtime.cli.common import (
    EXIT_BY_STATUS,
    DebugOpt,
    JsonOpt,
    ProjectOpt,
    command,
    settings_for,
)
from runtime.cli.output import Progress, err, print_json, print_run
from runtime.state import private_umask

if TYPE_CHECKING:
    from runtime.core import Runtime
    from runtime.models import RunResult, Usage

root = typer.Typer()
ByOpt = Annotated[str | None, typer.Option("--by", help="Who answers (default: your user).")]
StepOpt = Annotated[
    int | None, typer.Option("--step", help="The step the run waits on (checked if given).")
]
runs = typer.Typer()


def _drive(
    project: Path | None,
    as_json: bool,
    action: Callable[[Runtime, Callable[[Any], None] | None], RunResult],
    **overrides: Any,
) -> int:
    from runtime.core import Runtime

    on_step = Progress() if not as_json and err.is_terminal else None
    with private_umask():
        settings = settings_for(project, **overrides)
        with Runtime(settings) as runtime:
            result = action(runtime, on_step)
            events = runtime.audit.events(result.run_id)
            result = result.model_copy(update={"usage": _usage(events)})
            record = _record(events) if as_json else []
    if as_json:
        print_json({**result.model_dump(mode="json"), "record": record})
    else:
        print_run(result)
    return EXIT_BY_STATUS[result.status]


def _usage(events: list[Any]) -> Usage:
    """The run's model calls and tokens, every process that drove it included."""
    from runtime.models import Usage

    return Usage.of(e.payload for e in events if e.kind == "model.turn")


def _record(events: list[Any]) -> list[dict[str, Any]]:
    """The run record's steps (from the audit): arguments as shown, exit codes, tails,
    changes, memory hits, findings, decisions and provenance."""
    from runtime.serve.records import timeline

    return [step.model_dump(mode="json") for step in timeline(events)]


@command(root, "exec", drives_run=True)
def exec_command(
    task: Annotated[str, typer.Argument(help="What the team should do.")],
    team: Annotated[str, typer.Option("--team", "-t", help="Team name from agents/.")],
    as_json: JsonOpt = False,
    input_dir: Annotated[
        Path | None, typer.Option("--input", help="Folder copied into /workspace (untrusted).")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output", help="Where committed files go.")
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="Policy engine: opa or embedded.")
    ] = None,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Run TASK with a team; every tool call is authorized, sandboxed, checked and audited."""
    return _drive(
        project,
        as_json,
        lambda rt, on_step: rt.exec(
            task, team, input_dir=input_dir, output_dir=output_dir, on_step=on_step
        ),
        policy_engine=engine,
    )


def _answer(
    run_id: str,
    *,
    approved: bool,
    by: str | None,
    reason: str,
    step: int | None,
    as_json: bool,
    project: Path | None,
    continue_run: bool = False,
) -> int:
    return _drive(
        project,
        as_json,
        lambda rt, on_step: rt.resume(
            run_id,
            approved=approved,
            by=by or getpass.getuser(),
            reason=reason,
            step=step,
            on_step=on_step,
            continue_run=continue_run,
        ),
    )


@command(root, "approve", drives_run=True)
def approve_command(
    run_id: str,
    step: StepOpt = None,
    by: ByOpt = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Approve the call a paused run waits on, and resume the run."""
    return _answer(
        run_id, approved=True, by=by, reason=reason, step=step, as_json=as_json, project=project
    )


@command(root, "deny", drives_run=True)
def deny_command(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the audit.")],
    step: StepOpt = None,
    by: ByOpt = None,
    continue_run: Annotated[
        bool,
        typer.Option(
            "--continue",
            help="Send the reason to the agent as the tool's answer and let the run go on "
            "(default: the run stops as blocked).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Deny the call a paused run waits on; the run stops cleanly as blocked, or with
    --continue the agent reads the reason and may choose another way."""
    return _answer(
        run_id,
        approved=False,
        by=by,
        reason=reason,
        step=step,
        as_json=as_json,
        project=project,
        continue_run=continue_run,
    )


@command(runs, "resume", drives_run=True)
def runs_resume(
    run_id: str,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Continue an interrupted run (its process died or was stopped) from its last checkpoint."""
    return _drive(project, as_json, lambda rt, on_step: rt.recover(run_id, on_step=on_step))
