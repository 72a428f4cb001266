"""Who is driving a run, and what state a run is in.

A process drives a run while it holds an exclusive `flock` on `<state_dir>/runs/<id>/lock`;
the kernel drops the lock when the process dies, however it dies (kill -9 included). A run
whose audit shows no end after its last start or resume, and whose lock is free, was
*interrupted*: its process died mid-run, and `runtime runs resume` continues it from the
last checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import UserError

if TYPE_CHECKING:
    from runtime.audit.store import AuditEvent

LIFECYCLE = ("run.start", "run.resumed", "run.recovered", "run.end")


def lock_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / run_id / "lock"


class RunLock:
    """Held by the process driving a run; UserError when another live process holds it."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.path = lock_path(state_dir, run_id)
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(
                f"run {self.run_id} is being driven by another process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_driven(state_dir: Path, run_id: str) -> bool:
    """True while a live process holds the run's lock."""
    path = lock_path(state_dir, run_id)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def run_status(events: list[AuditEvent], state_dir: Path, run_id: str) -> str:
    """completed | failed | blocked | awaiting_approval (from the last run.end), `running`
    while a process drives it, `interrupted` when that process died without ending it."""
    lifecycle = [e for e in events if e.kind in LIFECYCLE]
    if lifecycle and lifecycle[-1].kind == "run.end":
        return str(lifecycle[-1].payload.get("status", "failed"))
    return "running" if is_driven(state_dir, run_id) else "interrupted"
