"""The `runtime` app: global options and the command groups, each in its own module.

drive.py    exec, approve, deny, runs resume    (commands that drive a run)
runs.py     runs list, runs show, runs pending  (read the audit log)
policy.py   policy test|check|eval|history|rollback
sandbox.py  sandbox build|ls|prune|run
audit.py    audit verify, audit export
serve.py    serve (the dashboard, runtime/serve)
project.py  doctor, settings
common.py   global options, settings, the one error guard
output.py   terminal-safe printing, the one result printer, JSON
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from runtime.cli import audit, drive, policy, project, runs, sandbox, serve
from runtime.cli.common import DebugOpt, Globals, ProjectOpt, set_globals
from runtime.cli.output import say

app = typer.Typer(
    name="runtime",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(wanted: bool) -> None:
    if not wanted:
        return
    try:
        number = version("agent-runtime")
    except PackageNotFoundError:
        number = "unknown (not installed)"
    say(f"runtime {number}")
    raise typer.Exit(0)


@app.callback()
def root(
    project_dir: ProjectOpt = None,
    debug: DebugOpt = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run multi-agent tasks with every tool call authorized, sandboxed, checked and audited.

    Exit codes: 0 completed, 1 failed, 2 bad input, 3 blocked, 4 awaiting approval,
    5 a part of the machine is missing (Docker, OPA, the sandbox image), 6 completed with
    blocks (a call was denied or blocked, or content redacted, on the way), 130 interrupted.
    """
    set_globals(Globals(project=project_dir, debug=debug))


def _group(*parts: typer.Typer, help: str) -> typer.Typer:
    group = typer.Typer(help=help, no_args_is_help=True)
    for part in parts:
        group.registered_commands.extend(part.registered_commands)
    return group


app.registered_commands.extend(drive.root.registered_commands)
app.registered_commands.extend(project.project_app.registered_commands)
app.registered_commands.extend(serve.serve_app.registered_commands)
app.add_typer(
    _group(policy.policy, help="Policies in rego/: test, check, eval, history, rollback."),
    name="policy",
)
app.add_typer(_group(sandbox.sandbox, help="Sandbox image and containers."), name="sandbox")
app.add_typer(
    _group(runs.runs, drive.runs, help="Past runs, their timelines, and resuming them."),
    name="runs",
)
app.add_typer(_group(audit.audit, help="The hash-chained audit log."), name="audit")


def main() -> None:
    app()
