"""The graph's pauses for a human: approval before execution, release of an escalated call,
review of an escalated final answer.

Each node calls LangGraph's `interrupt` with a request (the run ends `awaiting_approval`, its
checkpoint on disk); `runtime approve` / `runtime deny` resume it with the answer. A request
names the call and its arguments' digest, never their raw values: those stay in the run's
held store (`args_ref`) where `runtime runs pending` reads them for the reviewer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langgraph.types import interrupt

from runtime.graph_state import PendingCall, RunState
from runtime.safety.items import safe_name

if TYPE_CHECKING:
    from runtime.pipeline import Pipeline, RunContext


class ReviewNodes:
    """The three pause nodes; `GraphBuilder` supplies the parts declared here."""

    pipeline: Pipeline
    run: RunContext
    _end: Callable[[str, str], dict[str, Any]]
    _report: Callable[..., dict[str, Any]]
    _refused: Callable[..., dict[str, Any]]

    def _approval(self, state: RunState) -> dict[str, Any]:
        """Pause the run before a call that needs approval, until a human answers."""
        pending = state.get("pending")
        assert isinstance(pending, PendingCall) and pending.decision is not None
        call, decision = pending.call, pending.decision
        # An outgoing message the safety node escalated waits here too, before it is sent.
        held = pending.outgoing.reasons if pending.outgoing else []
        approved, who, why, go_on = self._ask_human(
            self._request("approval", pending, [*decision.reasons, *held])
        )
        started = time.perf_counter()
        if approved:
            reasons = [*decision.reasons, f"approved by {who}" + (f": {why}" if why else "")]
            decided = decision.model_copy(update={"reasons": reasons})
            pending = pending.model_copy(update={"approved": True, "decision": decided})
            return {"pending": pending.timed(since(started)), "route": "execute"}
        self.pipeline.release_held(self.run, pending, None)
        reasons = [*decision.reasons, f"denied by {who}" + (f": {why}" if why else "")]
        report = self._report(pending.timed(since(started)), "deny", reasons, None, None)
        reason = f"{call.agent}'s call to {call.tool} was denied by {who}" + (
            f": {why}" if why else ""
        )
        if go_on:  # `deny --continue`: the reason is the tool's answer, the agent goes on
            return self._refused(state, pending, report, denied_text(who, why), reason)
        return {"steps": [report], **self._end("blocked", reason)}

    def _escalation(self, state: RunState) -> dict[str, Any]:
        """Hold an escalated action (its effects staged on disk) until a human answers."""
        pending = state.get("pending")
        assert isinstance(pending, PendingCall)
        assert pending.verdict is not None and pending.effects is not None
        call, verdict, effects = pending.call, pending.verdict, pending.effects
        reasons = list(verdict.reasons) or ["the safety node escalated this action"]
        request = {
            **self._request("escalation", pending, reasons),
            "findings": [f.summary() for f in verdict.findings],
            "files": [safe_name(c.path) for c in effects.changes.changes],
            "memory_writes": [w.namespace for w in effects.memory_writes],
        }
        approved, who, why, go_on = self._ask_human(request)
        started = time.perf_counter()
        if approved:
            released = [*reasons, f"released by {who}" + (f": {why}" if why else "")]
            verdict = verdict.model_copy(update={"reasons": released})
            pending = pending.model_copy(update={"verdict": verdict})
            return {"pending": pending.timed(since(started)), "route": "commit"}
        staged = self.pipeline.restore_staged(self.run, pending)
        if staged is not None:
            self.pipeline.discard(self.run, call, staged)
            self.run.staged.pop(call.step, None)
        elif self.run.staging is not None:
            self.run.staging.drop(call.step)
        self.pipeline.release_held(self.run, pending, staged)
        refused = [*reasons, f"denied by {who}" + (f": {why}" if why else "")]
        report = self._report(
            pending.timed(since(started)), pending.outcome, refused, "block", pending.sandbox_id
        )
        reason = f"{call.agent}'s call to {call.tool} was escalated and then denied by {who}" + (
            f": {why}" if why else ""
        )
        if go_on:  # nothing was committed; the agent reads why and may try another way
            return self._refused(state, pending, report, denied_text(who, why), reason)
        return {"steps": [report], **self._end("blocked", reason)}

    def _answer_review(self, state: RunState) -> dict[str, Any]:
        """Hold an escalated final answer until a human releases or refuses it."""
        answer = state.get("answer")
        assert answer is not None and answer.verdict is not None and answer.text_ref
        assert self.run.held is not None
        reasons = list(answer.verdict.reasons) or ["the safety node escalated the final answer"]
        request = {
            "kind": "answer",
            "run_id": self.run.run_id,
            "step": answer.step,
            "agent": answer.agent,
            "tool": "answer",
            "args": {"answer": "[held]"},
            "args_ref": None,
            "answer_ref": answer.answer_ref,
            "reasons": reasons,
            "findings": [f.summary() for f in answer.verdict.findings],
            "provenance": {},
            "untrusted_sources_seen": list(self.run.untrusted_sources),
        }
        approved, who, why, _ = self._ask_human(request)
        released = self.run.held.get_text(answer.text_ref) if approved else ""
        self.run.held.drop(answer.answer_ref, answer.text_ref)
        if approved:
            return {
                "status": "completed",
                "output": released,
                "reason": None,
                "pending": None,
                "answer": None,
            }
        reason = f"the final answer was escalated and then denied by {who}" + (
            f": {why}" if why else ""
        )
        return {**self._end("blocked", reason), "answer": None}

    def _request(self, kind: str, pending: PendingCall, reasons: list[str]) -> dict[str, Any]:
        call = pending.call
        return {
            "kind": kind,
            "run_id": self.run.run_id,
            "step": call.step,
            "agent": call.agent,
            "tool": call.tool,
            "args": call.args,
            "args_ref": pending.args_ref,
            "reasons": reasons,
            "provenance": {k: v.value for k, v in pending.provenance.items()},
            "untrusted_sources_seen": list(self.run.untrusted_sources),
        }

    def _ask_human(self, request: dict[str, Any]) -> tuple[bool, str, str, bool]:
        """Pause on `request` (LangGraph interrupt); on resume, audit who answered and how.

        Returns (approved, by whom, why, whether a denial goes back to the agent).
        """
        answer = interrupt(request)
        approved, who, why, go_on = human_answer(answer, request["step"])
        self.pipeline.record_human_answer(self.run, request, approved, who, why)
        return approved, who, why, go_on


def human_answer(answer: Any, step: int) -> tuple[bool, str, str, bool]:
    """(approved, by whom, why, go on) from a resume value; an answer for another step is
    a no. Go on: a denial is the tool's answer to the agent (`runtime deny --continue`)
    instead of the end of the run."""
    document = answer if isinstance(answer, dict) else {}
    approved = bool(document.get("approved")) and document.get("step") in (None, step)
    go_on = not approved and document.get("continue") is True
    who, why = str(document.get("by") or "unknown"), str(document.get("reason") or "")
    return approved, who, why, go_on


def denied_text(who: str, why: str) -> str:
    """What the agent reads when a human denies its call and lets the run go on."""
    return (
        f"denied by {who}, nothing was run or committed: {why or 'no reason given'}; "
        "choose another way"
    )


def offer(alternatives: list[str]) -> str:
    """The safe alternatives a policy named for a refusal, as a clause for the reason."""
    return f" (safe alternative: {'; '.join(alternatives)})" if alternatives else ""


def message(
    role: str, agent: str, content: str, *, tool: str | None = None, trust: str = "trusted"
) -> dict[str, Any]:
    """One entry of the conversation the models see."""
    entry: dict[str, Any] = {"role": role, "agent": agent, "content": content, "trust": trust}
    if tool:
        entry["tool"] = tool
    return entry


def since(started: float) -> float:
    """Milliseconds since a `time.perf_counter()` reading taken in this process."""
    return (time.perf_counter() - started) * 1000
