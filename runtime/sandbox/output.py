"""The run's output folder: checked, all-or-nothing writes, and reads that never follow links.

Owns: every filesystem operation on the output folder. Nothing is ever written or read
through a symlink: each path is walked one component at a time with O_NOFOLLOW, relative to
an open directory.

A commit (`publish`) runs in two phases, after `target_problem` has checked every target:

1. prepare: create the missing directories and write each file to a short temp name beside
   its target (`.rt-<16 hex>.tmp`: a 255-byte target name still fits). Nothing a reader
   looks for has changed yet.
2. publish: rename each temp file over its target (the file it replaces is first linked, or
   copied, to a backup name) and move each deleted file to a backup name.

If anything fails, every step taken is undone in reverse order (temp files and new
directories removed, backups renamed back), so the folder is as it was; the error goes up.
On success the backups are removed. Only the runtime's own process dying in the middle can
leave a `.rt-*.tmp` file behind.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from runtime.models import FileChange

TEMP_PREFIX = ".rt-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ThroughSymlink(OSError):
    """A path would pass through a symlink (or a non-directory) in the output folder."""


def open_root(output_dir: Path) -> int:
    output_dir.mkdir(parents=True, exist_ok=True)
    return os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def target_problem(root_fd: int, change: FileChange) -> str | None:
    """Why writing (or deleting) `change.path` under the output folder is unsafe, else None.

    Walks each parent with lstat: a component that exists must be a real directory.
    """
    parts = change.path.split("/")
    current = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            info = _lstat_at(current, part)
            if info is None:
                return None  # the rest will be created fresh
            if not stat.S_ISDIR(info.st_mode):
                kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
                return f"parent {part!r} in the output folder is {kind}"
            following = os.open(part, _DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = following
        info = _lstat_at(current, parts[-1])
        if info is None:
            return None
        if change.kind == "dir":
            if not stat.S_ISDIR(info.st_mode):
                return "exists in the output folder and is not a directory"
        elif change.change != "deleted" and not stat.S_ISREG(info.st_mode):
            return "exists in the output folder and is not a regular file"
        return None
    finally:
        os.close(current)


def _parent_fd(root_fd: int, path: str) -> int | None:
    """An fd for the parent directory of `path` (never via a symlink), or None if missing."""
    current = os.dup(root_fd)
    try:
        for part in path.split("/")[:-1]:
            following = os.open(part, _DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = following
    except FileNotFoundError:
        os.close(current)
        return None
    except OSError as exc:
        os.close(current)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ThroughSymlink(exc.errno, "a parent is a symlink or not a directory") from exc
        raise
    return current


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp"


def _fill(fd: int, data: bytes) -> None:
    """Write all of `data` to a new file's fd, flush it to disk and close the fd."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


