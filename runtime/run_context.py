"""A run's process-local context and a call's staged effects: what graph state must not hold.

`RunContext` holds the resources of one run in this process (its box, its staging area and
held store, the untrusted content seen so far); `Staged` holds one executed call's effects
between execute and commit, file bytes and memory-write texts included. Both are rebuilt
after a pause or a crash from the checkpointed state, the staging area and the held store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import ConfigError
from runtime.graph_state import StagedEffects
from runtime.models import ChangeSet, Decision, PendingAction, Trust

if TYPE_CHECKING:
    from runtime.agents import Team
    from runtime.held import HeldStore
    from runtime.sandbox.base import Sandbox
    from runtime.staging import StagingArea

_MIN_FRAGMENT = 16


@dataclass
class Staged:
    """What one allowed call left waiting for the check: never in graph state."""

    effects: StagedEffects
    texts: list[str]  # memory-write texts, in the order of effects.memory_writes
    sandbox_id: str | None
    exec_ms: float
    args_tainted: bool = False
    denied: Decision | None = None  # a memory access the policy refused: nothing commits
    contents: dict[str, bytes] | None = None  # changed files' bytes, read once by check
    actions: list[PendingAction] | None = None  # built once by check, reused by commit

    @property
    def outcome(self) -> StagedEffects:
        """The text for the agent and whether the tool succeeded (with the rest)."""
        return self.effects

    @property
    def changes(self) -> ChangeSet:
        return self.effects.changes


@dataclass
class RunContext:
    """Per-run, process-local resources the graph's state must not hold."""

    run_id: str
    task: str
    team: Team
    tenant: str
    output_dir: Path
    input_files: frozenset[str] = frozenset()
    inputs_dir: Path | None = None
    sandbox: Sandbox | None = None
    resumed: bool = False
    staging: StagingArea | None = None
    held: HeldStore | None = None
    staged: dict[int, Staged] = field(default_factory=dict)
    untrusted_fragments: list[str] = field(default_factory=list)
    untrusted_sources: list[str] = field(default_factory=list)
    # The memory decisions of the call being executed: (operation, namespace, decision).
    memory_access: list[tuple[str, str, Decision]] = field(default_factory=list)

    def label_args(self, args: dict[str, Any]) -> dict[str, Trust]:
        """An argument is untrusted when it carries a line of untrusted content seen so far."""
        labels: dict[str, Trust] = {}
        for key, value in args.items():
            text = value if isinstance(value, str) else repr(value)
            tainted = any(fragment in text for fragment in self.untrusted_fragments)
            labels[key] = Trust.UNTRUSTED if tainted else Trust.TRUSTED
        return labels

    def remember_untrusted(self, source: str | None, texts: list[str]) -> None:
        """Note untrusted content a tool brought in: its source and its distinctive lines
        and address tokens, so later arguments carrying them are labelled untrusted."""
        if source and source not in self.untrusted_sources:
            self.untrusted_sources.append(source)
        for text in texts:
            for line in text.splitlines():
                line = line.strip()
                if len(line) >= _MIN_FRAGMENT and line not in self.untrusted_fragments:
                    self.untrusted_fragments.append(line)
                for word in line.split():
                    if ("@" in word or "://" in word) and len(word) >= 6:
                        self.untrusted_fragments.append(word.strip(".,;:'\"()<>"))

    def provenance_of_writes(self, agent: str, args_tainted: bool) -> tuple[str, Trust]:
        """The source and trust of what an agent stores now: set by the runtime from what
        the run has seen, never from the agent's arguments. Once any untrusted content has
        entered the run, anything the agent writes may be derived from it."""
        if args_tainted or self.untrusted_sources:
            seen = ",".join(self.untrusted_sources) or "untrusted arguments"
            return f"agent:{agent} after {seen}", Trust.UNTRUSTED
        return f"agent:{agent}", Trust.TRUSTED


def text_ref(text: str) -> str:
    """The sha256 a held text is stored under."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def input_files(input_dir: Path | None) -> frozenset[str]:
    """The files given with `--input`, relative to their folder; symlinks refused."""
    if input_dir is None:
        return frozenset()
    if input_dir.exists() and not input_dir.is_dir():
        raise ConfigError(
            f"--input {input_dir} is a file, not a folder: put it in a folder and pass that"
        )
    if not input_dir.is_dir():
        raise ConfigError(f"input folder {input_dir} does not exist")
    files = []
    for path in sorted(input_dir.rglob("*")):
        if path.is_symlink():
            raise ConfigError(f"input {path} is a symlink; inputs must be regular files")
        if path.is_file():
            files.append(path.relative_to(input_dir).as_posix())
    return frozenset(files)
