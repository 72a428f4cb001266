"""Who is driving a run, and what state a run is in.

A process drives a run while it holds an exclusive `flock` on `<state_dir>/runs/<id>/lock`;
the kernel drops the lock when the process dies, however it dies (kill -9 included). A run
whose audit shows no end after its last start or resume, and whose lock is free, was
*interrupted*: its process died mid-run, and `runtime runs resume` continues it from the
last checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import UserError
from runtime.locks import FileLock, is_locked

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
        self._lock = FileLock(self.path)

    def acquire(self) -> None:
        if not self._lock.acquire():
            try:
                holder = self.path.read_text(errors="replace").strip()[:32] or "?"
            except OSError:
                holder = "?"
            raise UserError(f"run {self.run_id} is being driven by another process (pid {holder})")
        fd = self._lock.fd
        assert fd is not None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_driven(state_dir: Path, run_id: str) -> bool:
    """True while a live process holds the run's lock."""
    return is_locked(lock_path(state_dir, run_id))


def run_status(events: list[AuditEvent], state_dir: Path, run_id: str) -> str:
    """completed | failed | blocked | awaiting_approval (from the last run.end), `running`
    while a process drives it, `interrupted` when that process died without ending it."""
    lifecycle = [e for e in events if e.kind in LIFECYCLE]
    if lifecycle and lifecycle[-1].kind == "run.end":
        return str(lifecycle[-1].payload.get("status", "failed"))
    return "running" if is_driven(state_dir, run_id) else "interrupted"
