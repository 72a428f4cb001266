"""Builds a team's LangGraph graph and inserts the pipeline nodes around every tool call.

    agent_<name>  --tool call-->  authorize --allow--> execute -> check --pass/redact--> commit
         ^   |                        |                              |                    |
         |   +--handoff--> agent_<other>         deny: reasons back  block: discarded     |
         +--------------------------------------------------------------------------------+
    an answer goes to `finish` (checked like any output) -> END

Agent nodes can only propose; the only edges into tools run through authorize, so no agent
can reach a sandbox, memory or the output folder around the policy and safety nodes.
"""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from runtime.agents import Team
from runtime.errors import CommitRefused
from runtime.llm import AnswerTurn, HandoffTurn, Model, StopTurn, ToolTurn
from runtime.models import StepReport, ToolCall
from runtime.pipeline import Pipeline, RunContext, Staged
from runtime.staging import effects_from_json, effects_to_json
from runtime.tools import ToolContext


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
    pending: dict[str, Any] | None
    route: str
    status: str
    output: str
    reason: str | None
    untrusted_fragments: list[str]
    untrusted_sources: list[str]
    alternatives: list[str]


def _agent_node(name: str) -> str:
    return f"agent_{name}"


class GraphBuilder:
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
        graph.add_edge("execute", "check")
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
        agent = self.team.agent(name)
        turns = dict(state.get("turns", {}))
        index = turns.get(name, 0)
        turns[name] = index + 1
        step = state.get("step", 0)
        if step >= self.max_steps:
            return self._end(
                state, "failed", f"the run reached its limit of {self.max_steps} steps"
            )
        turn = self.models[name].next_turn(agent, state.get("messages", []), index)
        update: dict[str, Any] = {"turns": turns, "active": name}
        if isinstance(turn, ToolTurn):
            call = ToolCall(
                run_id=self.run.run_id,
                step=step + 1,
                agent=name,
                tool=turn.tool,
                args=turn.args,
                call_id=uuid.uuid4().hex,
            )
            self.pipeline.propose(self.run, call)
            update.update(
                step=step + 1,
                pending={"call": call.model_dump(), "started": time.perf_counter()},
                route="authorize",
            )
            return update
        if isinstance(turn, HandoffTurn):
            if not self.team.may_hand_off(name, turn.handoff):
                note = (
                    f"handoff from {name} to {turn.handoff} is not allowed in team {self.team.name}"
                )
                return {
                    **update,
                    "messages": [_msg("system", name, note)],
                    "route": _agent_node(name),
                }
            self.pipeline.audit.append(self.run.run_id, "handoff", {"to": turn.handoff}, agent=name)
            message = _msg("assistant", name, turn.message or f"handing off to {turn.handoff}")
            return {**update, "messages": [message], "route": _agent_node(turn.handoff)}
        if isinstance(turn, AnswerTurn):
            return {**update, "pending": {"answer": turn.answer, "agent": name}, "route": "finish"}
        assert isinstance(turn, StopTurn)
        return {**update, **self._stop(state, name, turn.why)}

    def _stop(self, state: RunState, name: str, why: str) -> dict[str, Any]:
        steps = state.get("steps", [])
        last = steps[-1] if steps else None
        if last and (last["decision"] != "allow" or last.get("verdict") == "block"):
            reason = f"{name}'s call to {last['tool']} was {_refusal(last)}: " + "; ".join(
                last["reasons"]
            )
            return self._end(state, "blocked", reason)
        return self._end(state, "failed", f"{name} stopped without an answer: {why}")

    def _end(self, state: RunState, status: str, reason: str) -> dict[str, Any]:
        return {"status": status, "reason": reason, "route": END, "pending": None}

    # ------------------------------------------------------------------ pipeline nodes

    def _authorize(self, state: RunState) -> dict[str, Any]:
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        decision = self.pipeline.authorize(self.run, call, dict(state.get("calls_so_far", {})))
        pending["decision"] = decision.model_dump()
        if decision.outcome == "allow":
            return {"pending": pending, "route": "execute"}
        if decision.outcome == "require_approval":
            return {"pending": pending, "route": "approval"}
        report = self._report(
            call,
            pending,
            decision.outcome,
            decision.reasons,
            None,
            None,
            decision.policy_version,
            decision.alternatives,
        )
        denials = state.get("denials", 0) + 1
        text = f"denied by policy: {'; '.join(decision.reasons)}" + _offer(decision.alternatives)
        update: dict[str, Any] = {
            "steps": [report],
            "denials": denials,
            "pending": None,
            "messages": [_msg("tool", call.agent, text, tool=call.tool)],
            "route": _agent_node(call.agent),
        }
        if denials >= self.max_denials:
            reason = (
                f"{denials} calls were denied (limit {self.max_denials}); last: {call.tool}: "
                + "; ".join(decision.reasons)
            )
            update.update(self._end(state, "blocked", reason))
        return update

    def _approval(self, state: RunState) -> dict[str, Any]:
        """Pause the run (LangGraph interrupt, checkpointed) until a human answers."""
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        decision = pending["decision"]
        request = {
            "kind": "approval",
            "run_id": self.run.run_id,
            "step": call.step,
            "agent": call.agent,
            "tool": call.tool,
            "args": call.args,
            "reasons": decision["reasons"],
            "provenance": self.pipeline.label_args(self.run, call.args),
            "untrusted_sources_seen": list(self.run.untrusted_sources),
        }
        approved, who, why = self._ask_human(request)
        pending["started"] = time.perf_counter()
        if approved:
            pending["outcome"] = "require_approval"
            pending["decision"] = {
                **decision,
                "reasons": [
                    *decision["reasons"],
                    f"approved by {who}" + (f": {why}" if why else ""),
                ],
            }
            return {"pending": pending, "route": "execute"}
        reasons = [*decision["reasons"], f"denied by {who}" + (f": {why}" if why else "")]
        report = self._report(
            call, pending, "deny", reasons, None, None, decision["policy_version"]
        )
        reason = f"{call.agent}'s call to {call.tool} was denied by {who}" + (
            f": {why}" if why else ""
        )
        return {"steps": [report], **self._end(state, "blocked", reason)}

    def _ask_human(self, request: dict[str, Any]) -> tuple[bool, str, str]:
        """Pause on `request` (LangGraph interrupt); on resume, audit who answered and how.

        Returns (approved, by whom, why).
        """
        answer = interrupt(request)
        approved, who, why = _answer(answer, request["step"])
        self.pipeline.audit.append(
            self.run.run_id,
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
        return approved, who, why

    def _execute(self, state: RunState) -> dict[str, Any]:
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        ctx = ToolContext(
            run_id=self.run.run_id,
            agent=call.agent,
            tenant=self.run.tenant,
            sandbox=lambda: self.pipeline.sandbox_for(self.run),
            memory_search=self._memory_search(call.agent),
            input_files=self.run.input_files,
            call_timeout_s=_obligated_timeout(
                self.pipeline.call_timeout_s, pending["decision"]["obligations"]
            ),
            obligations=pending["decision"]["obligations"],  # applied by Tool.run
        )
        staged = self.pipeline.execute(self.run, call, ctx)
        calls = dict(state.get("calls_so_far", {}))
        calls[call.tool] = calls.get(call.tool, 0) + 1
        pending["sandbox_id"] = staged.sandbox_id
        pending["effects"] = effects_to_json(staged.outcome, staged.changes)
        return {
            "pending": pending,
            "calls_so_far": calls,
            "untrusted_fragments": list(self.run.untrusted_fragments),
            "untrusted_sources": list(self.run.untrusted_sources),
        }

    def _memory_search(self, agent: str) -> Any:
        def search(namespace: str, query: str, k: int) -> list[dict[str, Any]]:
            return [
                {
                    "text": r.text,
                    "trust": r.provenance.trust.value,
                    "writer_agent": r.provenance.writer_agent,
                }
                for r in self.pipeline.memory.search(namespace, query, k)
            ]

        return search

    def _staged(self, call: ToolCall, pending: dict[str, Any]) -> Staged | None:
        """The call's staged effects: in this process, or rebuilt after a pause or a crash
        from the checkpointed state and the staging area; None when they were lost."""
        staged = self.run.staged.get(call.step)
        if staged is not None:
            return staged
        if "effects" not in pending:
            return None
        outcome, changes = effects_from_json(pending["effects"])
        saved = self.run.staging.load(call.step) if self.run.staging is not None else None
        if saved is not None:
            changes, contents = saved
        elif any(c.change != "deleted" and c.kind == "file" for c in changes.changes):
            return None  # the files were still in a box that is gone
        else:
            contents = {}
        staged = Staged(
            outcome=outcome,
            changes=changes,
            sandbox_id=pending.get("sandbox_id"),
            exec_ms=0.0,
            contents=contents,
        )
        self.run.staged[call.step] = staged
        return staged

    def _lost(self, state: RunState, call: ToolCall, pending: dict[str, Any]) -> dict[str, Any]:
        text = (
            "the runtime stopped before this call's files were checked; they were lost with "
            "its sandbox and nothing was committed"
        )
        report = self._report(
            call,
            pending,
            pending.get("outcome", "allow"),
            [text],
            "block",
            None,
            pending["decision"]["policy_version"],
        )
        return {
            "steps": [report],
            "pending": None,
            "messages": [_msg("tool", call.agent, text, tool=call.tool)],
            "route": _agent_node(call.agent),
        }

    def _check(self, state: RunState) -> dict[str, Any]:
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        staged = self._staged(call, pending)
        if staged is None:
            return self._lost(state, call, pending)
        verdict = self.pipeline.check(self.run, call, staged)
        pending["verdict"] = verdict.model_dump()
        if verdict.verdict in ("pass", "redact", "escalate"):
            self.pipeline.stage(self.run, call, staged, verdict)
            pending["effects"] = effects_to_json(staged.outcome, staged.changes)
            route = "escalation" if verdict.verdict == "escalate" else "commit"
            return {"pending": pending, "route": route}
        self.pipeline.discard(self.run, call, staged)
        del self.run.staged[call.step]
        reasons = verdict.reasons or [f"the safety node returned {verdict.verdict}"]
        report = self._report(
            call,
            pending,
            pending.get("outcome", "allow"),
            reasons,
            verdict.verdict,
            staged.sandbox_id,
            pending["decision"]["policy_version"],
            verdict.alternatives,
        )
        text = (
            "blocked by the safety check, nothing was committed: "
            + "; ".join(reasons)
            + _offer(verdict.alternatives)
        )
        return {
            "steps": [report],
            "pending": None,
            "messages": [_msg("tool", call.agent, text, tool=call.tool)],
            "route": _agent_node(call.agent),
        }

    def _escalation(self, state: RunState) -> dict[str, Any]:
        """Hold an escalated action (its effects staged on disk) until a human answers."""
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        verdict = dict(pending["verdict"])
        effects = pending["effects"]
        reasons = list(verdict["reasons"]) or ["the safety node escalated this action"]
        request = {
            "kind": "escalation",
            "run_id": self.run.run_id,
            "step": call.step,
            "agent": call.agent,
            "tool": call.tool,
            "args": call.args,
            "reasons": reasons,
            "findings": _finding_summaries(verdict),
            "files": [c["path"] for c in effects["changes"]["changes"]],
            "memory_writes": [w["namespace"] for w in effects["memory_writes"]],
            "provenance": self.pipeline.label_args(self.run, call.args),
            "untrusted_sources_seen": list(self.run.untrusted_sources),
        }
        approved, who, why = self._ask_human(request)
        pending["started"] = time.perf_counter()
        if approved:
            verdict["reasons"] = [*reasons, f"released by {who}" + (f": {why}" if why else "")]
            pending["verdict"] = verdict
            return {"pending": pending, "route": "commit"}
        staged = self._staged(call, pending)
        if staged is not None:
            self.pipeline.discard(self.run, call, staged)
            self.run.staged.pop(call.step, None)
        elif self.run.staging is not None:
            self.run.staging.drop(call.step)
        reasons = [*reasons, f"denied by {who}" + (f": {why}" if why else "")]
        report = self._report(
            call,
            pending,
            pending.get("outcome", "allow"),
            reasons,
            "block",
            pending.get("sandbox_id"),
            pending["decision"]["policy_version"],
        )
        reason = f"{call.agent}'s call to {call.tool} was escalated and then denied by {who}" + (
            f": {why}" if why else ""
        )
        return {"steps": [report], **self._end(state, "blocked", reason)}

    def _commit(self, state: RunState) -> dict[str, Any]:
        pending = dict(state["pending"] or {})
        call = ToolCall.model_validate(pending["call"])
        staged = self._staged(call, pending)
        self.run.staged.pop(call.step, None)
        if staged is None:
            return self._lost(state, call, pending)
        verdict_doc = pending["verdict"]
        from runtime.models import Verdict

        verdict = Verdict.model_validate(verdict_doc)
        reasons = list(pending["decision"]["reasons"])
        try:
            text = self.pipeline.commit(self.run, call, staged)
            final_verdict = verdict.verdict
        except CommitRefused as exc:
            text = f"commit refused, nothing was written: {exc}"
            reasons.append(str(exc))
            final_verdict = "block"
        report = self._report(
            call,
            pending,
            pending.get("outcome", "allow"),
            reasons + verdict.reasons,
            final_verdict,
            staged.sandbox_id,
            pending["decision"]["policy_version"],
        )
        trust = staged.outcome.trust.value
        return {
            "steps": [report],
            "pending": None,
            "messages": [_msg("tool", call.agent, text, tool=call.tool, trust=trust)],
            "route": _agent_node(call.agent),
        }

    def _finish(self, state: RunState) -> dict[str, Any]:
        pending = state["pending"] or {}
        verdict, text = self.pipeline.check_answer(
            self.run, pending["agent"], state.get("step", 0), pending["answer"]
        )
        if verdict.verdict == "block":
            reasons = "; ".join(verdict.reasons) or "the safety node blocked the answer"
            ended = self._end(state, "blocked", f"the final answer was blocked: {reasons}")
            return {**ended, "alternatives": list(verdict.alternatives), "route": END}
        if verdict.verdict == "escalate":
            held = {**pending, "verdict": verdict.model_dump(), "text": text}
            return {"pending": held, "route": "answer_review"}
        return {
            "status": "completed",
            "output": text,
            "reason": None,
            "pending": None,
            "route": END,
        }

    def _answer_review(self, state: RunState) -> dict[str, Any]:
        """Hold an escalated final answer until a human releases or refuses it."""
        pending = state["pending"] or {}
        verdict = pending["verdict"]
        reasons = list(verdict["reasons"]) or ["the safety node escalated the final answer"]
        request = {
            "kind": "answer",
            "run_id": self.run.run_id,
            "step": state.get("step", 0),
            "agent": pending["agent"],
            "tool": "answer",
            "args": {"answer": pending["answer"]},
            "reasons": reasons,
            "findings": _finding_summaries(verdict),
            "provenance": {},
            "untrusted_sources_seen": list(self.run.untrusted_sources),
        }
        approved, who, why = self._ask_human(request)
        if approved:
            return {
                "status": "completed",
                "output": pending["text"],
                "reason": None,
                "pending": None,
            }
        reason = f"the final answer was escalated and then denied by {who}" + (
            f": {why}" if why else ""
        )
        return self._end(state, "blocked", reason)

    def _report(
        self,
        call: ToolCall,
        pending: dict[str, Any],
        decision: str,
        reasons: list[str],
        verdict: str | None,
        sandbox_id: str | None,
        policy_version: str,
        alternatives: list[str] | None = None,
    ) -> dict[str, Any]:
        elapsed = (time.perf_counter() - pending["started"]) * 1000
        report = StepReport(
            step=call.step,
            agent=call.agent,
            tool=call.tool,
            decision=decision,  # type: ignore[arg-type]
            reasons=reasons,
            verdict=verdict,  # type: ignore[arg-type]
            sandbox_id=sandbox_id,
            duration_ms=round(elapsed, 3),
            policy_version=policy_version,
            alternatives=list(alternatives or []),
        )
        if self.on_step is not None:
            self.on_step(report)
        return report.model_dump(mode="json")


def _obligated_timeout(default: float | None, obligations: dict[str, Any]) -> float | None:
    """A policy obligation may only shorten the call's timeout, never lengthen it."""
    obliged = obligations.get("timeout_s")
    if not isinstance(obliged, int | float) or obliged <= 0:
        return default
    return float(obliged) if default is None else min(default, float(obliged))


def _finding_summaries(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """A verdict's findings as a human is shown them: where and what, never the value."""
    keys = ("type", "detector", "location", "severity", "value_hash")
    return [{k: f.get(k) for k in keys} for f in verdict.get("findings", [])]


def _answer(answer: Any, step: int) -> tuple[bool, str, str]:
    """(approved, by whom, why) from a resume value; an answer for another step is a no."""
    document = answer if isinstance(answer, dict) else {}
    approved = bool(document.get("approved")) and document.get("step") in (None, step)
    return approved, str(document.get("by") or "unknown"), str(document.get("reason") or "")


def _offer(alternatives: list[str]) -> str:
    """The safe alternatives a policy named for a refusal, as a clause for the reason."""
    return f" (safe alternative: {'; '.join(alternatives)})" if alternatives else ""


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


def _msg(
    role: str, agent: str, content: str, *, tool: str | None = None, trust: str = "trusted"
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "agent": agent, "content": content, "trust": trust}
    if tool:
        message["tool"] = tool
    return message
