"""Policy versions: every bundle the runtime activates is kept, recorded, and can come back.

A version is a bundle's content hash (`bundle.bundle_hash`: the non-test `.rego` files and
the `data.json` files). When a version becomes current, at start-up, on a hot reload or by
`runtime policy rollback`, its files are copied to `<state_dir>/policy/versions/<hex>/` and
an event goes to the audit log's reserved stream `@policy`. That stream *is* the history:
ordered, timestamped and hash-chained with every run's events, so `runtime audit verify`
covers it and there is no second record that could disagree with the audit.

Events in `@policy`:

    policy.activated       the first version recorded for this state dir
                           {to, from: null, source: startup, files_changed: null, snapshot}
    policy.changed         another version became current
                           {from, to, source: startup|reload, files_changed, snapshot}
    policy.rollback        a recorded version was written back into the policy folder
                           {from, to, source: rollback, files_changed, tests_left_alone,
                            unrecorded_kept}
    policy.reload_refused  a bundle that does not compile; the old policy stays
                           {rejected, current, error (the message's first line),
                            detail (its first line naming a file, when there is one)}
                           once per rejected hash
    policy.reload_failed   a reload that failed for another reason, e.g. the OPA server
                           did not start; the old policy stays and the reload is retried
                           {rejected, current, error}  (once per hash)

`files_changed` is `{"added": [...], "removed": [...], "modified": [...]}` (relative paths),
or null when the earlier version has no snapshot.

One lock file (`<state_dir>/policy/lock`, flock) serialises the watcher of every runtime on
this state dir and `runtime policy rollback`: a watcher never reads a rollback's files half
written, and a version is recorded once however many runtimes notice it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from runtime.audit.store import SYSTEM_STREAM_PREFIX, AuditLog
from runtime.errors import AgentRuntimeError, PolicyCompileError, UserError
from runtime.locks import FileLock
from runtime.models import Frozen
from runtime.policy.bundle import bundle_hash, check_bundle, first_line, load_bundle, policy_files

POLICY_STREAM = f"{SYSTEM_STREAM_PREFIX}policy"
ACTIVATED = "policy.activated"
CHANGED = "policy.changed"
ROLLBACK = "policy.rollback"
RELOAD_REFUSED = "policy.reload_refused"
RELOAD_FAILED = "policy.reload_failed"
HISTORY_KINDS = frozenset({ACTIVATED, CHANGED, ROLLBACK})
LOCK_TIMEOUT_S = 30.0

Source = Literal["startup", "reload", "rollback"]
_VERSION = re.compile(r"^sha256:[0-9a-f]{64}$")


class PolicyHistoryLocked(AgentRuntimeError):
    """Another process held the policy lock for too long (exit 1: try again)."""


@dataclass(frozen=True)
class BundleFiles:
    """The raw bytes of a bundle's files by relative path, and their version."""

    files: Mapping[str, bytes]
    version: str


def read_bundle_files(policy_dir: Path) -> BundleFiles:
    """Exactly the files a bundle is made of; none when the folder is missing."""
    root = policy_dir.resolve()
    files: dict[str, bytes] = {}
    if root.is_dir():
        for path in policy_files(root):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return BundleFiles(files=files, version=bundle_hash(files))


def short(version: str | None) -> str:
    """`sha256:` and the first 12 hex digits: enough to name a version, and a valid --to."""
    if not version:
        return "-"
    return version[: len("sha256:") + 12]


class FilesChanged(Frozen):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)


