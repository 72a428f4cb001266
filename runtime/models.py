"""Data that crosses a stage boundary: frozen pydantic models, one definition each.

Every stage (policy, sandbox, safety, memory, audit) takes and returns these types, so a
stage can be swapped without its neighbours noticing. JSON Schemas users see (policy input,
decision, `--json` output) are generated from these models, never written by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from runtime.provenance.schema import ProvenanceV2

SCHEMA_VERSION: Final = "1"


class Frozen(BaseModel):
    """Base for every model crossing a seam: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Trust(StrEnum):
    """Where a piece of content came from: the user (trusted) or anywhere else."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


class Effect(StrEnum):
    """What a tool does to the world; policies gate the risky classes."""

    READ = "read"
    WRITE = "write"
    EXEC = "exec"
    EXTERNAL = "external"
    EGRESS = "egress"  # a read that sends data out (e.g. fetching a URL with a query)


# --------------------------------------------------------------------------- proposal


class ToolCall(Frozen):
    """An agent's proposal to run one tool; nothing has happened yet."""

    run_id: str
    step: int
    agent: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    call_id: str


# --------------------------------------------------------------------------- policy


class Subject(Frozen):
    agent: str
    team: str
    roles: list[str] = Field(default_factory=list)
    tenant: str = "default"


class Action(Frozen):
    tool: str
    effect: Effect
    args: dict[str, Any] = Field(default_factory=dict)


class InputProvenance(Frozen):
    """`input.provenance` in policy input schema 1 (accepted for one more release)."""

    args: dict[str, Trust] = Field(default_factory=dict)
    untrusted_sources_seen: list[str] = Field(default_factory=list)


class PolicyContext(Frozen):
    run_id: str
    step: int
    task: str
    calls_so_far: dict[str, int] = Field(default_factory=dict)


class Risk(Frozen):
    score: float = 0.0


class PolicyInput(Frozen):
    """What Rego sees as `input` for `data.runtime.authz.decision` (a public contract).

    Schema 2: `provenance.args[name]` says where each argument came from (`ArgLabel`:
    trust, sources, via, sink); `provenance.legacy_args` keeps the schema-1 shape.
    """

    schema_version: Literal["2"] = "2"
    subject: Subject
    action: Action
    provenance: ProvenanceV2 = Field(default_factory=ProvenanceV2)
    context: PolicyContext
    risk: Risk = Field(default_factory=Risk)


class PolicyInputV1(Frozen):
    """Policy input schema 1 (`provenance.args[name]` is "trusted" or "untrusted"): still
    accepted for one release, and decided as before."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="PolicyInputV1")
    schema_name: ClassVar[str] = "PolicyInput"  # what errors call it: the same contract

    schema_version: Literal["1"] = SCHEMA_VERSION
    subject: Subject
    action: Action
    provenance: InputProvenance = Field(default_factory=InputProvenance)
    context: PolicyContext
    risk: Risk = Field(default_factory=Risk)


AnyPolicyInput = Annotated[PolicyInput | PolicyInputV1, Field(discriminator="schema_version")]


def policy_input_model(document: Any) -> type[PolicyInput] | type[PolicyInputV1]:
    """The model an authz input document is validated against, by its `schema_version`.

    A document without one is schema 1 (its default) unless its provenance has the
    schema-2 shape (an argument labelled with an object, or a schema-2-only key).
    """
    if isinstance(document, PolicyInput | PolicyInputV1):
        return type(document)
    if not isinstance(document, Mapping):
        return PolicyInput
    version = document.get("schema_version")
    if version == "1":
        return PolicyInputV1
    if version is not None:
        return PolicyInput
    provenance = document.get("provenance")
    if not isinstance(provenance, Mapping):
        return PolicyInputV1
    args = provenance.get("args")
    labels = args.values() if isinstance(args, Mapping) else []
    if any(isinstance(label, dict) for label in labels) or (
        {"legacy_args", "overflowed"} & provenance.keys()
    ):
        return PolicyInput
    return PolicyInputV1


class MemoryAccessInput(Frozen):
    """What Rego sees as `input` for `data.runtime.memory.decision`."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    subject: Subject
    operation: Literal["read", "write"]
    namespace: str
    run_id: str


DecisionOutcome = Literal["allow", "deny", "require_approval"]


