"""Change sets: what a call did to /workspace, and the rules for copying it out.

Owns: diffing two workspace snapshots into a ChangeSet, and committing an approved change
set into the run's output folder. A commit is all or nothing: every rule is checked and
every file is read from the box before the first byte is written, and each file lands by
temp file + os.replace. Nothing is ever written through a symlink in the output folder.

Refused (CommitRefused, nothing written): paths that are absolute, contain `..`, NUL or
empty components; symlinks, hard links (nlink > 1) and devices/fifos/sockets in the box;
more files than `max_files` or more bytes than `max_bytes`; content that changed after
the snapshot; output paths whose parents are symlinks or non-directories.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import uuid
from pathlib import Path

from runtime.errors import CommitRefused, ExecutorCrashed, SandboxError
from runtime.models import ChangeSet, FileChange, FileEntry
from runtime.sandbox.base import CommitCaps, Sandbox

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def diff(before: dict[str, FileEntry], after: dict[str, FileEntry]) -> ChangeSet:
    """The changes that turn snapshot `before` into snapshot `after`, sorted by path."""
    changes: list[FileChange] = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if new is None and old is not None:
            changes.append(_change(old, "deleted"))
        elif old is None and new is not None:
            changes.append(_change(new, "added"))
        elif old is not None and new is not None and _differs(old, new):
            changes.append(_change(new, "modified"))
    return ChangeSet(changes=changes)


def _differs(old: FileEntry, new: FileEntry) -> bool:
    if old.kind != new.kind:
        return True
    if new.kind == "dir":
        return False  # directory metadata (mtime, mode) is not content
    return (old.sha256, old.size, old.link_target, old.nlink, old.mode) != (
        new.sha256,
        new.size,
        new.link_target,
        new.nlink,
        new.mode,
    )


def _change(entry: FileEntry, kind: str) -> FileChange:
    return FileChange(
        path=entry.path,
        change=kind,  # type: ignore[arg-type]
        kind=entry.kind,
        size=entry.size,
        sha256=entry.sha256,
        nlink=entry.nlink,
        link_target=entry.link_target,
    )


# --------------------------------------------------------------------------- validation


_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(path: str) -> str | None:
    """Why `path` may not leave the box, or None when it is a safe relative path."""
    if not path:
        return "empty path"
    if "\0" in path:
        return "path contains NUL"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "absolute path"
    if "\\" in path:
        return "path contains a backslash"
    parts = path.split("/")
    if any(part == ".." for part in parts):
        return "path contains '..'"
    if any(part in ("", ".") for part in parts):
        return "path has an empty or '.' component"
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in parts):
        return "path component longer than 255 bytes"
    return None


def validate(changeset: ChangeSet, caps: CommitCaps) -> None:
    """Check every rule that does not need the box or the output folder."""
    problems: list[str] = []
    if len(changeset.changes) > caps.max_files:
        problems.append(f"{len(changeset.changes)} changes exceed the cap of {caps.max_files}")
    if changeset.total_bytes > caps.max_bytes:
        problems.append(f"{changeset.total_bytes} bytes exceed the cap of {caps.max_bytes}")
    seen: set[str] = set()
    for change in changeset.changes:
        why = path_problem(change.path)
        if why is not None:
            problems.append(f"{change.path!r}: {why}")
            continue
        if change.path in seen:
            problems.append(f"{change.path!r}: listed twice")
        seen.add(change.path)
        if change.change == "deleted":
            continue
        if change.kind == "symlink":
            problems.append(f"{change.path!r}: symlink (to {change.link_target!r})")
        elif change.kind == "other":
            problems.append(f"{change.path!r}: device, fifo or socket")
        elif change.kind == "file" and change.nlink > 1:
            problems.append(f"{change.path!r}: hard link (nlink={change.nlink})")
        if change.size < 0:
            problems.append(f"{change.path!r}: negative size")
    if problems:
        raise CommitRefused(_refusal(problems))


def _refusal(problems: list[str]) -> str:
    shown = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"Commit refused, nothing was written: {shown}{more}"


# --------------------------------------------------------------------------- output folder


def _open_root(output_dir: Path) -> int:
    output_dir.mkdir(parents=True, exist_ok=True)
    return os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _check_target(root_fd: int, path: str, change: FileChange) -> str | None:
    """Why writing (or deleting) `path` under the output folder is unsafe, else None.

    Walks each parent with lstat: a component that exists must be a real directory.
    """
    parts = path.split("/")
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


def _parent_fd(root_fd: int, path: str, create: bool) -> int | None:
    """An fd for the parent directory of `path`, created if asked, never via a symlink."""
    current = os.dup(root_fd)
    try:
        for part in path.split("/")[:-1]:
            try:
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
            except FileNotFoundError:
                if not create:
                    os.close(current)
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=current)
                following = os.open(part, _DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = following
    except OSError as exc:
        os.close(current)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise CommitRefused(
                f"Commit refused: {path!r} would be written through a symlink in the output folder"
            ) from exc
        raise
    return current


def _write_file(root_fd: int, path: str, data: bytes) -> None:
    parent = _parent_fd(root_fd, path, create=True)
    assert parent is not None
    name = path.rsplit("/", 1)[-1]
    temp = f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=parent,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=parent)
        raise
    finally:
        os.close(parent)


def _make_dir(root_fd: int, path: str) -> None:
    parent = _parent_fd(root_fd, path, create=True)
    assert parent is not None
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path.rsplit("/", 1)[-1], 0o755, dir_fd=parent)
    finally:
        os.close(parent)


def _delete_file(root_fd: int, path: str) -> bool:
    parent = _parent_fd(root_fd, path, create=False)
    if parent is None:
        return False
    name = path.rsplit("/", 1)[-1]
    try:
        info = _lstat_at(parent, name)
        if info is None or not stat.S_ISREG(info.st_mode):
            return False  # only regular files inside the folder are ever deleted
        os.unlink(name, dir_fd=parent)
        return True
    finally:
        os.close(parent)


# --------------------------------------------------------------------------- commit


def commit(sandbox: Sandbox, changeset: ChangeSet, output_dir: Path, caps: CommitCaps) -> list[str]:
    """Copy an approved change set out of the box into `output_dir`; all or nothing.

    Returns the relative paths written or deleted, in order.
    """
    return apply(changeset, collect(sandbox, changeset, caps), output_dir, caps)


def collect(sandbox: Sandbox, changeset: ChangeSet, caps: CommitCaps) -> dict[str, bytes]:
    """Check the box-side rules and read every changed file, verified against the snapshot.

    This is the staging half of a commit: the bytes returned are exactly what the safety
    node checks and what `apply` writes; the box is not read again.
    """
    validate(changeset, caps)
    return _read_all(sandbox, changeset, caps)


def apply(
    changeset: ChangeSet, contents: dict[str, bytes], output_dir: Path, caps: CommitCaps
) -> list[str]:
    """Write staged `contents` for `changeset` into `output_dir`; all or nothing.

    Every rule is re-checked (the contents may have come back from disk after a pause or a
    crash): paths, kinds, caps, each file's sha256 against the change set, and the output
    folder's parents. Returns the relative paths written or deleted, in order.
    """
    validate(changeset, caps)
    problems = []
    for change in changeset.changes:
        if change.change == "deleted" or change.kind != "file":
            continue
        data = contents.get(change.path)
        if data is None:
            problems.append(f"{change.path!r}: staged content is missing")
        elif change.sha256 and hashlib.sha256(data).hexdigest() != change.sha256:
            problems.append(
                f"{change.path!r}: staged content does not match the checked change set"
            )
    if problems:
        raise CommitRefused(_refusal(problems))
    root_fd = _open_root(Path(output_dir))
    try:
        for change in changeset.changes:
            why = _check_target(root_fd, change.path, change)
            if why is not None:
                problems.append(f"{change.path!r}: {why}")
        if problems:
            raise CommitRefused(_refusal(problems))
        done: list[str] = []
        for change in changeset.changes:
            if change.change == "deleted":
                if change.kind == "file" and _delete_file(root_fd, change.path):
                    done.append(change.path)
            elif change.kind == "dir":
                _make_dir(root_fd, change.path)
            else:
                _write_file(root_fd, change.path, contents[change.path])
                done.append(change.path)
        return done
    finally:
        os.close(root_fd)


def _read_all(sandbox: Sandbox, changeset: ChangeSet, caps: CommitCaps) -> dict[str, bytes]:
    """Every file's bytes, checked against the snapshot, before anything is written."""
    contents: dict[str, bytes] = {}
    total = 0
    for change in changeset.changes:
        if change.change == "deleted" or change.kind != "file":
            continue
        try:
            data = sandbox.read_file(change.path)
        except ExecutorCrashed:
            raise
        except SandboxError as exc:
            raise CommitRefused(
                f"Commit refused, nothing was written: {change.path!r} can no longer be read "
                f"as a regular file in the box ({exc})"
            ) from exc
        total += len(data)
        if total > caps.max_bytes:
            raise CommitRefused(
                f"Commit refused, nothing was written: files grew past the cap of "
                f"{caps.max_bytes} bytes after the snapshot"
            )
        if change.sha256 and hashlib.sha256(data).hexdigest() != change.sha256:
            raise CommitRefused(
                f"Commit refused, nothing was written: {change.path!r} changed after the "
                "snapshot that was checked"
            )
        contents[change.path] = data
    return contents


__all__ = ["apply", "collect", "commit", "diff", "path_problem", "validate"]
