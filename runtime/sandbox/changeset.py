"""Change sets: what a call did to /workspace, and the rules for copying it out.

Owns: diffing two workspace snapshots into a ChangeSet, reading a change set's files out of
the box for the check (`collect`), and committing the checked bytes into the run's output
folder (`apply`, all or nothing: see `runtime.sandbox.output`). Every rule is checked and
every byte verified against the change set before the first byte is written.

Refused (CommitRefused, nothing written): the path rules of `runtime.sandbox.names`
(absolute, `..`, NUL, empty components, over-long components, names that are not UTF-8 or
hold control or invisible characters); symlinks, hard links (nlink > 1) and
devices/fifos/sockets in the box; a file without a content hash; more files than
`max_files` or more bytes than `max_bytes`; content that changed after the snapshot (or,
at commit, bytes whose sha256 is not the checked one); output paths whose parents are
symlinks or non-directories; and any write the output folder itself refuses.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path

from runtime.errors import CommitRefused, ExecutorCrashed, SandboxError
from runtime.models import ChangeSet, FileChange, FileEntry
from runtime.sandbox import output
from runtime.sandbox.base import CommitCaps, Sandbox
from runtime.sandbox.names import path_problem, refusal, shown

_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def validate(changeset: ChangeSet, caps: CommitCaps) -> None:
    """Check every rule that does not need the box or the output folder."""
    problems: list[str] = []
    if len(changeset.changes) > caps.max_files:
        problems.append(f"{len(changeset.changes)} changes exceed the cap of {caps.max_files}")
    if changeset.total_bytes > caps.max_bytes:
        problems.append(f"{changeset.total_bytes} bytes exceed the cap of {caps.max_bytes}")
    seen: set[str] = set()
    files = {c.path for c in changeset.changes if c.kind == "file" and c.change != "deleted"}
    for change in changeset.changes:
        name = shown(change.path)
        why = path_problem(change.path)
        if why is not None:
            problems.append(f"{name}: {why}")
            continue
        if change.path in seen:
            problems.append(f"{name}: listed twice")
        seen.add(change.path)
        parents = [
            "/".join(change.path.split("/")[:depth])
            for depth in range(1, change.path.count("/") + 1)
        ]
        if any(parent in files for parent in parents):
            problems.append(f"{name}: its parent is listed as a file")
        if change.change == "deleted":
            continue
        if change.kind == "symlink":
            problems.append(f"{name}: symlink (to {shown(change.link_target or '')})")
        elif change.kind == "other":
            problems.append(f"{name}: device, fifo or socket")
        elif change.kind == "file" and change.nlink > 1:
            problems.append(f"{name}: hard link (nlink={change.nlink})")
        elif change.kind == "file" and not _SHA256.fullmatch(change.sha256):
            problems.append(f"{name}: no content hash (the box could not read the file)")
        if change.size < 0:
            problems.append(f"{name}: negative size")
    if problems:
        raise CommitRefused(refusal(problems))


# --------------------------------------------------------------------------- commit


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
    crash): paths, kinds, caps, each file's sha256 against the change set, which must be the
    checked one (held in the run's checkpoint, never in the staging folder), and the output
    folder's parents. Returns the relative paths written or deleted, in order.
    """
    validate(changeset, caps)
    problems = []
    for change in changeset.changes:
        if change.change == "deleted" or change.kind != "file":
            continue
        data = contents.get(change.path)
        if data is None:
            problems.append(f"{shown(change.path)}: staged content is missing")
        elif hashlib.sha256(data).hexdigest() != change.sha256:
            problems.append(
                f"{shown(change.path)}: staged content does not match the checked change set"
            )
    if problems:
        raise CommitRefused(refusal(problems))
    root_fd = output.open_root(Path(output_dir))
    try:
        for change in changeset.changes:
            why = output.target_problem(root_fd, change)
            if why is not None:
                problems.append(f"{shown(change.path)}: {why}")
        if problems:
            raise CommitRefused(refusal(problems))
        try:
            return output.publish(root_fd, changeset.changes, contents)
        except output.ThroughSymlink as exc:
            raise CommitRefused(
                refusal(["a path would be written through a symlink in the output folder"])
            ) from exc
        except OSError as exc:
            where = f" ({shown(os.fsdecode(exc.filename))})" if exc.filename else ""
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise CommitRefused(
                refusal([f"the output folder refused a write: {reason}{where}"])
            ) from exc
    finally:
        os.close(root_fd)


def _read_all(sandbox: Sandbox, changeset: ChangeSet, caps: CommitCaps) -> dict[str, bytes]:
    """Every file's bytes, checked against the snapshot, before anything is written."""
    contents: dict[str, bytes] = {}
    total = 0
    for change in changeset.changes:
        if change.change == "deleted" or change.kind != "file":
            continue
        name = shown(change.path)
        try:
            data = sandbox.read_file(change.path)
        except ExecutorCrashed:
            raise
        except SandboxError as exc:
            raise CommitRefused(
                refusal([f"{name} can no longer be read as a regular file in the box ({exc})"])
            ) from exc
        total += len(data)
        if total > caps.max_bytes:
            raise CommitRefused(
                refusal([f"files grew past the cap of {caps.max_bytes} bytes after the snapshot"])
            )
        if hashlib.sha256(data).hexdigest() != change.sha256:
            raise CommitRefused(refusal([f"{name} changed after the snapshot that was checked"]))
        contents[change.path] = data
    return contents


__all__ = ["apply", "collect", "diff", "path_problem", "validate"]
