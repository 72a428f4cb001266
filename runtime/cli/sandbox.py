"""`runtime sandbox build|ls|prune|run`: the sandbox image and containers."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from runtime.cli.common import DebugOpt, command
from runtime.cli.output import err, out, print_json, safe, say
from runtime.errors import UserError

sandbox = typer.Typer()


@command(sandbox, "build")
def sandbox_build(
    dockerfile: Annotated[
        bool, typer.Option("--dockerfile", help="Build from sandbox/Dockerfile (needs a registry).")
    ] = False,
    debug: DebugOpt = False,
) -> int:
    """Build the sandbox image (offline debootstrap by default); skipped when present."""
    from runtime.sandbox.admin import build_image_cli

    return build_image_cli(dockerfile=dockerfile, say=err.print)


@command(sandbox, "ls")
def sandbox_ls(debug: DebugOpt = False) -> int:
    """List the runtime's sandbox containers."""
    from runtime.sandbox.admin import list_sandboxes

    table = Table()
    for column in ("id", "run", "status", "owner pid", "image"):
        table.add_column(column)
    for row in list_sandboxes():
        table.add_row(
            *[safe(row.get(k, "")) for k in ("id", "run", "status", "owner_pid", "image")]
        )
    out.print(table)
    return 0


@command(sandbox, "prune")
def sandbox_prune(
    everything: Annotated[
        bool, typer.Option("--all", help="Also remove boxes of live runtimes.")
    ] = False,
    debug: DebugOpt = False,
) -> int:
    """Remove sandbox containers left behind by runtimes that are gone."""
    from runtime.sandbox.admin import prune_sandboxes

    say(f"removed {prune_sandboxes(everything=everything)} sandbox container(s)")
    return 0


@command(
    sandbox, "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def sandbox_run(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before the work is killed.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: DebugOpt = False,
) -> int:
    """Run `-- CMD ...` in a throwaway sandbox with the default settings."""
    from runtime.sandbox.admin import run_once

    argv = list(ctx.args)
    if not argv:
        raise UserError("give a command after --, e.g. runtime sandbox run -- id -u")
    result = run_once(argv, timeout_s=timeout)
    if as_json:
        doc = result.model_dump(mode="json")
        doc["truncated"] = result.truncated
        print_json(json.dumps(doc, indent=2))
    else:
        # The command's own output, as it wrote it: this is the operator's own command.
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    return result.exit_code if 0 <= result.exit_code < 256 else 1
