"""The `runtime` command: parses, calls into the modules, prints. No logic lives here.

Exit codes: 0 completed, 1 failed, 2 bad input, 3 blocked, 4 awaiting approval,
5 a part of the machine is missing (Docker, OPA, the sandbox image), 6 completed with
blocks (a call was denied or blocked, or content redacted, on the way), 130 interrupted
(Ctrl-C or SIGTERM: the run is left `interrupted`, `runtime runs resume RUN` continues it).
The commands live in one module per group; `app.py` lists them.
"""

from __future__ import annotations

from runtime.cli.app import app, main

__all__ = ["app", "main"]