class _Journal:
    """The steps a commit took, each with its undo, so a failure can put everything back."""

    def __init__(self, root_fd: int) -> None:
        self._root = root_fd
        self._undo: list[Callable[[], None]] = []
        self._cleanup: list[Callable[[], None]] = []
        self._temps: dict[str, str] = {}

    def _in_parent(self, path: str, action: Callable[[int, str], None]) -> None:
        parent = _parent_fd(self._root, path)
        if parent is None:
            raise FileNotFoundError(errno.ENOENT, "a parent directory is missing", path)
        try:
            action(parent, path.rsplit("/", 1)[-1])
        finally:
            os.close(parent)

    def _later(self, undo: Callable[[int, str], None], path: str) -> Callable[[], None]:
        def run() -> None:
            with contextlib.suppress(OSError):
                self._in_parent(path, undo)

        return run

    def prepare_dirs(self, path: str, *, include_last: bool) -> None:
        """Create the missing directories on the way to `path` (and `path` itself)."""
        parts = path.split("/")
        count = len(parts) if include_last else len(parts) - 1
        for depth in range(1, count + 1):
            prefix = "/".join(parts[:depth])
            self._in_parent(prefix, functools.partial(self._make_dir, path=prefix))

    def _make_dir(self, parent: int, name: str, path: str) -> None:
        if _lstat_at(parent, name) is not None:
            return  # target_problem checked that it is a real directory
        os.mkdir(name, 0o755, dir_fd=parent)
        self._undo.append(self._later(lambda p, n: os.rmdir(n, dir_fd=p), path))

    def _unlink_later(self, path: str) -> Callable[[], None]:
        return self._later(lambda parent, name: os.unlink(name, dir_fd=parent), path)

    def _new_file(self, parent: int, name: str, path: str, data: bytes) -> None:
        """Create `name` (never an existing file), register its removal, then fill it."""
        fd = os.open(name, _NEW_FILE, 0o644, dir_fd=parent)
        self._undo.append(self._unlink_later(path))
        _fill(fd, data)

    def write_temp(self, path: str, data: bytes) -> None:
        temp = _temp_name()
        temp_path = _sibling(path, temp)
        self._in_parent(
            temp_path, lambda parent, name: self._new_file(parent, name, temp_path, data)
        )
        self._temps[path] = temp

    def replace(self, path: str) -> None:
        temp = self._temps.pop(path)
        self._in_parent(path, lambda parent, name: self._replace(parent, name, temp, path))

    def _replace(self, parent: int, name: str, temp: str, path: str) -> None:
        backup = self._backup(parent, name, path, keep_original=True)
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
        if backup is None:
            self._undo.append(self._unlink_later(path))
        else:
            self._undo.append(self._later(_rename_from(backup), path))

    def remove(self, path: str) -> bool:
        parent = _parent_fd(self._root, path)
        if parent is None:
            return False
        try:
            name = path.rsplit("/", 1)[-1]
            info = _lstat_at(parent, name)
            if info is None or not stat.S_ISREG(info.st_mode):
                return False  # only regular files inside the folder are ever deleted
            backup = self._backup(parent, name, path, keep_original=False)
            assert backup is not None
            self._undo.append(self._later(_rename_from(backup), path))
            return True
        finally:
            os.close(parent)

    def _backup(self, parent: int, name: str, path: str, *, keep_original: bool) -> str | None:
        """Move (or, when keeping the original, link or copy) a regular file to a backup name."""
        info = _lstat_at(parent, name)
        if info is None or not stat.S_ISREG(info.st_mode):
            return None
        backup = _temp_name()
        backup_path = _sibling(path, backup)
        if not keep_original:
            os.rename(name, backup, src_dir_fd=parent, dst_dir_fd=parent)
        else:
            try:
                os.link(name, backup, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
                self._undo.append(self._unlink_later(backup_path))
            except OSError:  # no hard links on this filesystem: copy instead
                self._new_file(parent, backup, backup_path, _read_regular(parent, name))
        self._cleanup.append(self._unlink_later(backup_path))
        return backup

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()

    def finish(self) -> None:
        for step in self._cleanup:
            step()


def _sibling(path: str, name: str) -> str:
    """The path of `name` in the same directory as `path`."""
    return path.rsplit("/", 1)[0] + "/" + name if "/" in path else name


def _rename_from(backup: str) -> Callable[[int, str], None]:
    def restore(parent: int, name: str) -> None:
        os.replace(backup, name, src_dir_fd=parent, dst_dir_fd=parent)

    return restore


def _read_regular(parent: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def publish(root_fd: int, changes: Iterable[FileChange], contents: dict[str, bytes]) -> list[str]:
    """Apply checked `changes` under the output folder, all or nothing (see the module doc).

    Returns the relative paths written or deleted, in order. On any error the folder is
    restored and the error is raised.
    """
    ordered = list(changes)
    journal = _Journal(root_fd)
    done: list[str] = []
    try:
        for change in ordered:
            if change.change == "deleted":
                continue
            journal.prepare_dirs(change.path, include_last=change.kind == "dir")
            if change.kind == "file":
                journal.write_temp(change.path, contents[change.path])
        for change in ordered:
            if change.change == "deleted":
                if change.kind == "file" and journal.remove(change.path):
                    done.append(change.path)
            elif change.kind == "file":
                journal.replace(change.path)
                done.append(change.path)
    except BaseException:
        journal.undo()
        raise
    journal.finish()
    return done


def read_regular_file(output_dir: Path, path: str) -> bytes | None:
    """The bytes of regular file `path` under `output_dir`, or None when it is not one
    (missing, a symlink, a directory, or reached through a symlinked parent)."""
    try:
        root = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        parent = _parent_fd(root, path)
    except OSError:
        return None
    finally:
        os.close(root)
    if parent is None:
        return None
    try:
        return _read_regular(parent, path.rsplit("/", 1)[-1])
    except OSError:
        return None
    finally:
        os.close(parent)


__all__ = [
    "TEMP_PREFIX",
    "ThroughSymlink",
    "open_root",
    "publish",
    "read_regular_file",
    "target_problem",
]
