"""Builds a team's LangGraph graph and routes every tool call through the pipeline nodes.

    agent_<name>  --tool call-->  authorize --allow--> execute -> check --pass/redact--> commit
         ^   |                        |                              |                    |
         |   +--handoff--> agent_<other>         deny: reasons back  block: discarded     |
         +--------------------------------------------------------------------------------+
    an answer goes to `finish` (checked like any output) -> END

Agent nodes can only propose; the only edges into tools run through authorize, so no agent
can reach a sandbox, memory or the output folder around the policy and safety nodes. The
nodes route: the stages, their audit events and the staging of effects are `Pipeline`'s;
the pauses for a human are in `runtime/review.py`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from runtime.agents import Team
from runtime.errors import CommitRefused
from runtime.graph_state import PendingAnswer, PendingCall, RunState
from runtime.llm import AnswerTurn, HandoffTurn, Model, StopTurn, ToolTurn
from runtime.models import ModelTurn, StepReport, ToolCall, Trust, Verdict
from runtime.pipeline import Pipeline, RunContext, Staged
from runtime.review import ReviewNodes, message, offer, since


def _agent_node(name: str) -> str:
    return f"agent_{name}"


class GraphBuilder(ReviewNodes):
    """Turns a Team plus its models into a compiled graph bound to one run's context."""

    def __init__(
        self,
        team: Team,
        models: dict[str, Model],
        pipeline: Pipeline,
        run: RunContext,
        *,
        max_steps: int,
        max_denials: int,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> None:
        self.on_step = on_step
        self.team = team
        self.models = models
        self.pipeline = pipeline
        self.run = run
        self.max_steps = max_steps
        self.max_denials = max_denials

    def build(self, checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
        graph: StateGraph[Any] = StateGraph(RunState)
        for agent in self.team.agents:
            graph.add_node(_agent_node(agent.name), self._make_agent(agent.name))
        graph.add_node("authorize", self._authorize)
        graph.add_node("approval", self._approval)
        graph.add_node("execute", self._execute)
        graph.add_node("check", self._check)
        graph.add_node("escalation", self._escalation)
        graph.add_node("commit", self._commit)
        graph.add_node("finish", self._finish)
        graph.add_node("answer_review", self._answer_review)
        targets: dict[Hashable, str] = {
            _agent_node(a.name): _agent_node(a.name) for a in self.team.agents
        }
        targets.update({"authorize": "authorize", "finish": "finish", END: END})
        graph.add_edge(START, _agent_node(self.team.entry))
        for agent in self.team.agents:
            graph.add_conditional_edges(_agent_node(agent.name), _route, targets)
        graph.add_conditional_edges(
            "authorize", _route, {**targets, "execute": "execute", "approval": "approval"}
        )
        graph.add_conditional_edges("approval", _route, {**targets, "execute": "execute"})
        graph.add_conditional_edges("execute", _route, {**targets, "check": "check"})
        graph.add_conditional_edges(
            "check", _route, {**targets, "commit": "commit", "escalation": "escalation"}
        )
        graph.add_conditional_edges("escalation", _route, {**targets, "commit": "commit"})
        graph.add_conditional_edges("commit", _route, targets)
        graph.add_conditional_edges("finish", _route, {END: END, "answer_review": "answer_review"})
        graph.add_edge("answer_review", END)
        return graph.compile(checkpointer=checkpointer)

    # ------------------------------------------------------------------ agent turns

    def _make_agent(self, name: str) -> Any:
        def agent_node(state: RunState) -> dict[str, Any]:
            return self._agent_turn(name, state)

        return agent_node

    def _agent_turn(self, name: str, state: RunState) -> dict[str, Any]:
        started = time.perf_counter()
        agent = self.team.agent(name)
        turns = dict(state.get("turns", {}))
        index = turns.get(name, 0)
        turns[name] = index + 1
        step = state.get("step", 0)
        if step >= self.max_steps:
            return self._end("failed", f"the run reached its limit of {self.max_steps} steps")
        model = self.models[name]
        with self.pipeline.telemetry.span(
            "model.turn", self.run.run_id, agent=name, step=step, model=model.version
        ) as span:
            turn = model.next_turn(agent, state.get("messages", []), index)
            self.pipeline.telemetry.annotate(span, tool=getattr(turn, "tool", None))
            # A chat model's turns (model id, tokens, latency; never text) go to the audit.
            drain = getattr(model, "drain_records", None)
            records = drain() if callable(drain) else []
            for record in records:
                self.pipeline.audit.append(self.run.run_id, "model.turn", record, agent=name)
                self._progress("on_turn", ModelTurn.of(record, name))
                self.pipeline.telemetry.annotate(
                    span,
                    provider=record.get("provider"),
                    model=record.get("model"),
                    input_tokens=record.get("tokens_in"),
                    output_tokens=record.get("tokens_out"),
                )
        update: dict[str, Any] = {"turns": turns, "active": name, "refusal": None}
        if isinstance(turn, ToolTurn):
            call = ToolCall(
                run_id=self.run.run_id,
                step=step + 1,
                agent=name,
                tool=turn.tool,
                args=turn.args,
                call_id=uuid.uuid4().hex,
            )
            refused = self.pipeline.propose(self.run, call)
            pending = self.pipeline.hold(self.run, call).timed(since(started))
            if records:  # the step carries the model call whose reply proposed it
                pending = pending.model_copy(update={"model_turn": ModelTurn.of(records[-1], name)})
            update["step"] = step + 1
            if refused is not None:
                self.pipeline.release_held(self.run, pending, None)
                report = self._report(pending, "deny", [refused], None, None)
                text = f"refused before the policy was asked: {refused}"
                return {**update, **self._refused(state, pending, report, text, refused)}
            return {**update, "pending": pending, "route": "authorize"}
        if isinstance(turn, HandoffTurn):
            return {**update, **self._handoff(state, name, turn)}
        if isinstance(turn, AnswerTurn):
            assert self.run.held is not None
            held = PendingAnswer(
                agent=name, step=step, answer_ref=self.run.held.put_text(turn.answer)
            )
            return {**update, "answer": held, "route": "finish"}
        assert isinstance(turn, StopTurn)
        if turn.ends_run is not None:  # a spent budget ends the run with its own status
            return {**update, **self._end(turn.ends_run, turn.why)}
        return {**update, **self._stop(state, name, turn.why)}

    def _handoff(self, state: RunState, name: str, turn: HandoffTurn) -> dict[str, Any]:
        target = turn.handoff
        known = [a.name for a in self.team.agents]
        if target not in known:
            refusal = (
                f"handoff from {name} to unknown agent {target!r} refused: team "
                f"{self.team.name} has agents {', '.join(known)}"
            )
        elif not self.team.may_hand_off(name, target):
            refusal = f"handoff from {name} to {target} is not allowed in team {self.team.name}"
        else:
            self.pipeline.record_handoff(self.run, name, target)
            text = turn.message or f"handing off to {target}"
            return {"messages": [message("assistant", name, text)], "route": _agent_node(target)}
        self.pipeline.record_handoff(self.run, name, target, refused=refusal)
        update = {
            "messages": [message("system", name, refusal)],
            "route": _agent_node(name),
            "refusal": refusal,
        }
        return {**update, **self._count_refusal(state, refusal)}

    def _stop(self, state: RunState, name: str, why: str) -> dict[str, Any]:
        if state.get("refusal"):
            return self._end(
                "failed", f"{name} stopped without an answer after: {state['refusal']}"
            )
        steps = state.get("steps", [])
        last = steps[-1] if steps else None
        if last and (last["decision"] != "allow" or last.get("verdict") == "block"):
            reason = f"{name}'s call to {last['tool']} was {_refusal(last)}: " + "; ".join(
                last["reasons"]
            )
            return self._end("blocked", reason)
        return self._end("failed", f"{name} stopped without an answer: {why}")

    def _end(self, status: str, reason: str) -> dict[str, Any]:
        return {"status": status, "reason": reason, "route": END, "pending": None}

    def _count_refusal(self, state: RunState, reason: str) -> dict[str, Any]:
        """Denials, refused proposals and refused handoffs all count toward `max_denials`:
        a model that keeps trying what it may not do ends the run instead of looping."""
        denials = state.get("denials", 0) + 1
        update: dict[str, Any] = {"denials": denials}
        if denials >= self.max_denials:
            update.update(
                self._end(
                    "blocked",
                    f"{denials} calls were refused (limit {self.max_denials}); last: {reason}",
                )
            )
        return update

    def _refused(
        self,
        state: RunState,
        pending: PendingCall,
        report: dict[str, Any],
        text: str,
        reason: str,
    ) -> dict[str, Any]:
        update = self._back_to_agent(pending, report, text)
        return {**update, **self._count_refusal(state, f"{pending.call.tool}: {reason}")}

    def _back_to_agent(
        self, pending: PendingCall, report: dict[str, Any], text: str, trust: str = "trusted"
    ) -> dict[str, Any]:
        """The call is done: its report, and `text` as the tool's answer to its agent."""
        call = pending.call
        return {
            "steps": [report],
            "pending": None,
            "messages": [message("tool", call.agent, text, tool=call.tool, trust=trust)],
            "route": _agent_node(call.agent),
        }

    # ------------------------------------------------------------------ pipeline nodes

    def _authorize(self, state: RunState) -> dict[str, Any]:
        started = time.perf_counter()
        pending = _pending(state)
        call = self.pipeline.unheld(self.run, pending)
        decision = self.pipeline.authorize(self.run, call, dict(state.get("calls_so_far", {})))
        tool = self.pipeline.registry.get(call.tool)
        labels = self.run.provenance(tool, call.args).legacy()
        pending = pending.model_copy(
            update={
                "decision": decision,
                "provenance": {name: Trust(label) for name, label in labels.items()},
            }
        ).timed(since(started))
        if decision.outcome == "deny":
            return self._denied(state, pending)
        outgoing = self.pipeline.check_outgoing(self.run, call, tool)
        if outgoing is not None:
            return self._outgoing(pending, *outgoing)
        route = "approval" if decision.outcome == "require_approval" else "execute"
        return {"pending": pending, "route": route}

    def _outgoing(
        self, pending: PendingCall, verdict: Verdict, args: dict[str, Any]
    ) -> dict[str, Any]:
        """A host tool that sends content out was checked before it runs: a block stops it
        unperformed, an escalation waits for a human, a redaction runs it redacted."""
        call = pending.call
        if verdict.verdict == "block":
            self.pipeline.release_held(self.run, pending, None)
            reasons = verdict.reasons or ["the safety node blocked what this call would send"]
            report = self._report(
                pending, pending.outcome, reasons, "block", None, verdict.alternatives
            )
            text = (
                "blocked by the safety check before it was sent, nothing was performed: "
                + "; ".join(reasons)
                + offer(verdict.alternatives)
            )
            return self._back_to_agent(pending, report, text)
        if verdict.verdict == "redact":
            redacted = self.pipeline.hold(self.run, call.model_copy(update={"args": args}))
            self.pipeline.release_held(self.run, pending, None)
            pending = pending.model_copy(
                update={"args_ref": redacted.args_ref, "call": redacted.call}
            )
        pending = pending.model_copy(update={"outgoing": verdict})
        held = verdict.verdict == "escalate" or pending.outcome == "require_approval"
        return {"pending": pending, "route": "approval" if held else "execute"}

    def _denied(self, state: RunState, pending: PendingCall) -> dict[str, Any]:
        assert pending.decision is not None
        decision = pending.decision
        self.pipeline.release_held(self.run, pending, None)
        report = self._report(pending, "deny", decision.reasons, None, None, decision.alternatives)
        text = f"denied by policy: {'; '.join(decision.reasons)}" + offer(decision.alternatives)
        return self._refused(state, pending, report, text, "; ".join(decision.reasons))

    def _execute(self, state: RunState) -> dict[str, Any]:
        started = time.perf_counter()
        pending = _pending(state)
        assert pending.decision is not None
        call = self.pipeline.unheld(self.run, pending)
        ctx = self.pipeline.tool_context(self.run, call, pending.decision)
        staged = self.pipeline.execute(self.run, call, ctx)
        calls = dict(state.get("calls_so_far", {}))
        calls[call.tool] = calls.get(call.tool, 0) + 1
        if staged.denied is not None:
            return {"calls_so_far": calls, **self._memory_denied(state, pending, staged)}
        pending = pending.model_copy(
            update={"effects": staged.effects, "sandbox_id": staged.sandbox_id}
        ).timed(since(started))
        return {
            "pending": pending,
            "route": "check",
            "calls_so_far": calls,
            "labels": self.run.labels.to_state(),
            "untrusted_sources": list(self.run.untrusted_sources),
        }

    def _memory_denied(
        self, state: RunState, pending: PendingCall, staged: Staged
    ) -> dict[str, Any]:
        """A memory access the tool made (a search, a staged write) was refused by
        `runtime.memory`: the call is a denial, and nothing it staged commits."""
        assert staged.denied is not None
        denied = staged.denied
        self.pipeline.discard(self.run, pending.call, staged)
        self.run.staged.pop(pending.call.step, None)
        self.pipeline.release_held(self.run, pending, staged)
        report = self._report(
            pending, "deny", denied.reasons, None, staged.sandbox_id, denied.alternatives
        )
        text = f"denied by policy: {'; '.join(denied.reasons)}" + offer(denied.alternatives)
        return self._refused(state, pending, report, text, "; ".join(denied.reasons))

    def _lost(self, pending: PendingCall) -> dict[str, Any]:
        text = (
            "the runtime stopped before this call's effects were checked; they were lost with "
            "its sandbox and nothing was committed"
        )
        self.pipeline.release_held(self.run, pending, None)
        report = self._report(pending, pending.outcome, [text], "block", None)
        return self._back_to_agent(pending, report, text)

    def _check(self, state: RunState) -> dict[str, Any]:
        started = time.perf_counter()
        pending = _pending(state)
        call = pending.call
        staged = self.pipeline.restore_staged(self.run, pending)
        if staged is None:
            return self._lost(pending)
        verdict = self.pipeline.check(self.run, call, staged)
        if verdict.verdict in ("pass", "redact", "escalate"):
            self.pipeline.stage(self.run, call, staged, verdict)
            pending = pending.model_copy(
                update={"verdict": verdict, "effects": staged.effects}
            ).timed(since(started))
            route = "escalation" if verdict.verdict == "escalate" else "commit"
            return {"pending": pending, "route": route}
        self.pipeline.discard(self.run, call, staged)
        self.run.staged.pop(call.step, None)
        self.pipeline.release_held(self.run, pending, staged)
        reasons = verdict.reasons or [f"the safety node returned {verdict.verdict}"]
        pending = pending.timed(since(started))
        report = self._report(
            pending,
            pending.outcome,
            reasons,
            verdict.verdict,
            staged.sandbox_id,
            verdict.alternatives,
        )
        text = (
            "blocked by the safety check, nothing was committed: "
            + "; ".join(reasons)
            + offer(verdict.alternatives)
        )
        return self._back_to_agent(pending, report, text)

    def _commit(self, state: RunState) -> dict[str, Any]:
        started = time.perf_counter()
        pending = _pending(state)
        call = pending.call
        staged = self.pipeline.restore_staged(self.run, pending)
        self.run.staged.pop(call.step, None)
        if staged is None:
            return self._lost(pending)
        assert pending.verdict is not None and pending.decision is not None
        reasons = list(pending.decision.reasons)
        # The step reports the strictest of the outgoing check (before the tool ran) and
        # the check of what it staged.
        checked = [v for v in (pending.outgoing, pending.verdict) if v is not None]
        verdict = Verdict.strictest(checked)
        try:
            text = self.pipeline.commit(self.run, call, staged)
            final_verdict = verdict.verdict
        except CommitRefused as exc:
            text = f"commit refused, nothing was written: {exc}"
            reasons.append(str(exc))
            final_verdict = "block"
        # The arguments are done with; memory texts stay held until the run ends, so a
        # commit re-run after a crash still finds them (its idempotency key covers them).
        self.pipeline.release_held(self.run, pending, None)
        report = self._report(
            pending.timed(since(started)),
            pending.outcome,
            reasons + verdict.reasons,
            final_verdict,
            staged.sandbox_id,
        )
        return self._back_to_agent(pending, report, text, staged.effects.trust.value)

    def _finish(self, state: RunState) -> dict[str, Any]:
        answer = state.get("answer")
        assert answer is not None and self.run.held is not None
        proposed = self.run.held.get_text(answer.answer_ref)
        verdict, text = self.pipeline.check_answer(self.run, answer.agent, answer.step, proposed)
        if verdict.verdict == "escalate":
            held = answer.model_copy(
                update={"verdict": verdict, "text_ref": self.run.held.put_text(text)}
            )
            return {"answer": held, "route": "answer_review"}
        self.run.held.drop(answer.answer_ref)
        if verdict.verdict == "block":
            reasons = "; ".join(verdict.reasons) or "the safety node blocked the answer"
            ended = self._end("blocked", f"the final answer was blocked: {reasons}")
            return {**ended, "answer": None, "alternatives": list(verdict.alternatives)}
        return {
            "status": "completed",
            "output": text,
            "reason": None,
            "pending": None,
            "answer": None,
            "route": END,
        }

    def _report(
        self,
        pending: PendingCall,
        decision: str,
        reasons: list[str],
        verdict: str | None,
        sandbox_id: str | None,
        alternatives: list[str] | None = None,
    ) -> dict[str, Any]:
        call = pending.call
        report = StepReport(
            step=call.step,
            agent=call.agent,
            tool=call.tool,
            decision=decision,  # type: ignore[arg-type]
            reasons=reasons,
            verdict=verdict,  # type: ignore[arg-type]
            sandbox_id=sandbox_id,
            duration_ms=round(pending.elapsed_ms, 3),
            policy_version=pending.policy_version,
            alternatives=list(alternatives or []),
            model_turn=pending.model_turn,
        )
        self._progress("__call__", report)
        return report.model_dump(mode="json")

    def _progress(self, kind: str, item: StepReport | ModelTurn) -> None:
        """Tell `on_step` of a step; of a model turn only when it has an `on_turn` method
        (the CLI's progress printer), so plain step callbacks see steps alone."""
        callback = getattr(self.on_step, kind, None) if self.on_step is not None else None
        if callable(callback):
            callback(item)


def _pending(state: RunState) -> PendingCall:
    pending = state.get("pending")
    if not isinstance(pending, PendingCall):
        raise TypeError(f"the graph state holds no pending call here (found {type(pending)})")
    return pending


def _route(state: RunState) -> str:
    return state.get("route", END)


def _refusal(step: dict[str, Any]) -> str:
    if step.get("verdict") == "block":
        return "blocked by the safety check"
    if step["decision"] == "deny":
        return "denied"
    if step["decision"] == "require_approval":
        return "held for approval"
    return "blocked by the safety check"
