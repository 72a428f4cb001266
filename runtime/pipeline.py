"""The fixed per-tool-call pipeline: authorize -> execute -> check -> commit -> record.

The graph calls these stages in this order for every tool call of every agent; an agent
node can only propose. A denied call never reaches a sandbox, a blocked action never
commits, and each stage appends to the audit before the next one starts. This module owns
the stages, their audit events and the staging of effects; `runtime/graph.py` only routes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from runtime.check_commit import CheckAndCommit
from runtime.errors import ExecutorCrashed, PolicyDenied, SandboxError, UserError
from runtime.grants import with_grant_hint
from runtime.graph_state import MemoryWrite, PendingCall, StagedEffects, digest_args
from runtime.models import (
    Action,
    ChangeSet,
    Decision,
    MemoryAccessInput,
    PolicyContext,
    PolicyInput,
    Subject,
    ToolCall,
)
from runtime.record import args_sha256, redacted, shown_args, shown_tail
from runtime.run_context import RunContext, Staged, text_ref
from runtime.safety.items import safe_changes
from runtime.sandbox import changeset
from runtime.sandbox.base import CommitCaps
from runtime.sandbox.seed import seed_box
from runtime.telemetry import Telemetry
from runtime.tools import ToolContext, ToolOutcome

if TYPE_CHECKING:
    from runtime.audit.store import AuditLog
    from runtime.memory.base import MemoryStore
    from runtime.policy.authorizer import Authorizer
    from runtime.safety.base import SafetyChecker
    from runtime.sandbox.base import Sandbox, SandboxBackend
    from runtime.tools import ToolRegistry

__all__ = ["Pipeline", "RunContext", "Staged", "digest_args"]


class Pipeline(CheckAndCommit):
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
        telemetry: Telemetry | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.backend = backend
        self.memory = memory
        self.checker = checker
        self.audit = audit
        self.registry = registry
        self.call_timeout_s = call_timeout_s
        self.commit_caps = commit_caps or CommitCaps()
        self.telemetry = telemetry or Telemetry.disabled()
        self._memory_hits: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ 1. propose

    def propose(self, run: RunContext, call: ToolCall) -> str | None:
        """Record the proposal; returns why it is refused before the policy is asked, or
        None. An unknown tool, one the agent does not declare (`Agent.tools` is an upper
        bound under the policy) and bad arguments are refused here, back to the agent."""
        with self.telemetry.span(
            "propose", run.run_id, agent=call.agent, step=call.step, tool=call.tool
        ) as span:
            refusal = self._refusal(run, call)
            if refusal is not None:  # a validation error can quote the argument
                refusal = redacted(self.checker, [refusal])[0]
            payload: dict[str, Any] = {
                "tool": call.tool,
                "call_id": call.call_id,
                "args": digest_args(call.args),
                # What a reviewer reads: redacted by the safety detectors, capped.
                "args_shown": shown_args(self.checker, call.args),
                "args_sha256": args_sha256(call.args),
            }
            if refusal is not None:
                payload["refused"] = refusal
                self.telemetry.annotate(span, decision="refused")
                self.telemetry.denials.add(1, {"runtime.stage": "propose"})
            self.audit.append(run.run_id, "proposal", payload, agent=call.agent, step=call.step)
        return refusal

    def _refusal(self, run: RunContext, call: ToolCall) -> str | None:
        try:
            tool = self.registry.get(call.tool)
        except UserError as exc:
            return str(exc)
        declared = run.team.agent(call.agent).tools
        if call.tool not in declared:
            offered = ", ".join(declared) or "none"
            return (
                f"tool {call.tool} is not among agent {call.agent}'s tools ({offered}); "
                f"add it to the agent's tools in {run.team.source or 'its team'} to offer it"
            )
        try:
            tool.parse_args(call.args)
        except UserError as exc:
            return str(exc)
        return None

    def hold(self, run: RunContext, call: ToolCall) -> PendingCall:
        """The call as the graph state carries it: raw arguments held, a digest in state."""
        if run.held is None:
            raise UserError(f"run {run.run_id} has no held store; build it with Runtime")
        ref = run.held.put_json(call.args)
        digested = call.model_copy(update={"args": digest_args(call.args)})
        return PendingCall(call=digested, args_ref=ref)

    def unheld(self, run: RunContext, pending: PendingCall) -> ToolCall:
        """The call with its raw arguments, read back from the held store."""
        assert run.held is not None
        return pending.call.model_copy(update={"args": run.held.get_json(pending.args_ref)})

    def release_held(self, run: RunContext, pending: PendingCall, staged: Staged | None) -> None:
        """The call has left the pipeline: drop its held arguments and texts."""
        if run.held is not None:
            refs = [w.text_ref for w in staged.effects.memory_writes] if staged else []
            run.held.drop(pending.args_ref, *refs)

    # ------------------------------------------------------------------ 2. authorize

    def authorize(self, run: RunContext, call: ToolCall, calls_so_far: dict[str, int]) -> Decision:
        tool = self.registry.get(call.tool)
        agent = run.team.agent(call.agent)
        subject = Subject(
            agent=call.agent, team=run.team.name, roles=agent.roles, tenant=run.tenant
        )
        provenance = run.provenance(tool, call.args).to_model(run.untrusted_sources)
        policy_input = PolicyInput(
            subject=subject,
            action=Action(tool=call.tool, effect=tool.effect, args=call.args),
            provenance=provenance,
            context=PolicyContext(
                run_id=run.run_id, step=call.step, task=run.task, calls_so_far=calls_so_far
            ),
        )
        with self.telemetry.span(
            "authorize", run.run_id, agent=call.agent, step=call.step, tool=call.tool
        ) as span:
            started = time.perf_counter()
            decision = self.authorizer.authorize(policy_input)
            self.telemetry.decision_latency.record(
                time.perf_counter() - started, {"runtime.decision": decision.outcome}
            )
            self.telemetry.annotate(
                span,
                decision=decision.outcome,
                decision_id=decision.decision_id,
                policy_version=decision.policy_version,
                engine=decision.engine,
                effect=tool.effect.value,
            )
        if decision.outcome == "deny":
            self.telemetry.denials.add(1, {"runtime.tool": call.tool})
        # A declared tool that no grant gives the agent: say which grant and where.
        decision = with_grant_hint(
            decision, self.authorizer.engine, run.team.name, agent.name, call.tool
        )
        # A rule's reason can quote an argument: stored, shown and sent back redacted.
        decision = decision.model_copy(
            update={"reasons": redacted(self.checker, list(decision.reasons))}
        )
        self.audit.append(
            run.run_id,
            "decision",
            {
                "tool": call.tool,
                "effect": tool.effect.value,
                "where": tool.where,
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

    def authorize_memory(
        self, run: RunContext, agent: str, operation: Literal["read", "write"], namespace: str
    ) -> Decision:
        """The `runtime.memory` decision for one access, asked where memory is used (the
        search service a tool calls, each staged write), whatever the tool is called."""
        subject = Subject(
            agent=agent,
            team=run.team.name,
            roles=run.team.agent(agent).roles,
            tenant=run.tenant,
        )
        access = MemoryAccessInput(
            subject=subject, operation=operation, namespace=namespace, run_id=run.run_id
        )
        decision = self.authorizer.authorize_memory(access)
        run.memory_access.append((operation, namespace, decision))
        return decision

    # ------------------------------------------------------------------ 3. execute

    def tool_context(self, run: RunContext, call: ToolCall, decision: Decision) -> ToolContext:
        """What the tool may use for this call: the run's box, memory search, its inputs."""

        def search(namespace: str, query: str, k: int) -> list[dict[str, Any]]:
            decision = self.authorize_memory(run, call.agent, "read", namespace)
            if decision.outcome != "allow":
                raise PolicyDenied("; ".join(decision.reasons), decision)
            records = self.memory.search(namespace, query, k)
            self._memory_hits.extend(
                {"id": r.id, "namespace": namespace, "trust": r.provenance.trust.value}
                for r in records
            )
            # A recall keeps the label it was written with (runtime.provenance).
            run.recalls.extend((namespace, r.text, r.provenance.trust.value) for r in records)
            return [
                {
                    "text": r.text,
                    "trust": r.provenance.trust.value,
                    "writer_agent": r.provenance.writer_agent,
                }
                for r in records
            ]

        return ToolContext(
            run_id=run.run_id,
            agent=call.agent,
            tenant=run.tenant,
            sandbox=lambda: self.sandbox_for(run),
            memory_search=search,
            input_files=run.input_files,
            call_timeout_s=_obligated_timeout(self.call_timeout_s, decision.obligations),
            obligations=decision.obligations,  # Tool.run applies max_output_bytes, label_output
        )

    def execute(self, run: RunContext, call: ToolCall, ctx: ToolContext) -> Staged:
        """Run an allowed call. A failure that is the call's own (a missing file, a bad
        path, a crashed box) is the tool's answer to the agent, not the end of the run."""
        tool = self.registry.get(call.tool)
        started = time.perf_counter()
        sandbox: Sandbox | None = None
        changes = ChangeSet()
        run.memory_access.clear()
        run.recalls.clear()
        self._memory_hits.clear()
        stage = self.telemetry.span(
            "execute", run.run_id, agent=call.agent, step=call.step, tool=call.tool
        )
        span = stage.__enter__()
        try:
            args = tool.parse_args(call.args)
            before: dict[str, Any] = {}
            if tool.in_sandbox:
                sandbox = self.sandbox_for(run)
                before = sandbox.snapshot()
            outcome = tool.run(args, ctx)
            if sandbox is not None:
                changes = changeset.diff(before, sandbox.snapshot())
        except ExecutorCrashed as exc:
            self.discard_sandbox(run)
            outcome = ToolOutcome(result=f"sandbox failed and was discarded: {exc}", ok=False)
        except (SandboxError, UserError) as exc:
            outcome = ToolOutcome(result=f"error: {exc}", ok=False)
            if sandbox is not None:
                changes = changeset.diff(before, sandbox.snapshot())
        except PolicyDenied as exc:
            outcome = ToolOutcome(result=f"denied by policy: {exc}", ok=False)
        finally:
            exec_ms = (time.perf_counter() - started) * 1000
            self.telemetry.annotate(
                span, sandbox_id=sandbox.id if sandbox else None, effect=tool.effect.value
            )
            stage.__exit__(None, None, None)
            if sandbox is not None:
                self.telemetry.sandbox_latency.record(exec_ms / 1000, {"runtime.tool": call.tool})
        for write in outcome.memory_writes:
            self.authorize_memory(run, call.agent, "write", write.namespace)
        denied = next((d for _, _, d in run.memory_access if d.outcome != "allow"), None)
        args_tainted = run.args_untrusted(tool, call.args)
        forced = ctx.obligations.get("label_output") == "untrusted"
        run.record_output(tool, outcome, args_tainted, forced)
        source, trust = run.provenance_of_writes(call.agent, args_tainted)
        texts = [write.text for write in outcome.memory_writes]
        effects = StagedEffects(
            result=outcome.result,
            ok=outcome.ok,
            trust=outcome.trust,
            source=outcome.source,
            changes=changes,
            memory_writes=[
                MemoryWrite(
                    namespace=write.namespace, text_ref=text_ref(text), source=source, trust=trust
                )
                for write, text in zip(outcome.memory_writes, texts, strict=True)
            ],
        )
        staged = Staged(
            effects=effects,
            texts=texts,
            sandbox_id=sandbox.id if sandbox else None,
            exec_ms=exec_ms,
            args_tainted=args_tainted,
            denied=denied,
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
                "changes": safe_changes(changes),
                "memory_writes": len(texts),
                "memory_hits": list(self._memory_hits),
                # The ends of the box's output, redacted by the safety detectors.
                "stdout_tail": shown_tail(self.checker, "stdout", result.stdout if result else ""),
                "stderr_tail": shown_tail(self.checker, "stderr", result.stderr if result else ""),
                "memory_access": [
                    {
                        "operation": operation,
                        "namespace": namespace,
                        "decision": decision.outcome,
                        "reasons": decision.reasons,
                        "policy_version": decision.policy_version,
                    }
                    for operation, namespace, decision in run.memory_access
                ],
            },
            agent=call.agent,
            step=call.step,
        )
        run.staged[call.step] = staged
        return staged

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
        """A new box holds the run's inputs, and on resume what the run itself committed
        (never the rest of an existing output folder)."""
        committed = [
            path
            for event in (self.audit.events(run.run_id) if run.resumed else [])
            if event.kind == "commit"
            for path in event.payload.get("files", [])
        ]
        seed_box(
            sandbox,
            inputs_dir=run.inputs_dir,
            input_files=run.input_files,
            output_dir=run.output_dir,
            committed=committed,
        )

    def discard_sandbox(self, run: RunContext) -> None:
        if run.sandbox is not None:
            sandbox, run.sandbox = run.sandbox, None
            self.backend.release(sandbox)
            self.audit.append(run.run_id, "sandbox.released", {"sandbox_id": sandbox.id})

    # ------------------------------------------------------------------ records

    def record_handoff(self, run: RunContext, agent: str, target: str, refused: str = "") -> None:
        """A handoff, or (with `refused`) one the team does not allow or cannot route."""
        if refused:
            payload = {"to": target, "refused": refused}
            self.audit.append(run.run_id, "handoff.refused", payload, agent=agent)
        else:
            self.audit.append(run.run_id, "handoff", {"to": target}, agent=agent)

    def record_human_answer(
        self, run: RunContext, request: dict[str, Any], approved: bool, who: str, why: str
    ) -> None:
        self.audit.append(
            run.run_id,
            "approval",
            {
                "kind": request["kind"],
                "tool": request["tool"],
                "approved": approved,
                "by": who,
                "reason": why,
            },
            agent=request["agent"],
            step=request["step"],
        )


def _obligated_timeout(default: float | None, obligations: dict[str, Any]) -> float | None:
    """A policy obligation may only shorten the call's timeout, never lengthen it."""
    obliged = obligations.get("timeout_s")
    if not isinstance(obliged, int | float) or obliged <= 0:
        return default
    return float(obliged) if default is None else min(default, float(obliged))
