"""A run's process-local context and a call's staged effects: what graph state must not hold.

`RunContext` holds the resources of one run in this process (its box, its staging area and
held store, the run's label store: which values came from trusted and from untrusted
content, `runtime.provenance`); `Staged` holds one executed call's effects
between execute and commit, file bytes and memory-write texts included. Both are rebuilt
after a pause or a crash from the checkpointed state, the staging area and the held store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import ConfigError, UserError
from runtime.graph_state import StagedEffects
from runtime.models import ChangeSet, Decision, PendingAction, Trust
from runtime.provenance import CallProvenance, LabelStore, argument_provenance

if TYPE_CHECKING:
    from runtime.agents import Team
    from runtime.held import HeldStore
    from runtime.sandbox.base import Sandbox
    from runtime.staging import StagingArea
    from runtime.toolkit.base import Tool, ToolOutcome


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
    # Which values the run has seen in trusted and in untrusted content (checkpointed as
    # the graph state's `labels`); the task alone until the runtime seeds it.
    labels: LabelStore = field(default_factory=LabelStore)
    untrusted_sources: list[str] = field(default_factory=list)
    # The memory decisions of the call being executed: (operation, namespace, decision).
    memory_access: list[tuple[str, str, Decision]] = field(default_factory=list)
    # Memories the call being executed recalled: (namespace, text, trust it was written with).
    recalls: list[tuple[str, str, str]] = field(default_factory=list)

    def provenance(self, tool: Tool, args: dict[str, Any]) -> CallProvenance:
        """Where each argument of a call to `tool` came from, by value (schema 2)."""
        return argument_provenance(self.labels, args, tool.sinks, tool.effect.value)

    def args_untrusted(self, tool: Tool, args: dict[str, Any]) -> bool:
        """Whether any argument holds untrusted (or no longer tellable) content."""
        return "untrusted" in self.provenance(tool, args).legacy().values()

    def record_output(
        self, tool: Tool, outcome: ToolOutcome, args_untrusted: bool, forced: bool = False
    ) -> None:
        """Label what a call brought into the run, for the arguments of later calls.

        A host tool's result by its declared trust (per field, with dotted paths and `*`,
        for a structured result) unless the call returned its own label; a sandboxed
        tool's by box-level taint (once the box has taken in untrusted content, input
        files or untrusted arguments included, all it computes is untrusted); memory
        recalls by the label they were written with. `forced`: the decision's
        `label_output: untrusted` obligation. A failed call's text is untrusted: an error
        may echo the call's own arguments, which must never become trusted that way.
        """
        source = outcome.source or tool.name
        value = outcome.value if outcome.value is not None else outcome.result
        for namespace, text, trust in self.recalls:
            self.labels.add_memory_recall(f"memory:{namespace}", [(text, trust)])
        structured = outcome.value is not None
        if not outcome.ok or forced:
            self.labels.add_value(value, "untrusted", source)
        elif tool.in_sandbox:
            tainted = args_untrusted or bool(self.input_files) or outcome.trust == Trust.UNTRUSTED
            self.labels.add_sandbox_output(source, value, box_tainted=tainted)
        elif structured and tool.field_trust:
            self.labels.add_tool_output(source, value, tool.output_trust)
        elif structured and outcome.field_trust:
            trust_map = {name: trust.value for name, trust in outcome.field_trust.items()}
            self.labels.add_tool_output(source, value, trust_map)
        else:
            self.labels.add_tool_output(source, value, outcome.trust.value)
        if outcome.trust == Trust.UNTRUSTED and source not in self.untrusted_sources:
            self.untrusted_sources.append(source)

    def restore(self, state: Mapping[str, Any], trusted_data: Mapping[str, Any]) -> None:
        """A resumed run's labels and untrusted sources, from its checkpointed state."""
        self.labels = run_labels(self.task, trusted_data, state)
        self.untrusted_sources = list(state.get("untrusted_sources", []))

    def provenance_of_writes(self, agent: str, args_tainted: bool) -> tuple[str, Trust]:
        """The source and trust of what an agent stores now: set by the runtime from what
        the run has seen, never from the agent's arguments. Once any untrusted content has
        entered the run, anything the agent writes may be derived from it."""
        if args_tainted or self.untrusted_sources:
            seen = ",".join(self.untrusted_sources) or "untrusted arguments"
            return f"agent:{agent} after {seen}", Trust.UNTRUSTED
        return f"agent:{agent}", Trust.TRUSTED


def run_labels(
    task: str, trusted_data: Mapping[str, Any], state: Mapping[str, Any] | None = None
) -> LabelStore:
    """A run's label store: read back from its checkpointed state, or new (the task and the
    principal's trusted data, both trusted) when the run starts."""
    if state and "labels" in state:
        try:
            return LabelStore.from_state(state["labels"])
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    store = LabelStore.for_run(task, trusted_data)
    if state and (state.get("untrusted_sources") or state.get("untrusted_fragments")):
        # Checkpointed before labels were kept, after untrusted content came in: what it
        # saw is unknown, so a value seen nowhere is treated as untrusted.
        store.overflowed = True
    return store


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
