"""The state folder (`.runtime/` by default) and the files in it are private to the user.

The folder holds the audit log and its key, the checkpoints (raw tool arguments, answers),
staged bytes and memories: it is created 0700 (and tightened to 0700 if found looser), and
the files the runtime creates in it are 0600. `private_umask()` covers what other libraries
create there (SQLite's WAL files, Chroma, LangGraph's saver) for the commands that run teams.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from runtime.errors import ConfigError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def ensure_state_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700; tighten it if it exists with looser bits.

    A folder that is not the user's own (another owner, or sticky like /tmp) is refused
    rather than chmod-ed: it is shared, and tightening it would break the others using it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid() or mode & stat.S_ISVTX:
        raise ConfigError(
            f"state folder {path} is shared (owner uid {info.st_uid}, mode {mode:o}): set "
            "state_dir to a folder of its own"
        )
    if mode & 0o077:
        os.chmod(path, mode & PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 if missing (SQLite then opens it with those bits and
    gives its journal files the same); tighten it if it exists with looser bits."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def private_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to `path` atomically, as a 0600 file in a 0700 folder (`fsync=False`
    for content that must survive the process dying, not a power loss)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(
        temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE
    )
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Everything created inside is at most 0600 / 0700 (umask 077), then the old umask."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def open_private_db(
    path: Path, *, isolation_level: Literal["DEFERRED", "IMMEDIATE"] | None = "DEFERRED"
) -> sqlite3.Connection:
    """A connection to the private SQLite file `path` (0600), in WAL mode, usable from
    any thread; writers wait up to 30 s for each other (several runs, several processes).

    Switching a new database to WAL takes it whole, and SQLite answers "locked" at once
    (no busy wait) while another process opening it at the same moment holds it: wait and
    try again rather than fail the run.
    """
    db = sqlite3.connect(
        private_file(path), check_same_thread=False, isolation_level=isolation_level, timeout=30
    )
    for attempt in range(WAL_ATTEMPTS):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                db.close()
                raise
            time.sleep(0.05)
    return db


WAL_ATTEMPTS = 200  # 10 s at 50 ms
