"""The staging area: a call's checked side effects, kept on the host until they commit.

Between the safety check and the commit, the bytes of a call's changed files are written
under `<state_dir>/runs/<run_id>/staged/step-<n>/`; the rest of its effects (memory writes,
the text the agent will see, the change set with each file's hash) travel in the run's
checkpointed graph state (`PendingCall`, runtime/graph_state.py). Together they let a run pause for a human
(`escalate`) and resume in another process after its box is gone, and let a run killed in
the middle of a commit finish it on `runtime runs resume` without running the tool again.
Each step directory lands by rename, so a reader sees all of it or none.

The staging folder is never trusted for what may commit: its `manifest.json` only says which
file holds which path's bytes. The change set that counts (each file's path, kind and
sha256 as checked) is the one in the checkpointed graph state; `changeset.apply` refuses any
staged byte whose hash is not the checked one, so bytes swapped in while a run waits for a
human (with or without a matching edit of the manifest) never reach the output folder.
One consequence: a run killed after a redacted step's bytes were saved but before its
checkpoint recorded the redacted hashes resumes with the pre-redaction ones, and that
step's commit is refused (the agent is told; nothing unchecked is written).

The files are not fsynced: what they guard against is the runtime's process dying (kill -9,
OOM, a crash), and the kernel keeps written pages across that. After a power loss a step's
files may be missing or torn; then the hash check refuses the commit and nothing unchecked
is written. (bench/bench_pipeline.py, fs.write: the commit stage took 26.6 ms p50 with
these fsyncs and 1.4 ms without, two runs a few minutes apart on the same loaded machine.)

The directory is private (0700): staged content has not yet been redacted when a verdict
escalates it. It is removed once the step commits or is discarded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

MANIFEST = "manifest.json"
_STAGED_NAME = re.compile(r"f[0-9]{5}")


class StagingArea:
    """Per-run staged file contents on disk, one directory per step."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, step: int) -> Path:
        return self.root / f"step-{step}"

    def save(self, step: int, contents: dict[str, bytes]) -> Path:
        """Write the step's checked file bytes (replaces an earlier save)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        temp = self.root / f".step-{step}.{uuid.uuid4().hex[:8]}.tmp"
        temp.mkdir(mode=0o700)
        try:
            files: dict[str, str] = {}
            for index, (path, data) in enumerate(sorted(contents.items())):
                name = f"f{index:05d}"
                _write_private(temp / name, data)
                files[path] = name
            manifest = {"step": step, "files": files}
            _write_private(temp / MANIFEST, json.dumps(manifest).encode())
            target = self.path(step)
            if target.exists():
                shutil.rmtree(target)
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return self.path(step)

    def load_contents(self, step: int) -> dict[str, bytes] | None:
        """The saved bytes of `step` by path, or None when nothing was staged.

        Not yet trusted: the caller applies them against the checkpointed change set,
        whose hashes `changeset.apply` checks (see the module docstring).
        """
        target = self.path(step)
        manifest_path = target / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_bytes())
            files = manifest["files"]
            if not isinstance(files, dict):
                raise TypeError("files is not an object")
            return {str(path): _read_private(target, str(name)) for path, name in files.items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # unreadable: every staged file counts as missing, nothing commits

    def drop(self, step: int) -> None:
        shutil.rmtree(self.path(step), ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only when no other step is staged


def _read_private(folder: Path, name: str) -> bytes:
    """A staged file by its manifest name: only `f<digits>` inside the step, never a link."""
    if not _STAGED_NAME.fullmatch(name):
        raise ValueError(f"unexpected staged file name {name!r}")
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
