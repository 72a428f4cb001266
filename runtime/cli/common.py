"""What every command shares: the global options, settings, the one error guard.

`--project` and `--debug` are accepted before the command (`runtime --project P runs list`)
and, as before, after it (`runtime runs list --project P`); the one after the command wins.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runtime.cli.output import say
from runtime.errors import AgentRuntimeError
from runtime.settings import Settings, load_settings

if TYPE_CHECKING:
    from runtime.audit.store import AuditLog

# completed_with_blocks (6): the run completed, but a call was denied or blocked or content
# was redacted on the way (scripts that need every step to have gone through check it).
EXIT_BY_STATUS = {
    "completed": 0,
    "failed": 1,
    "blocked": 3,
    "awaiting_approval": 4,
    "completed_with_blocks": 6,
    "budget_exceeded": 7,
}
EXIT_INTERRUPTED = 130

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", help="Project folder (agents/, rego/, runtime.toml).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@dataclass(frozen=True)
class Globals:
    """The options given before the command."""

    project: Path | None = None
    debug: bool = False


_globals_given: ContextVar[Globals | None] = ContextVar("_globals_given", default=None)


def set_globals(given: Globals) -> None:
    """Called by the app's callback, before the command runs."""
    _globals_given.set(given)


def _globals() -> Globals:
    return _globals_given.get() or Globals()


def project_dir(project: Path | None) -> Path | None:
    chosen = project or _globals().project
    return chosen.resolve() if chosen else None


def settings_for(project: Path | None, **overrides: Any) -> Settings:
    return load_settings(project_dir=project_dir(project), **overrides)


@contextmanager
def audit_log(settings: Settings) -> Iterator[AuditLog | None]:
    """The project's audit log, or None when there is none yet: reading never creates
    state (no `.runtime/` appears because someone ran `runs list` in the wrong folder)."""
    from runtime.audit.store import AuditLog

    path = settings.resolved_state_dir / "audit.db"
    if not path.is_file():
        yield None
        return
    log = AuditLog(path)
    try:
        yield log
    finally:
        log.close()


def no_state_line(settings: Settings) -> str:
    where = settings.resolved_state_dir
    if (
        not (settings.project_dir / "agents").is_dir()
        and not (settings.project_dir / "runtime.toml").is_file()
    ):
        return (
            f"{settings.project_dir} is not a project (no agents/ or runtime.toml) and has no "
            f"runs; pass --project or cd into one"
        )
    return f"no runs yet: {where} holds no audit log"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def guard(debug: bool, action: Callable[[], int], *, drives_run: bool = False) -> int:
    """Run a command body; a known error becomes one line on stderr and its exit code.
    SIGTERM is handled like Ctrl-C, so a run being driven ends `interrupted` (resumable)
    and its sandbox is released on the way out."""
    try:
        previous: Any = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (an embedding app): leave signals alone
        previous = None
    try:
        return action()
    except AgentRuntimeError as exc:
        if debug:
            raise
        # One line: details (e.g. OPA's full compiler output) are for --debug.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        say(f"error: {first}", stderr=True)
        return exc.exit_code
    except KeyboardInterrupt:
        hint = (
            ": the run is left `interrupted`; `runtime runs resume RUN` continues it"
            if drives_run
            else ""
        )
        say(f"interrupted{hint}", stderr=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(
            f"internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback)",
            stderr=True,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def command(
    group: typer.Typer, name: str, *, drives_run: bool = False, **options: Any
) -> Callable[[Any], Any]:
    """Register `body` (which returns the exit code) as a command behind the one guard;
    `drives_run` commands say how to resume when they are interrupted."""

    def register(body: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> None:
            debug = bool(kwargs.get("debug")) or _globals().debug
            raise typer.Exit(guard(debug, lambda: body(*args, **kwargs), drives_run=drives_run))

        group.command(name, **options)(run)
        return body

    return register
