"""The authorizer fails closed, says why, and caches only real decisions.

Fake engines here stand in for the failure modes only; real decisions are tested against
real engines (embedded in unit tests, OPA in integration tests).
"""

from __future__ import annotations

from typing import Any

import pytest

from runtime.errors import PolicyUnavailable
from runtime.models import Decision, MemoryAccessInput, PolicyInput
from runtime.policy.authorizer import Authorizer
from runtime.policy.base import AUTHZ_ENTRYPOINT, EvalResult, PolicyEngine
from runtime.policy.cache import DecisionCache

ALLOW = {"allow": True, "require_approval": False, "reasons": ["ok"], "obligations": {}}


class FakeEngine:
    """Answers every query with `answer` (or raises it) and counts the queries."""

    def __init__(self, answer: Any, *, version: str = "sha256:v1") -> None:
        self.answer = answer
        self.version = version
        self.calls = 0

    @property
    def name(self) -> str:
        return "fake"

    @property
    def policy_version(self) -> str:
        return self.version

    def evaluate(self, entrypoint: str, input_doc: dict[str, Any]) -> EvalResult:
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return EvalResult(
            result=self.answer,
            decision_id=f"id-{self.calls}",
            policy_version=self.version,
            engine="fake",
        )

    def close(self) -> None:
        pass


def policy_input(**overrides: Any) -> PolicyInput:
    document: dict[str, Any] = {
        "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
        "action": {"tool": "fs.read", "effect": "read", "args": {"path": "a.txt"}},
        "context": {"run_id": "r1", "step": 1, "task": "t"},
    }
    document.update(overrides)
    return PolicyInput.model_validate(document)


def denied(why: str, engine: str = "fake", version: str = "sha256:v1") -> Decision:
    return Decision(
        allow=False, reasons=[f"deny (fail closed: {why})"], policy_version=version, engine=engine
    )


def test_fake_engine_satisfies_the_protocol() -> None:
    assert isinstance(FakeEngine(ALLOW), PolicyEngine)


def test_allowed_decision_carries_version_id_and_engine() -> None:
    decision = Authorizer(FakeEngine(ALLOW)).authorize(policy_input())
    assert decision == Decision(
        allow=True,
        reasons=["ok"],
        policy_version="sha256:v1",
        decision_id="id-1",
        engine="fake",
    )


def test_refusal_carries_the_policy_alternatives() -> None:
    answer = {
        "allow": False,
        "reasons": ["tool python.run is not granted to agent planner"],
        "alternatives": ["use a tool granted to agent planner instead: fs.read"],
    }
    decision = Authorizer(FakeEngine(answer)).authorize(policy_input())
    assert decision == Decision(
        allow=False,
        reasons=["tool python.run is not granted to agent planner"],
        alternatives=["use a tool granted to agent planner instead: fs.read"],
        policy_version="sha256:v1",
        decision_id="id-1",
        engine="fake",
    )


def test_fail_closed_decision_offers_no_alternative() -> None:
    decision = Decision.fail_closed("policy engine unreachable: down", engine="fake")
    assert decision == Decision(
        allow=False,
        reasons=["deny (fail closed: policy engine unreachable: down)"],
        alternatives=[],
        engine="fake",
    )
    assert decision.outcome == "deny"


def test_unreachable_engine_denies_and_says_so() -> None:
    engine = FakeEngine(PolicyUnavailable("policy engine unreachable: connection refused"))
    assert Authorizer(engine).authorize(policy_input()) == denied(
        "policy engine unreachable: connection refused"
    )


def test_engine_timeout_denies_and_says_so() -> None:
    engine = FakeEngine(PolicyUnavailable("policy engine timed out after 1.0s: OPA at x"))
    assert Authorizer(engine).authorize(policy_input()) == denied(
        "policy engine timed out after 1.0s: OPA at x"
    )


def test_engine_bug_denies_and_names_the_error() -> None:
    engine = FakeEngine(ValueError("boom"))
    assert Authorizer(engine).authorize(policy_input()) == denied(
        "policy engine error: ValueError: boom"
    )


def test_undefined_decision_denies() -> None:
    assert Authorizer(FakeEngine(None)).authorize(policy_input()) == denied(
        "decision undefined: data.runtime.authz.decision has no value for this input"
    )


@pytest.mark.parametrize("empty", [{}, [], ""])
def test_empty_decision_denies(empty: Any) -> None:
    assert Authorizer(FakeEngine(empty)).authorize(policy_input()) == denied(
        f"empty decision: data.runtime.authz.decision evaluated to {empty!r}"
    )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"allow": "yes"}, "allow: Input should be a valid boolean"),
        ({"allow": True, "reasons": "ok"}, "reasons: Input should be a valid list"),
        ({"allow": True, "reasons": [1]}, "reasons.0: Input should be a valid string"),
        ({"allow": True, "grant": "all"}, "grant: Extra inputs are not permitted"),
        ({"reasons": []}, "allow: Field required"),
        (
            {"allow": False, "alternatives": "use fs.read"},
            "alternatives: Input should be a valid list",
        ),
        ({"allow": False, "alternatives": [3]}, "alternatives.0: Input should be a valid string"),
        ({"allow": False, "alternatives": None}, "alternatives: Input should be a valid list"),
        (True, "(document): Input should be a valid dictionary or instance of DecisionDocument"),
    ],
)
def test_malformed_decision_denies(answer: Any, why: str) -> None:
    assert Authorizer(FakeEngine(answer)).authorize(policy_input()) == denied(
        f"malformed decision from data.runtime.authz.decision: {why}"
    )


