"""Both policy engines name the same rules, locations and values for the same decision.

The OPA server explains from its own trace, the embedded engine from private copies of the
rules (runtime/policy/explain.py); over the conformance corpus the two must agree exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from runtime.policy.base import AUTHZ_ENTRYPOINT, MEMORY_ENTRYPOINT, SAFETY_ENTRYPOINT
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.explain import RuleHit
from runtime.policy.opa import OpaServerEngine
from tests.conformance.test_policy_engines import (
    corpus,
    memory_inputs,
    policy_inputs,
    safety_inputs,
)

pytestmark = pytest.mark.opa


def same_explanation(
    opa: OpaServerEngine, embedded: EmbeddedEngine, entrypoint: str, document: dict[str, Any]
) -> list[RuleHit]:
    expected = opa.explain(entrypoint, document)
    actual = embedded.explain(entrypoint, document)
    assert actual == expected, f"engines explain {json.dumps(document)[:300]} differently"
    assert expected.rules[0].location is not None
    return expected.rules


@corpus(100)
@given(document=policy_inputs())
def test_authz_explanations_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    rules = same_explanation(opa_engine, embedded_engine, AUTHZ_ENTRYPOINT, document)
    reasons = rules[0].value["reasons"]
    named = {rule.rule for rule in rules[1:]}
    if not rules[0].value["allow"] and not rules[0].value["require_approval"]:
        # Every deny reason comes from a deny rule that is named.
        listed = [value for rule in rules if rule.rule.endswith(".deny") for value in rule.value]
        assert sorted(listed) == reasons
    elif rules[0].value["require_approval"]:
        assert "data.runtime.authz.approval" in named


@corpus(60)
@given(document=memory_inputs())
def test_memory_explanations_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    same_explanation(opa_engine, embedded_engine, MEMORY_ENTRYPOINT, document)


@corpus(60)
@given(document=safety_inputs)
def test_safety_explanations_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    same_explanation(opa_engine, embedded_engine, SAFETY_ENTRYPOINT, document)


def test_a_remote_server_explains_from_the_modules_it_holds(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine
) -> None:
    remote = OpaServerEngine(url=opa_engine.url, token=opa_engine.token)
    document = {
        "schema_version": "1",
        "subject": {"agent": "planner", "team": "rogue", "roles": [], "tenant": "acme"},
        "action": {"tool": "python.run", "effect": "exec", "args": {"code": "1"}},
        "provenance": {"args": {}, "untrusted_sources_seen": []},
        "context": {"run_id": "r", "step": 1, "task": "t", "calls_so_far": {}},
        "risk": {"score": 0.0},
    }
    try:
        listed = remote.explain(AUTHZ_ENTRYPOINT, document).rules
    finally:
        remote.close()
    local = embedded_engine.explain(AUTHZ_ENTRYPOINT, document).rules
    assert [(rule.rule, rule.value) for rule in listed] == [
        (rule.rule, rule.value) for rule in local
    ]
    for remote_rule, local_rule in zip(listed, local, strict=True):
        # The server names a module by the path it was loaded from.
        assert remote_rule.location is not None and local_rule.location is not None
        assert ("/" + remote_rule.location).endswith("/" + local_rule.location)
