"""What the team graph carries from node to node, and what its checkpoints may hold.

The state between graph nodes is `RunState`; the tool call in flight is one frozen
`PendingCall`, which each pipeline node replaces by a copy with its own result (the
decision, the verdict, the staged effects). Checkpoints hold no raw tool arguments, no
memory-write text and no unchecked answer: those stay in the run's held store
(`runtime/held.py`) and the state keeps their sha256 and a digest (`digest_args`).

Every type the state can hold is registered with the checkpoint serializer
(`checkpoint_serializer`), which refuses any other type on load: a checkpoint database
edited to name some other class cannot make the runtime construct it.
"""

from __future__ import annotations

import hashlib
import operator
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import Field

from runtime.models import (
    ChangeSet,
    Decision,
    DecisionOutcome,
    FileChange,
    Finding,
    Frozen,
    ModelTurn,
    ToolCall,
    Trust,
    Verdict,
)


def digest_args(args: dict[str, Any]) -> dict[str, Any]:
    """Args as the audit and the graph state keep them: strings by hash, never raw."""
    kept: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str):
            encoded = value.encode("utf-8", errors="surrogatepass")
            kept[key] = {"sha256": hashlib.sha256(encoded).hexdigest(), "len": len(value)}
        elif isinstance(value, int | float | bool) or value is None:
            kept[key] = value
        else:
            kept[key] = {"type": type(value).__name__}
    return kept


class MemoryWrite(Frozen):
    """A staged memory write; its text is held by sha256, its source and trust are set by
    the runtime from the run's provenance, never by the agent."""

    namespace: str
    text_ref: str
    source: str
    trust: Trust


class StagedEffects(Frozen):
    """What an executed call left waiting for its commit, without file bytes or texts."""

    result: str
    ok: bool = True
    trust: Trust = Trust.TRUSTED
    source: str | None = None
    changes: ChangeSet = Field(default_factory=ChangeSet)
    memory_writes: list[MemoryWrite] = Field(default_factory=list)


class PendingCall(Frozen):
    """One tool call on its way through authorize -> execute -> check -> commit.

    `call.args` is the digest of the arguments (`digest_args`); the raw arguments are held
    under `args_ref`. `elapsed_ms` adds up the time the pipeline nodes spent on the call (a
    pause for a human, or a crash and a resume, adds nothing).
    """

    call: ToolCall
    args_ref: str
    provenance: dict[str, Trust] = Field(default_factory=dict)
    decision: Decision | None = None
    approved: bool = False
    outgoing: Verdict | None = None  # what a host tool would send, checked before it ran
    verdict: Verdict | None = None
    effects: StagedEffects | None = None
    sandbox_id: str | None = None
    elapsed_ms: float = 0.0
    model_turn: ModelTurn | None = None  # the model call that proposed it

    @property
    def outcome(self) -> DecisionOutcome:
        """The decision as reported: `require_approval` stays so after a human approved."""
        if self.approved:
            return "require_approval"
        return self.decision.outcome if self.decision else "allow"

    @property
    def policy_version(self) -> str:
        return self.decision.policy_version if self.decision else ""

    def timed(self, ms: float) -> PendingCall:
        return self.model_copy(update={"elapsed_ms": self.elapsed_ms + ms})


class PendingAnswer(Frozen):
    """An agent's final answer on its way through the check; the text is held by sha256."""

    agent: str
    step: int
    answer_ref: str
    verdict: Verdict | None = None
    text_ref: str | None = None  # what a release would publish (redactions applied)


class RunState(TypedDict, total=False):
    run_id: str
    task: str
    active: str
    turns: dict[str, int]
    step: int
    messages: Annotated[list[dict[str, Any]], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]
    calls_so_far: dict[str, int]
    denials: int
    pending: PendingCall | None
    answer: PendingAnswer | None
    refusal: str | None
    route: str
    status: str
    output: str
    reason: str | None
    labels: dict[str, Any]  # the run's LabelStore (runtime.provenance), as JSON
    untrusted_sources: list[str]
    alternatives: list[str]


CHECKPOINT_TYPES: tuple[type, ...] = (
    PendingCall,
    PendingAnswer,
    StagedEffects,
    MemoryWrite,
    ToolCall,
    Decision,
    Verdict,
    Finding,
    ChangeSet,
    FileChange,
    Trust,
    ModelTurn,
)


def checkpoint_serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, loading only LangGraph's safe types and `CHECKPOINT_TYPES`."""
    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)
