"""`runtime serve`: the operator's dashboard (runtime/serve) on loopback."""

from __future__ import annotations

from typing import Annotated

import typer

from runtime.cli.common import DebugOpt, ProjectOpt, command, settings_for
from runtime.cli.output import say

serve_app = typer.Typer()


@command(serve_app, "serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a non-loopback --host (put TLS in front)."),
    ] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Serve the dashboard: runs, timelines, approvals, policy versions, charts, /metrics.
    Every request needs the token (`serve_token` in runtime.toml or RUNTIME_SERVE_TOKEN;
    unset, a random one is printed)."""
    from runtime.serve.command import serve

    serve(
        settings_for(project),
        host=host,
        port=port,
        allow_remote=allow_remote,
        say=lambda line: say(line, stderr=True),
    )
    return 0