def test_schema_invalid_input_never_reaches_the_engine() -> None:
    engine = FakeEngine(ALLOW)
    decision = Authorizer(engine).authorize({"subject": {"agent": "coder"}})
    assert decision == denied(
        "input does not match the PolicyInput schema: subject.team: Field required"
    )
    assert engine.calls == 0


def test_input_with_wrong_effect_is_refused() -> None:
    document = policy_input().model_dump(mode="json")
    document["action"]["effect"] = "teleport"
    decision = Authorizer(FakeEngine(ALLOW)).authorize(document)
    assert decision == denied(
        "input does not match the PolicyInput schema: action.effect: "
        "Input should be 'read', 'write', 'exec', 'external' or 'egress'"
    )


def test_non_json_arguments_are_refused() -> None:
    document = policy_input().model_dump(mode="json")
    document["action"]["args"] = {"path": object()}
    decision = Authorizer(FakeEngine(ALLOW)).authorize(document)
    assert decision.allow is False
    assert decision.reasons[0].startswith("deny (fail closed: input is not a JSON document: ")


def test_memory_access_is_decided_at_the_memory_entrypoint() -> None:
    access = MemoryAccessInput.model_validate(
        {
            "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
            "operation": "read",
            "namespace": "acme/coder",
            "run_id": "r1",
        }
    )
    assert Authorizer(FakeEngine(None)).authorize_memory(access) == denied(
        "decision undefined: data.runtime.memory.decision has no value for this input"
    )


def test_safety_verdict_passes_a_valid_document_through() -> None:
    engine = FakeEngine({"verdict": "redact", "reasons": ["email"]})
    assert Authorizer(engine).safety_verdict({"findings": []}) == {
        "verdict": "redact",
        "reasons": ["email"],
        "alternatives": [],
    }


def test_safety_verdict_carries_the_policy_alternatives() -> None:
    engine = FakeEngine(
        {"verdict": "block", "reasons": ["a private_key"], "alternatives": ["name it"]}
    )
    assert Authorizer(engine).safety_verdict({"findings": []}) == {
        "verdict": "block",
        "reasons": ["a private_key"],
        "alternatives": ["name it"],
    }


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (PolicyUnavailable("policy engine unreachable: down"), "policy engine unreachable: down"),
        (None, "decision undefined: data.runtime.safety.verdict has no value for this input"),
        (
            {"verdict": "maybe", "reasons": []},
            "malformed decision from data.runtime.safety.verdict: verdict: "
            "Input should be 'pass', 'redact', 'block' or 'escalate'",
        ),
        (
            {"verdict": "block", "alternatives": "name it"},
            "malformed decision from data.runtime.safety.verdict: alternatives: "
            "Input should be a valid list",
        ),
        (
            {"verdict": "block", "alternatives": [{"text": "name it"}]},
            "malformed decision from data.runtime.safety.verdict: alternatives.0: "
            "Input should be a valid string",
        ),
    ],
)
def test_safety_verdict_blocks_when_it_cannot_decide(answer: Any, reason: str) -> None:
    assert Authorizer(FakeEngine(answer)).safety_verdict({"findings": []}) == {
        "verdict": "block",
        "reasons": [f"block (fail closed: {reason})"],
        "alternatives": [],
    }


# --------------------------------------------------------------------------- cache


def test_cached_decision_skips_the_engine() -> None:
    engine = FakeEngine(ALLOW)
    authorizer = Authorizer(engine, DecisionCache())
    first = authorizer.authorize(policy_input())
    second = authorizer.authorize(policy_input())
    assert engine.calls == 1
    assert first.decision_id == "id-1"
    # A cached answer was not logged by the engine, so it has no decision id of its own.
    assert second == first.model_copy(update={"decision_id": None})


def test_cache_ignores_key_order_of_the_input() -> None:
    engine = FakeEngine(ALLOW)
    authorizer = Authorizer(engine, DecisionCache())
    document = policy_input().model_dump(mode="json")
    reordered = dict(reversed(list(document.items())))
    authorizer.authorize(document)
    authorizer.authorize(reordered)
    assert engine.calls == 1


def test_policy_change_clears_the_cache() -> None:
    engine = FakeEngine(ALLOW)
    cache = DecisionCache()
    authorizer = Authorizer(engine, cache)
    authorizer.authorize(policy_input())
    engine.version = "sha256:v2"
    decision = authorizer.authorize(policy_input())
    assert engine.calls == 2
    assert decision.policy_version == "sha256:v2"
    assert len(cache) == 1


def test_fail_closed_decisions_are_not_cached() -> None:
    engine = FakeEngine(PolicyUnavailable("policy engine unreachable: down"))
    authorizer = Authorizer(engine, DecisionCache())
    authorizer.authorize(policy_input())
    engine.answer = ALLOW
    assert authorizer.authorize(policy_input()).allow is True


def test_cache_evicts_the_least_recently_used() -> None:
    cache = DecisionCache(maxsize=2)
    decision = Decision(allow=True)
    cache.put("a", decision)
    cache.put("b", decision)
    assert cache.get("a") == decision
    cache.put("c", decision)
    assert cache.get("b") is None
    assert cache.get("a") == decision
    assert len(cache) == 2


def test_cache_key_separates_entrypoints_and_versions() -> None:
    document = {"x": 1}
    keys = {
        DecisionCache.key(AUTHZ_ENTRYPOINT, "v1", document),
        DecisionCache.key(AUTHZ_ENTRYPOINT, "v2", document),
        DecisionCache.key("runtime/memory/decision", "v1", document),
    }
    assert len(keys) == 3
