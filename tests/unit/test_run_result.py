"""`RunResult.raise_for_status`: a blocked or failed run as the error it stands for."""

from __future__ import annotations

import pytest

from runtime.errors import PolicyDenied, RunFailed, SafetyBlocked
from runtime.models import RunResult, StepReport


def step(decision: str, verdict: str | None) -> StepReport:
    return StepReport.model_validate(
        {
            "step": 1,
            "agent": "planner",
            "tool": "python.run",
            "decision": decision,
            "reasons": ["tool python.run is not granted to agent planner"],
            "verdict": verdict,
            "duration_ms": 1.0,
            "policy_version": "sha256:abc",
            "alternatives": ["use fs.read"],
        }
    )


def result(status: str, steps: list[StepReport], reason: str | None = "why") -> RunResult:
    return RunResult.model_validate(
        {"run_id": "r1", "status": status, "output": "", "steps": steps, "reason": reason}
    )


def test_a_denial_that_ended_the_run_raises_policy_denied_with_its_decision() -> None:
    with pytest.raises(PolicyDenied) as caught:
        result("blocked", [step("deny", None)]).raise_for_status()
    assert str(caught.value) == "why"
    assert caught.value.exit_code == 3
    decision = caught.value.decision
    assert (decision.outcome, decision.reasons, decision.alternatives, decision.policy_version) == (
        "deny",
        ["tool python.run is not granted to agent planner"],
        ["use fs.read"],
        "sha256:abc",
    )


def test_a_safety_block_raises_safety_blocked() -> None:
    with pytest.raises(SafetyBlocked, match=r"^why$"):
        result("blocked", [step("allow", "block")]).raise_for_status()
    with pytest.raises(SafetyBlocked, match=r"^the final answer was blocked$"):
        result("blocked", [], "the final answer was blocked").raise_for_status()


def test_a_failed_run_raises_run_failed_and_others_return_themselves() -> None:
    with pytest.raises(RunFailed, match=r"^run r1 ended failed$"):
        result("failed", [], None).raise_for_status()
    done = result("completed", [step("allow", "pass")])
    assert done.raise_for_status() is done
    waiting = result("awaiting_approval", [])
    assert waiting.raise_for_status() is waiting
