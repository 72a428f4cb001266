"""The fixed per-tool-call pipeline: authorize -> execute -> check -> commit -> record.

The graph calls these stages in this order for every tool call of every agent; an agent
node can only propose. A denied call never reaches a sandbox, a blocked action never
commits, and each stage appends to the audit before the next one starts.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import CommitRefused, ExecutorCrashed
from runtime.models import (
    Action,
    ChangeSet,
    ContentItem,
    Decision,
    FileChange,
    InputProvenance,
    MemoryAccessInput,
    MemoryProvenance,
    PendingAction,
    PendingKind,
    PolicyContext,
    PolicyInput,
    Subject,
    ToolCall,
    Trust,
    Verdict,
)
from runtime.sandbox import changeset
from runtime.sandbox.base import CommitCaps
from runtime.staging import StagingArea
from runtime.tools import StagedMemoryWrite, ToolContext, ToolOutcome

if TYPE_CHECKING:
    from runtime.agents import Team
    from runtime.audit.store import AuditLog
    from runtime.memory.base import MemoryStore
    from runtime.policy.authorizer import Authorizer
    from runtime.safety.base import SafetyChecker
    from runtime.sandbox.base import Sandbox, SandboxBackend
    from runtime.tools import Tool, ToolRegistry

MEMORY_TOOLS = {"memory.put": "write", "memory.search": "read"}
_MIN_FRAGMENT = 16


@dataclass
class Staged:
    """What one allowed call left waiting for the check: never in graph state."""

    outcome: ToolOutcome
    changes: ChangeSet
    sandbox_id: str | None
    exec_ms: float
    contents: dict[str, bytes] | None = None  # changed files' bytes, read once by check
    actions: list[PendingAction] | None = None  # built once by check, reused by commit


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
    staged: dict[int, Staged] = field(default_factory=dict)
    untrusted_fragments: list[str] = field(default_factory=list)
    untrusted_sources: list[str] = field(default_factory=list)


def digest_args(args: dict[str, Any]) -> dict[str, Any]:
    """Args as the audit keeps them: strings by hash, so no secret lands in the log."""
    kept: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str):
            kept[key] = {"sha256": hashlib.sha256(value.encode()).hexdigest(), "len": len(value)}
        elif isinstance(value, int | float | bool) or value is None:
            kept[key] = value
        else:
            kept[key] = {"type": type(value).__name__}
    return kept


class Pipeline:
    def __init__(
        self,
        *,
        authorizer: Authorizer,
        backend: SandboxBackend,
        memory: MemoryStore,
        checker: SafetyChecker,
        audit: AuditLog,
        registry: ToolRegistry,
        call_timeout_s: float | None = None,
        commit_caps: CommitCaps | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.backend = backend
        self.memory = memory
        self.checker = checker
        self.audit = audit
        self.registry = registry
        self.call_timeout_s = call_timeout_s
        self.commit_caps = commit_caps or CommitCaps()

    # ------------------------------------------------------------------ 1. propose

    def propose(self, run: RunContext, call: ToolCall) -> Tool:
        """Record the proposal; unknown tools and bad arguments stop here."""
        tool = self.registry.get(call.tool)
        tool.parse_args(call.args)
        self.audit.append(
            run.run_id,
            "proposal",
            {"tool": call.tool, "call_id": call.call_id, "args": digest_args(call.args)},
            agent=call.agent,
            step=call.step,
        )
        return tool

    # ------------------------------------------------------------------ 2. authorize

    def authorize(self, run: RunContext, call: ToolCall, calls_so_far: dict[str, int]) -> Decision:
        tool = self.registry.get(call.tool)
        agent = run.team.agent(call.agent)
        subject = Subject(
            agent=call.agent, team=run.team.name, roles=agent.roles, tenant=run.tenant
        )
        provenance = InputProvenance(
            args=self.label_args(run, call.args),
            untrusted_sources_seen=list(run.untrusted_sources),
        )
        policy_input = PolicyInput(
            subject=subject,
            action=Action(tool=call.tool, effect=tool.effect, args=call.args),
            provenance=provenance,
            context=PolicyContext(
                run_id=run.run_id, step=call.step, task=run.task, calls_so_far=calls_so_far
            ),
        )
        decision = self.authorizer.authorize(policy_input)
        if decision.outcome == "allow" and call.tool in MEMORY_TOOLS:
            decision = self._authorize_memory(run, call, subject, decision)
        self.audit.append(
            run.run_id,
            "decision",
            {
                "tool": call.tool,
                "decision": decision.outcome,
                "reasons": decision.reasons,
                "alternatives": decision.alternatives,
                "obligations": decision.obligations,
                "policy_version": decision.policy_version,
                "decision_id": decision.decision_id,
                "engine": decision.engine,
                "provenance": provenance.model_dump(mode="json"),
            },
            agent=call.agent,
            step=call.step,
        )
        return decision

    def _authorize_memory(
        self, run: RunContext, call: ToolCall, subject: Subject, tool_decision: Decision
    ) -> Decision:
        namespace = call.args.get("namespace") or f"{run.tenant}/{call.agent}"
        access = MemoryAccessInput(
            subject=subject,
            operation="write" if MEMORY_TOOLS[call.tool] == "write" else "read",
            namespace=namespace,
            run_id=run.run_id,
        )
        memory_decision = self.authorizer.authorize_memory(access)
        if memory_decision.outcome == "allow":
            return tool_decision
        return memory_decision

    def label_args(self, run: RunContext, args: dict[str, Any]) -> dict[str, Trust]:
        """An argument is untrusted when it carries a line of untrusted content seen so far."""
        labels: dict[str, Trust] = {}
        for key, value in args.items():
            text = value if isinstance(value, str) else repr(value)
            tainted = any(fragment in text for fragment in run.untrusted_fragments)
            labels[key] = Trust.UNTRUSTED if tainted else Trust.TRUSTED
        return labels

    # ------------------------------------------------------------------ 3. execute

    def execute(self, run: RunContext, call: ToolCall, ctx: ToolContext) -> Staged:
        tool = self.registry.get(call.tool)
        args = tool.parse_args(call.args)
        started = time.perf_counter()
        sandbox: Sandbox | None = None
        before: dict[str, Any] = {}
        if tool.in_sandbox:
            sandbox = self.sandbox_for(run)
            before = sandbox.snapshot()
        try:
            outcome = tool.run(args, ctx)
            changes = changeset.diff(before, sandbox.snapshot()) if sandbox else ChangeSet()
        except ExecutorCrashed as exc:
            self.discard_sandbox(run)
            outcome = ToolOutcome(result=f"sandbox failed and was discarded: {exc}", ok=False)
            changes = ChangeSet()
        exec_ms = (time.perf_counter() - started) * 1000
        if outcome.trust == Trust.UNTRUSTED:
            self._remember_untrusted(run, outcome)
        if any(t == Trust.UNTRUSTED for t in self.label_args(run, call.args).values()):
            for write in outcome.memory_writes:
                write.trust = Trust.UNTRUSTED
        staged = Staged(
            outcome=outcome,
            changes=changes,
            sandbox_id=sandbox.id if sandbox else None,
            exec_ms=exec_ms,
        )
        result = outcome.exec_result
        self.audit.append(
            run.run_id,
            "execution",
            {
                "tool": call.tool,
                "sandbox_id": staged.sandbox_id,
                "image_digest": sandbox.image_digest if sandbox else None,
                "ok": outcome.ok,
                "exit_code": result.exit_code if result else None,
                "timed_out": result.timed_out if result else False,
                "truncated": result.truncated if result else False,
                "duration_ms": round(exec_ms, 3),
                "trust": outcome.trust.value,
                "source": outcome.source,
                "changes": [c.model_dump(mode="json") for c in changes.changes],
                "memory_writes": len(outcome.memory_writes),
            },
            agent=call.agent,
            step=call.step,
        )
        run.staged[call.step] = staged
        return staged

    def _remember_untrusted(self, run: RunContext, outcome: ToolOutcome) -> None:
        if outcome.source and outcome.source not in run.untrusted_sources:
            run.untrusted_sources.append(outcome.source)
        for line in outcome.result.splitlines():
            line = line.strip()
            if len(line) >= _MIN_FRAGMENT and line not in run.untrusted_fragments:
                run.untrusted_fragments.append(line)
            for word in line.split():
                if ("@" in word or "://" in word) and len(word) >= 6:
                    run.untrusted_fragments.append(word.strip(".,;:'\"()<>"))

    def sandbox_for(self, run: RunContext) -> Sandbox:
        """The run's box, started on the first call that needs one (denied calls never do)."""
        if run.sandbox is None:
            run.sandbox = self.backend.acquire(run.run_id)
            self.audit.append(
                run.run_id,
                "sandbox.acquired",
                {
                    "sandbox_id": run.sandbox.id,
                    "image_digest": run.sandbox.image_digest,
                    "isolation": self.backend.isolation(),
                },
            )
            self._seed_inputs(run, run.sandbox)
        return run.sandbox

    def _seed_inputs(self, run: RunContext, sandbox: Sandbox) -> None:
        """A new box holds the run's inputs, and on resume what the run already committed."""
        if run.inputs_dir is not None:
            for relative in sorted(run.input_files):
                sandbox.write_file(relative, (run.inputs_dir / relative).read_bytes())
        if run.resumed:
            for path in sorted(run.output_dir.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    sandbox.write_file(
                        path.relative_to(run.output_dir).as_posix(), path.read_bytes()
                    )

    def discard_sandbox(self, run: RunContext) -> None:
        if run.sandbox is not None:
            sandbox, run.sandbox = run.sandbox, None
            self.backend.release(sandbox)
            self.audit.append(run.run_id, "sandbox.released", {"sandbox_id": sandbox.id})

    # ------------------------------------------------------------------ 4. check

    def pending_actions(
        self, run: RunContext, call: ToolCall, staged: Staged
    ) -> list[PendingAction]:
        actions: list[PendingAction] = []
        common: dict[str, Any] = {
            "run_id": run.run_id,
            "step": call.step,
            "agent": call.agent,
            "tool": call.tool,
            "untrusted_sources_seen": list(run.untrusted_sources),
        }
        tainted = any(t == Trust.UNTRUSTED for t in self.label_args(run, call.args).values())
        if not staged.changes.empty:
            contents = staged.contents or {}
            items = [
                ContentItem(
                    location=f"file:{change.path}",
                    text=contents.get(change.path, b"").decode("utf-8", errors="replace"),
                )
                for change in staged.changes.changes
                if change.change != "deleted" and change.kind == "file"
            ]
            actions.append(
                PendingAction(
                    kind=PendingKind.CHANGESET,
                    items=items,
                    trust=Trust.UNTRUSTED if tainted or run.untrusted_sources else Trust.TRUSTED,
                    **common,
                )
            )
        for index, write in enumerate(staged.outcome.memory_writes):
            actions.append(
                PendingAction(
                    kind=PendingKind.MEMORY_WRITE,
                    items=[
                        ContentItem(location=f"memory:{write.namespace}#{index}", text=write.text)
                    ],
                    trust=write.trust,
                    **common,
                )
            )
        return actions

    def check(self, run: RunContext, call: ToolCall, staged: Staged) -> Verdict:
        """One verdict for everything the call staged: the strictest of its actions.

        The changed files are read out of the box here, once, under the commit rules
        (paths, kinds, caps, hashes): the bytes checked are the bytes that commit.
        """
        if staged.contents is None:
            try:
                staged.contents = self._collect(run, staged)
            except CommitRefused as exc:
                self._refused(run, call, str(exc))
                verdict = Verdict(verdict="block", reasons=[str(exc)])
                self._audit_verdict(run, call, verdict)
                return verdict
        staged.actions = self.pending_actions(run, call, staged)
        verdicts = [self.checker.check(action) for action in staged.actions]
        verdict = _strictest(verdicts)
        self._audit_verdict(run, call, verdict)
        return verdict

    def _collect(self, run: RunContext, staged: Staged) -> dict[str, bytes]:
        if staged.changes.empty:
            return {}
        if run.sandbox is None:
            raise CommitRefused(
                "Commit refused, nothing was written: the box holding the staged files is gone"
            )
        return changeset.collect(run.sandbox, staged.changes, self.commit_caps)

    def _refused(self, run: RunContext, call: ToolCall, reason: str) -> None:
        self.audit.append(
            run.run_id,
            "commit.refused",
            {"tool": call.tool, "reason": reason},
            agent=call.agent,
            step=call.step,
        )

    def _audit_verdict(self, run: RunContext, call: ToolCall, verdict: Verdict) -> None:
        self.audit.append(
            run.run_id,
            "verdict",
            {
                "tool": call.tool,
                "verdict": verdict.verdict,
                "reasons": verdict.reasons,
                "alternatives": verdict.alternatives,
                "findings": [
                    {
                        "type": f.type,
                        "detector": f.detector,
                        "location": f.location,
                        "severity": f.severity,
                        "value_hash": f.value_hash,
                    }
                    for f in verdict.findings
                ],
            },
            agent=call.agent,
            step=call.step,
        )

    def stage(self, run: RunContext, call: ToolCall, staged: Staged, verdict: Verdict) -> None:
        """Make a checked call's effects final and durable before the commit (or a pause).

        A `redact` verdict is applied here, to the staged bytes and memory writes (and to
        the box, so the agent keeps working on the redacted files); then the files' bytes
        go to the run's staging area, so the commit survives a pause or a crash.
        """
        if verdict.verdict == "redact":
            self._apply_redactions(run, staged, verdict)
            staged.actions = self.pending_actions(run, call, staged)
        if run.staging is not None and staged.contents:
            run.staging.save(call.step, staged.changes, staged.contents)

    def check_answer(
        self, run: RunContext, agent: str, step: int, answer: str
    ) -> tuple[Verdict, str]:
        action = PendingAction(
            kind=PendingKind.ANSWER,
            run_id=run.run_id,
            step=step,
            agent=agent,
            tool="answer",
            items=[ContentItem(location="answer", text=answer)],
            trust=Trust.UNTRUSTED if run.untrusted_sources else Trust.TRUSTED,
            untrusted_sources_seen=list(run.untrusted_sources),
        )
        verdict = self.checker.check(action)
        text = (
            self.checker.redact(answer, verdict.findings) if verdict.verdict == "redact" else answer
        )
        self.audit.append(
            run.run_id,
            "verdict",
            {
                "tool": "answer",
                "verdict": verdict.verdict,
                "reasons": verdict.reasons,
                "findings": [
                    {"type": f.type, "value_hash": f.value_hash} for f in verdict.findings
                ],
                "after_step": step,
            },
            agent=agent,
        )
        return verdict, text

    # ------------------------------------------------------------------ 5. commit

    def commit(self, run: RunContext, call: ToolCall, staged: Staged) -> str:
        """Write what `stage` made final (redactions applied); returns the agent's text."""
        actions = (
            staged.actions
            if staged.actions is not None
            else self.pending_actions(run, call, staged)
        )
        key = _idempotency_key(actions, call)
        if self.audit.has_commit(key):
            self._drop_staged(run, call)
            return staged.outcome.result + "\n[already committed]"
        written: list[str] = []
        if not staged.changes.empty:
            try:
                written = changeset.apply(
                    staged.changes, staged.contents or {}, run.output_dir, self.commit_caps
                )
            except CommitRefused as exc:
                self._refused(run, call, str(exc))
                self._drop_staged(run, call)
                raise
        memory_ids = [
            self._commit_memory(run, call, write, record_id=_memory_id(key, index))
            for index, write in enumerate(staged.outcome.memory_writes)
        ]
        self.audit.append(
            run.run_id,
            "commit",
            {
                "tool": call.tool,
                "idempotency_key": key,
                "files": written,
                "memory_ids": memory_ids,
                "output_dir": str(run.output_dir),
            },
            agent=call.agent,
            step=call.step,
        )
        self._drop_staged(run, call)
        return staged.outcome.result

    def _drop_staged(self, run: RunContext, call: ToolCall) -> None:
        if run.staging is not None:
            run.staging.drop(call.step)

    def _commit_memory(
        self, run: RunContext, call: ToolCall, write: StagedMemoryWrite, *, record_id: str
    ) -> str:
        record = self.memory.put(
            write.namespace,
            write.text,
            MemoryProvenance(
                writer_agent=call.agent, run_id=run.run_id, source=write.source, trust=write.trust
            ),
            record_id=record_id,
        )
        return record.id

    def _apply_redactions(self, run: RunContext, staged: Staged, verdict: Verdict) -> None:
        by_location: dict[str, list[Any]] = {}
        for finding in verdict.findings:
            by_location.setdefault(finding.location, []).append(finding)
        contents = staged.contents if staged.contents is not None else {}
        changes: list[FileChange] = []
        for change in staged.changes.changes:
            findings = by_location.get(f"file:{change.path}")
            if findings and change.change != "deleted" and change.path in contents:
                text = contents[change.path].decode("utf-8", errors="replace")
                data = self.checker.redact(text, findings).encode()
                contents[change.path] = data
                change = change.model_copy(
                    update={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                )
                if run.sandbox is not None:
                    # The agent's box keeps the redacted file, not the secret.
                    run.sandbox.write_file(change.path, data)
            changes.append(change)
        staged.changes = ChangeSet(changes=changes)
        for index, write in enumerate(staged.outcome.memory_writes):
            findings = by_location.get(f"memory:{write.namespace}#{index}")
            if findings:
                write.text = self.checker.redact(write.text, findings)

    def discard(self, run: RunContext, call: ToolCall, staged: Staged) -> None:
        """A blocked action's staged files are removed from the box; nothing commits."""
        self._drop_staged(run, call)
        if run.sandbox is not None:
            paths = [
                c.path for c in staged.changes.changes if c.change != "deleted" and c.kind == "file"
            ]
            if paths:
                run.sandbox.run_command(["rm", "-f", "--", *paths])
        self.audit.append(
            run.run_id,
            "discard",
            {"tool": call.tool, "files": [c.path for c in staged.changes.changes]},
            agent=call.agent,
            step=call.step,
        )


_ORDER = {"pass": 0, "redact": 1, "escalate": 2, "block": 3}


def _strictest(verdicts: list[Verdict]) -> Verdict:
    if not verdicts:
        return Verdict(verdict="pass")
    worst = max(verdicts, key=lambda v: _ORDER[v.verdict])
    alternatives = [a for v in verdicts if v.verdict == worst.verdict for a in v.alternatives]
    return Verdict(
        verdict=worst.verdict,
        findings=[f for v in verdicts for f in v.findings],
        reasons=[r for v in verdicts for r in v.reasons],
        alternatives=list(dict.fromkeys(alternatives)),
    )


def _idempotency_key(actions: list[PendingAction], call: ToolCall) -> str:
    if not actions:
        return hashlib.sha256(f"{call.run_id}\0{call.step}\0{call.call_id}".encode()).hexdigest()
    digest = hashlib.sha256()
    for action in actions:
        digest.update(action.idempotency_key().encode())
    return digest.hexdigest()


def _memory_id(key: str, index: int) -> str:
    """A memory write's record id follows from its commit's key: a re-commit after a crash
    overwrites the same record instead of adding a second one."""
    return hashlib.sha256(f"{key}\0{index}".encode()).hexdigest()[:32]