class DecisionDocument(Frozen):
    """What `data.runtime.authz.decision` and `data.runtime.memory.decision` must evaluate to.

    `require_approval: true` pauses the call for a human; `reasons` are plain sentences shown
    to the model and the user; `obligations` constrain an allowed call (e.g. `timeout_s`);
    `alternatives` are safe ways to do what a refused call wanted (e.g. the tools the agent
    may use instead), plain sentences, empty when none exists.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="Decision")

    allow: StrictBool
    require_approval: StrictBool = False
    reasons: list[StrictStr] = Field(default_factory=list)
    obligations: dict[str, Any] = Field(default_factory=dict)
    alternatives: list[StrictStr] = Field(default_factory=list)


class Decision(DecisionDocument):
    """A policy answer: the document a policy produced, plus where it came from.

    `policy_version` is the content hash of the loaded bundle; `decision_id` is OPA's id for
    the evaluation (None on the embedded engine or from the cache).
    """

    policy_version: str = ""
    decision_id: str | None = None
    engine: str = ""

    @property
    def outcome(self) -> DecisionOutcome:
        if self.require_approval:
            return "require_approval"
        return "allow" if self.allow else "deny"

    @classmethod
    def fail_closed(cls, why: str, *, policy_version: str = "", engine: str = "") -> Decision:
        """The decision every engine failure turns into: deny, saying why."""
        return cls(
            allow=False,
            reasons=[f"deny (fail closed: {why})"],
            policy_version=policy_version,
            engine=engine,
        )


# --------------------------------------------------------------------------- sandbox


class ExecResult(Frozen):
    """What one request to the in-box executor produced."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int
    duration_ms: float
    timed_out: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated


FileKind = Literal["file", "dir", "symlink", "other"]


class FileEntry(Frozen):
    """One path in a workspace snapshot, relative to /workspace."""

    path: str
    kind: FileKind
    size: int = 0
    sha256: str = ""
    mode: int = 0
    nlink: int = 1
    link_target: str | None = None


ChangeKind = Literal["added", "modified", "deleted"]


class FileChange(Frozen):
    path: str
    change: ChangeKind
    kind: FileKind
    size: int = 0
    sha256: str = ""
    nlink: int = 1
    link_target: str | None = None


class ChangeSet(Frozen):
    """The pending effect of a call on /workspace; nothing leaves the box until commit."""

    changes: list[FileChange] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def total_bytes(self) -> int:
        return sum(c.size for c in self.changes if c.change != "deleted")


# --------------------------------------------------------------------------- safety


class PendingKind(StrEnum):
    CHANGESET = "changeset"
    MEMORY_WRITE = "memory_write"
    MESSAGE = "message"
    ANSWER = "answer"


class ContentItem(Frozen):
    """One piece of text an action would emit, with where it would go."""

    location: str
    text: str


class PendingAction(Frozen):
    """A staged side effect waiting for the safety node's verdict."""

    kind: PendingKind
    run_id: str
    step: int
    agent: str
    tool: str
    items: list[ContentItem] = Field(default_factory=list)
    trust: Trust = Trust.TRUSTED
    untrusted_sources_seen: list[str] = Field(default_factory=list)

    def idempotency_key(self) -> str:
        """Same action, same key: a resumed run never commits an action twice."""
        digest = hashlib.sha256()
        for part in (self.run_id, str(self.step), self.agent, self.tool, self.kind.value):
            digest.update(part.encode())
            digest.update(b"\0")
        for item in self.items:
            digest.update(item.location.encode())
            digest.update(b"\0")
            digest.update(hashlib.sha256(item.text.encode()).digest())
        return digest.hexdigest()


Severity = Literal["low", "medium", "high", "critical"]


class Finding(Frozen):
    """A detector hit. `value_hash` identifies the matched text without storing it."""

    type: str
    detector: str
    location: str
    start: int
    end: int
    severity: Severity
    value_hash: str

    def summary(self) -> dict[str, str]:
        """The finding as the audit and a reviewer see it: where and what, never the value."""
        return {
            "type": self.type,
            "detector": self.detector,
            "location": self.location,
            "severity": self.severity,
            "value_hash": self.value_hash,
        }


VerdictKind = Literal["pass", "redact", "block", "escalate"]
"""The safety verdicts (their order here is the order the JSON Schema lists them in)."""

VERDICT_STRICTNESS: Final[dict[VerdictKind, int]] = {
    "pass": 0,
    "redact": 1,
    "escalate": 2,
    "block": 3,
}
"""How strict each verdict is: of several actions' verdicts, the strictest wins."""


