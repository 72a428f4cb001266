"""`runtime doctor` and `runtime settings`: the machine and the project's configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from runtime.cli.common import DebugOpt, JsonOpt, ProjectOpt, command, settings_for
from runtime.cli.output import out, print_json, safe, say

project_app = typer.Typer()


@command(project_app, "doctor")
def doctor_command(project: ProjectOpt = None, debug: DebugOpt = False) -> int:
    """List each part the runtime needs as present or missing, with the fix."""
    from runtime.doctor import run_checks

    missing = 0
    for check in run_checks(settings_for(project)):
        mark = "[green]present[/green]" if check.ok else "[red]missing[/red]"
        if check.warning:
            mark = "[yellow]warning[/yellow]"
        out.print(f"{mark}  {safe(check.name)}: {safe(check.detail)}")
        if not check.ok:
            missing += 1
        if not check.ok or check.warning:
            say(f"         fix: {check.fix}")
    return 5 if missing else 0


@command(project_app, "settings")
def settings_command(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the reference (docs/settings.md) instead.")
    ] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """The settings in effect (runtime.toml < RUNTIME_* environment < flags), one per line."""
    from runtime.settings import settings_markdown

    if markdown:
        print(settings_markdown(), end="")
        return 0
    current = settings_for(project).model_dump(mode="json")
    if as_json:
        print_json(current)
        return 0
    for name, value in current.items():
        say(f"{name} = {'unset' if value is None else json.dumps(value)}")
    return 0


@command(project_app, "init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    debug: DebugOpt = False,
) -> int:
    """Write a working project: a team, a custom tool, policies with tests, a pytest file."""
    from runtime.scaffold import init_project

    written = init_project(directory)
    say(
        f"wrote {len(written)} files into {directory}; try: cd {directory} && runtime exec "
        "'Suggest a file name for: Quarterly Report' --team hello"
    )
    return 0
