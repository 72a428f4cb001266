"""`runtime policy eval`: the decision the runtime would take for an input, and the rules
that produced it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from runtime.errors import AgentRuntimeError, UserError
from runtime.models import MemoryAccessInput, PolicyInput, policy_input_model
from runtime.policy.base import (
    AUTHZ_ENTRYPOINT,
    MEMORY_ENTRYPOINT,
    SAFETY_ENTRYPOINT,
    PolicyEngine,
)
from runtime.policy.explain.results import ExplainedDecision, ExplainingEngine

EntrypointName = Literal["authz", "memory", "safety"]
ENTRYPOINTS: dict[str, str] = {
    "authz": AUTHZ_ENTRYPOINT,
    "memory": MEMORY_ENTRYPOINT,
    "safety": SAFETY_ENTRYPOINT,
}


INPUT_MODELS: dict[str, type[BaseModel]] = {"authz": PolicyInput, "memory": MemoryAccessInput}


def explain_decision(
    engine: PolicyEngine, name: str, document: Mapping[str, Any]
) -> ExplainedDecision:
    """The decision the runtime would take for `document`, and the rules that produced it.

    The decision goes through the `Authorizer` (schema validation, fail-closed); the rules
    come from the engine's `explain` when it has one and the policy was asked at all.
    """
    from runtime.policy.authorizer import Authorizer, DecisionFailure, input_document

    if name not in ENTRYPOINTS:
        raise UserError(f"unknown entrypoint {name!r}: use one of {', '.join(ENTRYPOINTS)}")
    entrypoint = ENTRYPOINTS[name]
    authorizer = Authorizer(engine)
    model = policy_input_model(document) if name == "authz" else INPUT_MODELS.get(name)
    decision: dict[str, Any]
    if model is None:
        decision = authorizer.safety_verdict(document)
        outcome = str(decision["verdict"])
        input_doc = dict(document)
    else:
        taken = authorizer.decide(entrypoint, model, document)
        outcome = taken.outcome
        decision = {"outcome": outcome, **taken.model_dump(mode="json")}
        try:
            input_doc = input_document(model, document)
        except DecisionFailure as failure:
            return unexplained(
                entrypoint, outcome, decision, f"the policy was not asked: {failure}"
            )
    if not isinstance(engine, ExplainingEngine):
        note = f"the {engine.name} engine cannot explain decisions"
        return unexplained(entrypoint, outcome, decision, note)
    try:
        explanation = engine.explain(entrypoint, input_doc)
    except AgentRuntimeError as exc:
        return unexplained(entrypoint, outcome, decision, f"no explanation: {exc}")
    return ExplainedDecision(
        entrypoint=entrypoint, outcome=outcome, decision=decision, rules=explanation.rules
    )


def unexplained(
    entrypoint: str, outcome: str, decision: dict[str, Any], note: str
) -> ExplainedDecision:
    """The decision with no rules listed, and why."""
    return ExplainedDecision(
        entrypoint=entrypoint, outcome=outcome, decision=decision, rules=[], note=note
    )