class Verdict(Frozen):
    """The safety node's answer; `alternatives` are safe ways to do what was refused."""

    verdict: VerdictKind
    findings: list[Finding] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)

    @classmethod
    def strictest(cls, verdicts: list[Verdict]) -> Verdict:
        """One verdict for several actions: the strictest kind, with every finding and
        reason, and the alternatives of the verdicts of that kind."""
        if not verdicts:
            return cls(verdict="pass")
        worst = max(verdicts, key=lambda v: VERDICT_STRICTNESS[v.verdict])
        alternatives = [a for v in verdicts if v.verdict == worst.verdict for a in v.alternatives]
        return cls(
            verdict=worst.verdict,
            findings=[f for v in verdicts for f in v.findings],
            reasons=[r for v in verdicts for r in v.reasons],
            alternatives=list(dict.fromkeys(alternatives)),
        )


# --------------------------------------------------------------------------- memory


class MemoryProvenance(Frozen):
    writer_agent: str
    run_id: str
    source: str
    trust: Trust
    content_hash: str = ""
    created_at: str = ""


class MemoryRecord(Frozen):
    id: str
    namespace: str
    text: str
    provenance: MemoryProvenance
    distance: float | None = None


# --------------------------------------------------------------------------- run output

RunStatus = Literal[
    "completed",
    "completed_with_blocks",
    "blocked",
    "awaiting_approval",
    "failed",
    "budget_exceeded",
]
"""`completed_with_blocks`: the run completed, and on the way a call was denied or blocked
or content was redacted (`blocked_steps`, `redacted_steps` say which)."""


class ModelTurn(Frozen):
    """One chat-model call as progress and `exec --json` show it (from its `model.turn`
    record): who called, which model, the tokens the provider reported, how long it took."""

    agent: str
    provider: str = ""
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0

    @classmethod
    def of(cls, record: Mapping[str, Any], agent: str) -> ModelTurn:
        fields = {k: record[k] for k in cls.model_fields if k != "agent" and k in record}
        return cls(agent=agent, **fields)


class Usage(Frozen):
    """What a run's model calls cost: the sum of its `model.turn` records."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def of(cls, records: Iterable[Mapping[str, Any]]) -> Usage:
        rows = list(records)
        return cls(
            model_calls=len(rows),
            input_tokens=sum(int(r.get("tokens_in") or 0) for r in rows),
            output_tokens=sum(int(r.get("tokens_out") or 0) for r in rows),
        )


class StepReport(Frozen):
    """One tool call as the user sees it in `runtime exec --json`. `model_turn` is the
    model call whose reply proposed it (None for scripted models, and for the later calls
    of a reply that proposed several: they cost no call of their own)."""

    step: int
    agent: str
    tool: str
    decision: DecisionOutcome
    reasons: list[str] = Field(default_factory=list)
    verdict: VerdictKind | None = None
    sandbox_id: str | None = None
    duration_ms: float
    policy_version: str = ""
    alternatives: list[str] = Field(default_factory=list)
    model_turn: ModelTurn | None = None


class RunResult(Frozen):
    """The `--json` document of `runtime exec`."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    run_id: str
    status: RunStatus
    output: str
    steps: list[StepReport] = Field(default_factory=list)
    output_dir: str | None = None
    reason: str | None = None
    alternatives: list[str] = Field(default_factory=list)
    blocked_steps: list[int] = Field(default_factory=list)
    redacted_steps: list[int] = Field(default_factory=list)
    # Every model call of the run (answers and handoffs too), from the audit's `model.turn`
    # events; None where it was not counted.
    usage: Usage | None = None

    def raise_for_status(self) -> RunResult:
        """This result, or the error a blocked or failed run stands for (as httpx's
        `Response.raise_for_status`): `PolicyDenied` (carrying the refusing decision) when a
        denial ended the run, `SafetyBlocked` when the safety check did, `RunFailed` for a
        failed run. A completed run, or one awaiting approval, is returned as is."""
        from runtime.errors import PolicyDenied, RunFailed, SafetyBlocked

        reason = self.reason or f"run {self.run_id} ended {self.status}"
        if self.status == "failed":
            raise RunFailed(reason)
        if self.status != "blocked":
            return self
        last = self.steps[-1] if self.steps else None
        if last is not None and last.decision == "deny" and last.verdict is None:
            decision = Decision(
                allow=False,
                reasons=list(last.reasons),
                alternatives=list(last.alternatives),
                policy_version=last.policy_version,
            )
            raise PolicyDenied(reason, decision)
        raise SafetyBlocked(reason)
