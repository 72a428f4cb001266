"""Hot reload: a daemon thread that notices edits to the policy folder and reloads the engine.

Every `interval_s` it stats the bundle's files (relative path, mtime, size, inode; no
reading). When that signature changes it waits one more interval for the edit to settle,
then reads the files and hashes them; only a new hash reaches the engine's `reload()`,
which swaps atomically and refuses a bundle that does not compile (the old one keeps
answering). Outcomes go to the policy history (`versions.py`):

- reloaded: the version is snapshotted and recorded (`policy.changed`, source `reload`),
  and `on_change` is told (the Runtime notes it in the runs in progress);
- refused (PolicyCompileError): `policy.reload_refused` with the rejected hash and the first
  line of the compiler's message, once per hash; the same files are not tried again;
- failed for another reason (e.g. OpaUnavailable, the new server did not start):
  `policy.reload_failed` once per hash, and the reload is tried again on the next poll.

While `runtime policy rollback` holds the policy lock the watcher skips its poll, so it never
reads a rollback's files half written. A poll that raises is counted and kept in
`last_error`; the thread never dies of it.

The managed OPA server started by a reload belongs to this thread (PR_SET_PDEATHSIG, see
opa/process.py): stop the watcher only when the engine is closed too, as `Runtime.close()`
does. Should it happen anyway, the engine restarts its server on the next query.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runtime.errors import AgentRuntimeError, PolicyCompileError
from runtime.policy.base import PolicyEngine
from runtime.policy.bundle import first_line, policy_files
from runtime.policy.versions import (
    RELOAD_FAILED,
    RELOAD_REFUSED,
    PolicyHistory,
    read_bundle_files,
)

Signature = tuple[tuple[str, int, int, int], ...]
FILE_ROW = re.compile(r"[^\s:]+\.rego:\d+: .+$")


class ReloadableEngine(PolicyEngine, Protocol):
    """A PolicyEngine that can swap in a new bundle and refuse a broken one."""

    def reload(self, policy_dir: str | os.PathLike[str] | None = None) -> str: ...


@dataclass(frozen=True)
class PolicyChange:
    """The engine now answers with `to_version` instead of `from_version`."""

    from_version: str
    to_version: str
    source: str


def error_detail(exc: Exception) -> str | None:
    """The `file:row: problem` part of a compile error: a later line of OPA's (its first
    says `2 errors occurred during loading`), the tail of the embedded engine's one line."""
    message = str(exc)
    for line in message.splitlines()[1:]:
        if ": rego_" in line:
            return line.strip()
    match = FILE_ROW.search(first_line(message))
    return match.group(0) if match else None


def stat_signature(policy_dir: Path) -> Signature:
    """What the bundle's files look like on disk, without reading them."""
    entries = []
    for path in policy_files(policy_dir):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed between listing and stat: the next poll sees it gone
        relative = path.relative_to(policy_dir).as_posix()
        entries.append((relative, stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(entries)


class PolicyWatcher:
    """Polls a policy folder and hot-reloads `engine`; see the module docstring."""

    def __init__(
        self,
        engine: ReloadableEngine,
        policy_dir: Path,
        history: PolicyHistory,
        *,
        interval_s: float = 1.0,
        on_change: Callable[[PolicyChange], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("PolicyWatcher interval_s must be positive")
        self.engine = engine
        self.policy_dir = policy_dir.resolve()
        self.history = history
        self.interval_s = interval_s
        self.on_change = on_change
        self.polls = 0
        self.errors = 0
        self.last_error: str | None = None
        # None: the first polls read and hash once, so an edit made while the engine was
        # starting is not missed.
        self._seen: Signature | None = None
        self._pending: Signature | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="policy-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll(self) -> PolicyChange | None:
        """One look at the folder; the change it made, if any."""
        signature = stat_signature(self.policy_dir)
        if signature == self._seen:
            self._pending = None
            return None
        if signature != self._pending:
            self._pending = signature  # let an edit in progress settle for one interval
            return None
        with self.history.try_lock() as locked:
            if not locked:
                return None  # a rollback is writing the files: look again next time
            return self._reload(signature)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception as exc:
                # A bad poll (a file vanishing, a full disk) must not end hot reload.
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.polls += 1

    def _reload(self, signature: Signature) -> PolicyChange | None:
        try:
            files = read_bundle_files(self.policy_dir)
        except OSError:
            return None  # mid-edit; the signature will change again
        current = self.engine.policy_version
        if files.version == current:
            self._seen = signature
            return None
        try:
            version = self.engine.reload(self.policy_dir)
        except PolicyCompileError as exc:
            self._seen = signature  # the same files would be refused again
            self.history.record_failure(
                RELOAD_REFUSED, files.version, current, first_line(str(exc)), error_detail(exc)
            )
            return None
        except AgentRuntimeError as exc:
            # Not the policy's fault (e.g. the new OPA server did not start): retry next poll.
            self.history.record_failure(RELOAD_FAILED, files.version, current, first_line(str(exc)))
            return None
        self._seen = signature
        entry = self.history.record_activation(version, "reload", seen=[files])
        if entry is None:
            # Already recorded, e.g. by the rollback that wrote these files.
            entry = self.history.current()
        source = entry.source if entry is not None and entry.version == version else "reload"
        change = PolicyChange(from_version=current, to_version=version, source=source)
        if self.on_change is not None:
            self.on_change(change)
        return change
