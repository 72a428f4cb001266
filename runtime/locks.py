"""Advisory file locks (`flock`): the one wrapper the runtime's locks are built on.

The kernel drops an flock when the process holding it dies, however it dies (kill -9
included), so a lock file never needs cleaning up. Linux-only, like the runtime (Docker,
prctl). Users: the run lock (`runtime/runs.py`: one process drives a run), the policy
lock (`runtime/policy/versions.py`: watchers and rollbacks take turns) and the audit head
lock (`runtime/audit/seal.py`: appends from several processes advance one signed head).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL_S = 0.02


class FileLock:
    """An exclusive flock on a file, re-entrant for the thread that holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @property
    def fd(self) -> int | None:
        """The open lock file while held (e.g. to note the holder's pid in it)."""
        return self._fd

    @contextlib.contextmanager
    def hold(self, timeout: float | None) -> Iterator[bool]:
        """Yields True while held, or False when it could not be had within `timeout`
        (None: waits as long as it takes)."""
        if not self.acquire(timeout):
            yield False
            return
        try:
            yield True
        finally:
            self.release()

    def acquire(self, timeout: float | None = 0.0) -> bool:
        """Take the lock, waiting up to `timeout` seconds (0: only if free right now; None:
        as long as it takes, blocked in the kernel rather than polling)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        if self._depth == 0 and not self._lock_file(deadline):
            self._thread_lock.release()
            return False
        self._depth += 1
        return True

    def release(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        self._thread_lock.release()

    def _lock_file(self, deadline: float | None) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
            return True
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL_S)
                continue
            self._fd = fd
            return True


def is_locked(path: Path) -> bool:
    """True while some process holds an exclusive flock on `path` (False if no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
