"""The fail-closed front of the policy layer: every failure to decide becomes a deny.

`Authorizer` validates the input against its schema, asks the engine, validates the
answer against the decision document, and stamps the Decision with the policy version,
the decision id and the engine name. Whatever goes wrong (engine down, timeout, undefined
or empty or malformed decision, an input that does not fit the schema) the answer is a
deny whose reason says which, e.g. `deny (fail closed: policy engine unreachable: ...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from runtime.errors import AgentRuntimeError
from runtime.models import (
    Decision,
    DecisionDocument,
    MemoryAccessInput,
    PolicyInput,
    PolicyInputV1,
    policy_input_model,
)
from runtime.policy.base import (
    AUTHZ_ENTRYPOINT,
    MEMORY_ENTRYPOINT,
    SAFETY_ENTRYPOINT,
    EvalResult,
    PolicyEngine,
)
from runtime.policy.cache import DecisionCache
from runtime.policy.schema import SafetyVerdictDocument

DocumentModel = TypeVar("DocumentModel", bound=BaseModel)


class DecisionFailure(Exception):
    """Internal: why no valid decision came back (turned into a fail-closed deny)."""


def first_validation_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(document)"
    return f"{location}: {error['msg']}"


def input_document(model: type[BaseModel], inp: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document the engine will see; DecisionFailure when it breaks the schema."""
    try:
        if type(inp) is model:
            # Validated when it was built and frozen since: dump it once (a third of the cost).
            return inp.model_dump(mode="json")
        raw = inp.model_dump(mode="json") if isinstance(inp, BaseModel) else dict(inp)
        return model.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise DecisionFailure(
            f"input does not match the {getattr(model, 'schema_name', model.__name__)} schema: "
            f"{first_validation_error(exc)}"
        ) from exc
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise DecisionFailure(f"input is not a JSON document: {exc}") from exc


class Authorizer:
    """Authorizes tool calls and memory access; never raises for a failure to decide."""

    def __init__(self, engine: PolicyEngine, cache: DecisionCache | None = None) -> None:
        self.engine = engine
        self.cache = cache
        self._cached_version: str | None = None
        self._lock = threading.Lock()

    @property
    def policy_version(self) -> str:
        return self._safe_version()

    def authorize(self, inp: PolicyInput | PolicyInputV1 | Mapping[str, Any]) -> Decision:
        """Schema 2, or schema 1 for one more release (by the input's `schema_version`)."""
        return self.decide(AUTHZ_ENTRYPOINT, policy_input_model(inp), inp)

    def authorize_memory(self, inp: MemoryAccessInput | Mapping[str, Any]) -> Decision:
        return self.decide(MEMORY_ENTRYPOINT, MemoryAccessInput, inp)

    def decide(
        self, entrypoint: str, model: type[BaseModel], inp: BaseModel | Mapping[str, Any]
    ) -> Decision:
        """Evaluate a decision-document entrypoint for an input validated against `model`."""
        version = self._safe_version()
        try:
            document = input_document(model, inp)
        except DecisionFailure as failure:
            return self._fail_closed(str(failure), version)
        key = self._cache_key(entrypoint, version, document)
        if key is not None and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        try:
            evaluated = self._evaluate(entrypoint, document)
            decision = self._decision_from(entrypoint, evaluated)
        except DecisionFailure as failure:
            return self._fail_closed(str(failure), version)
        if key is not None and self.cache is not None and evaluated.policy_version == version:
            self.cache.put(key, decision.model_copy(update={"decision_id": None}))
        return decision

    def safety_verdict(self, input_doc: Mapping[str, Any]) -> dict[str, Any]:
        """`{"verdict", "reasons", "alternatives"}` from `runtime.safety`.

        Any failure to decide is a block (fail closed) with no alternatives.
        """
        try:
            evaluated = self._evaluate(SAFETY_ENTRYPOINT, dict(input_doc))
            verdict = self._validated(SafetyVerdictDocument, SAFETY_ENTRYPOINT, evaluated.result)
        except DecisionFailure as failure:
            verdict = SafetyVerdictDocument(
                verdict="block", reasons=[f"block (fail closed: {failure})"]
            )
        return verdict.model_dump()

    # ------------------------------------------------------------------ internals

    def _safe_version(self) -> str:
        try:
            return self.engine.policy_version
        except Exception:
            return ""

    def _cache_key(self, entrypoint: str, version: str, document: dict[str, Any]) -> str | None:
        if self.cache is None:
            return None
        with self._lock:
            if self._cached_version != version:
                self.cache.clear()
                self._cached_version = version
        return DecisionCache.key(entrypoint, version, document)

    def _evaluate(self, entrypoint: str, document: dict[str, Any]) -> EvalResult:
        try:
            return self.engine.evaluate(entrypoint, document)
        except AgentRuntimeError as exc:
            raise DecisionFailure(str(exc)) from exc
        except Exception as exc:
            # An engine bug must still deny, and say what happened.
            raise DecisionFailure(f"policy engine error: {type(exc).__name__}: {exc}") from exc

    def _decision_from(self, entrypoint: str, evaluated: EvalResult) -> Decision:
        document = self._validated(DecisionDocument, entrypoint, evaluated.result)
        return Decision(
            allow=document.allow,
            require_approval=document.require_approval,
            reasons=list(document.reasons),
            obligations=dict(document.obligations),
            alternatives=list(document.alternatives),
            policy_version=evaluated.policy_version,
            decision_id=evaluated.decision_id,
            engine=evaluated.engine or self.engine.name,
        )

    @staticmethod
    def _validated(model: type[DocumentModel], entrypoint: str, result: Any) -> DocumentModel:
        rule = "data." + entrypoint.replace("/", ".")
        if result is None:
            raise DecisionFailure(f"decision undefined: {rule} has no value for this input")
        if result in ({}, [], ""):
            raise DecisionFailure(f"empty decision: {rule} evaluated to {result!r}")
        try:
            return model.model_validate(result)
        except ValidationError as exc:
            raise DecisionFailure(
                f"malformed decision from {rule}: {first_validation_error(exc)}"
            ) from exc

    def _fail_closed(self, why: str, version: str) -> Decision:
        return Decision.fail_closed(why, policy_version=version, engine=self._safe_engine_name())

    def _safe_engine_name(self) -> str:
        try:
            return self.engine.name
        except Exception:
            return ""