def files_changed(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> FilesChanged:
    return FilesChanged(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        modified=sorted(name for name in set(before) & set(after) if before[name] != after[name]),
    )


class VersionEntry(Frozen):
    """One version becoming current, as the `@policy` stream recorded it."""

    seq: int
    ts: str
    kind: str
    version: str
    source: str
    from_version: str | None = None
    files_changed: dict[str, list[str]] | None = None


class RollbackPlan(Frozen):
    """What a rollback would do, resolved before anything is written."""

    from_version: str
    to_version: str
    policy_dir: str


class RollbackResult(Frozen):
    from_version: str
    to_version: str
    policy_dir: str
    files_changed: FilesChanged
    tests_left_alone: list[str]
    unrecorded_kept: str | None = None


class PolicyHistory:
    """The versions of one project's policy folder, recorded in one state dir's audit log."""

    def __init__(self, state_dir: Path, audit: AuditLog, policy_dir: Path) -> None:
        self.root = state_dir.resolve() / "policy"
        self.versions_dir = self.root / "versions"
        self.policy_dir = policy_dir.resolve()
        self.audit = audit
        self._lock = FileLock(self.root / "lock")

    # ------------------------------------------------------------------ locking

    @contextlib.contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        with self._lock.hold(timeout) as held:
            if not held:
                raise PolicyHistoryLocked(
                    f"the policy lock {self._lock.path} was held by another process for "
                    f"{timeout:g}s; try again"
                )
            yield

    def try_lock(self) -> contextlib.AbstractContextManager[bool]:
        """The lock if free right now (the watcher skips a poll rather than wait)."""
        return self._lock.hold(0.0)

    # ------------------------------------------------------------------ reading

    def entries(self) -> list[VersionEntry]:
        """Every version that became current, oldest first."""
        return [
            VersionEntry(
                seq=event.seq,
                ts=event.ts,
                kind=event.kind,
                version=str(event.payload.get("to", "")),
                source=str(event.payload.get("source", "")),
                from_version=event.payload.get("from"),
                files_changed=event.payload.get("files_changed"),
            )
            for event in self.audit.events(POLICY_STREAM)
            if event.kind in HISTORY_KINDS
        ]

    def current(self) -> VersionEntry | None:
        entries = self.entries()
        return entries[-1] if entries else None

    def events(self) -> list[dict[str, Any]]:
        """The whole `@policy` stream (refusals included), oldest first."""
        return [
            {"seq": e.seq, "ts": e.ts, "kind": e.kind, **e.payload}
            for e in self.audit.events(POLICY_STREAM)
        ]

    def resolve(self, wanted: str) -> str:
        """The recorded version `wanted` names: a full version or a prefix of its hash."""
        text = wanted.strip().lower()
        prefix = text if text.startswith("sha256:") else f"sha256:{text}"
        if len(prefix) <= len("sha256:") or not re.fullmatch(r"sha256:[0-9a-f]*", prefix):
            raise UserError(f"{wanted!r} is not a policy version; see `runtime policy history`")
        matches = sorted({e.version for e in self.entries() if e.version.startswith(prefix)})
        if not matches:
            raise UserError(
                f"no policy version {wanted!r} in the history; see `runtime policy history`"
            )
        if len(matches) > 1:
            raise UserError(
                f"{wanted!r} names {len(matches)} policy versions; give more of the hash"
            )
        return matches[0]

    # ------------------------------------------------------------------ snapshots

    def snapshot_path(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise UserError(f"{version!r} is not a policy version")
        return self.versions_dir / version.removeprefix("sha256:")

    def has_snapshot(self, version: str) -> bool:
        return self.snapshot_path(version).is_dir()

    def snapshot(self, bundle: BundleFiles) -> Path:
        """Copy the bundle's files under versions/<hex>/ (once; written aside, then renamed)."""
        target = self.snapshot_path(bundle.version)
        if target.is_dir():
            return target
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = self.versions_dir / f".staging-{uuid.uuid4().hex}"
        try:
            for relative, content in bundle.files.items():
                path = staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            staging.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):  # another process got there first
                staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def load_snapshot(self, version: str) -> BundleFiles:
        """A version's files from its snapshot, checked against the version's hash."""
        path = self.snapshot_path(version)
        if not path.is_dir():
            raise UserError(
                f"policy version {short(version)} has no snapshot in {self.versions_dir}"
            )
        bundle = read_bundle_files(path)
        if bundle.version != version:
            raise UserError(
                f"the snapshot of {short(version)} in {path} was altered (its files hash to "
                f"{short(bundle.version)}); cannot use it"
            )
        return bundle

    # ------------------------------------------------------------------ recording

    def record_activation(
        self, version: str, source: Source, seen: Sequence[BundleFiles] = ()
    ) -> VersionEntry | None:
        """Snapshot and record `version` as current; None when it already is.

        `seen` are file sets read around the activation; the one whose hash is `version` is
        what gets kept (the folder may have moved on since). If none matches and the folder
        no longer holds it either, the version is recorded without a snapshot.
        """
        if not version:
            return None  # a remote server queried without local files: nothing to version
        with self.lock():
            last = self.current()
            if last is not None and last.version == version:
                return None
            bundle = self._files_of(version, seen)
            if bundle is not None:
                self.snapshot(bundle)
            changed: FilesChanged | None = None
            if last is not None and bundle is not None and self.has_snapshot(last.version):
                with contextlib.suppress(UserError):
                    changed = files_changed(self.load_snapshot(last.version).files, bundle.files)
            event = self.audit.append(
                POLICY_STREAM,
                ACTIVATED if last is None else CHANGED,
                {
                    "from": last.version if last else None,
                    "to": version,
                    "source": source,
                    "files_changed": changed.model_dump() if changed else None,
                    "snapshot": bundle is not None,
                },
            )
        return VersionEntry(
            seq=event.seq,
            ts=event.ts,
            kind=event.kind,
            version=version,
            source=source,
            from_version=last.version if last else None,
            files_changed=changed.model_dump() if changed else None,
        )

    def record_failure(
        self, kind: str, rejected: str, current: str, error: str, detail: str | None = None
    ) -> bool:
        """Record a refused or failed reload once per rejected hash since the last change."""
        with self.lock():
            for event in reversed(self.audit.events(POLICY_STREAM)):
                if event.kind in HISTORY_KINDS:
                    break
                if event.kind == kind and event.payload.get("rejected") == rejected:
                    return False
            payload = {"rejected": rejected, "current": current, "error": error}
            if detail:
                payload["detail"] = detail
            self.audit.append(POLICY_STREAM, kind, payload)
        return True

    def _files_of(self, version: str, seen: Sequence[BundleFiles]) -> BundleFiles | None:
        for bundle in seen:
            if bundle.version == version:
                return bundle
        with contextlib.suppress(OSError):
            on_disk = read_bundle_files(self.policy_dir)
            if on_disk.version == version:
                return on_disk
        return None

    # ------------------------------------------------------------------ rollback

    def plan_rollback(self, to: str | None = None) -> RollbackPlan:
        """The version a rollback would write (the previous one, or `to`), and what it replaces.

        Under the lock, so a reload a watcher is in the middle of is recorded first.
        """
        with self.lock():
            return self._plan_rollback(to)

    def _plan_rollback(self, to: str | None) -> RollbackPlan:
        entries = self.entries()
        if not entries:
            raise UserError(
                f"no policy version recorded in {self.root}: one is recorded when a runtime "
                "first loads the policies"
            )
        on_disk = read_bundle_files(self.policy_dir)
        if to is None:
            current = entries[-1].version
            earlier = [e.version for e in entries if e.version != current]
            if not earlier:
                raise UserError(
                    f"no previous policy version: {short(current)} is the only one recorded"
                )
            target = earlier[-1]
        else:
            target = self.resolve(to)
        if target == on_disk.version:
            raise UserError(f"{self.policy_dir} already holds policy version {short(target)}")
        return RollbackPlan(
            from_version=on_disk.version, to_version=target, policy_dir=str(self.policy_dir)
        )

    def rollback(self, to: str | None, check: Callable[[Path], None]) -> RollbackResult:
        """Write a recorded version back into the policy folder and record `policy.rollback`.

        `check` compile-checks the version's snapshot first (raises PolicyCompileError);
        nothing is written unless it passes. Only bundle files are replaced: `*_test.rego`
        files are left as they are. Edits in the folder that were never activated are kept
        as a snapshot first, so a rollback never loses work.
        """
        with self.lock():
            plan = self._plan_rollback(to)
            target = self.load_snapshot(plan.to_version)
            try:
                check(self.snapshot_path(plan.to_version))
            except PolicyCompileError as exc:
                raise PolicyCompileError(
                    f"policy version {short(plan.to_version)} does not compile, nothing "
                    f"changed: {first_line(str(exc))}"
                ) from exc
            on_disk = read_bundle_files(self.policy_dir)
            recorded = {e.version for e in self.entries()}
            kept: Path | None = None
            if on_disk.files and on_disk.version not in recorded:
                kept = self.snapshot(on_disk)
            replace_bundle_files(self.policy_dir, target, on_disk)
            written = read_bundle_files(self.policy_dir)
            if written.version != target.version:
                raise AgentRuntimeError(
                    f"{self.policy_dir} changed while the rollback wrote it (it now holds "
                    f"{short(written.version)}); run the rollback again"
                )
            result = RollbackResult(
                from_version=on_disk.version,
                to_version=target.version,
                policy_dir=str(self.policy_dir),
                files_changed=files_changed(on_disk.files, target.files),
                tests_left_alone=rego_tests(self.policy_dir),
                unrecorded_kept=str(kept) if kept else None,
            )
            self.audit.append(
                POLICY_STREAM,
                ROLLBACK,
                {
                    "from": result.from_version,
                    "to": result.to_version,
                    "source": "rollback",
                    "files_changed": result.files_changed.model_dump(),
                    "tests_left_alone": result.tests_left_alone,
                    "unrecorded_kept": result.unrecorded_kept,
                },
            )
        return result


def replace_bundle_files(policy_dir: Path, target: BundleFiles, current: BundleFiles) -> None:
    """Make the folder's bundle files exactly `target`'s; every other file is left alone.

    Each file is written aside and renamed over the old one, so no reader sees half a file.
    """
    for relative, content in sorted(target.files.items()):
        path = policy_dir / relative
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.rollback")
        staging.write_bytes(content)
        os.replace(staging, path)
    for relative in sorted(set(current.files) - set(target.files)):
        (policy_dir / relative).unlink(missing_ok=True)


def rego_tests(policy_dir: Path) -> list[str]:
    """The `*_test.rego` files of a folder: never part of a version, never touched."""
    if not policy_dir.is_dir():
        return []
    return sorted(
        path.relative_to(policy_dir).as_posix()
        for path in policy_dir.rglob("*_test.rego")
        if path.is_file()
    )


def compile_check(policy_dir: Path, *, engine: str, opa_binary: Path | None = None) -> None:
    """Compile a bundle the way the configured engine would; PolicyCompileError if it fails."""
    bundle = load_bundle(policy_dir)
    if engine == "embedded":
        from runtime.policy.embedded import DEFAULT_ENTRYPOINTS, compile_bundle

        compile_bundle(bundle, DEFAULT_ENTRYPOINTS)
        return
    check_bundle(bundle, opa=opa_binary)
