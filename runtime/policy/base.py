"""The policy seam: an engine evaluates a Rego entrypoint; it never executes anything."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from runtime.models import Frozen

AUTHZ_ENTRYPOINT = "runtime/authz/decision"
MEMORY_ENTRYPOINT = "runtime/memory/decision"
SAFETY_ENTRYPOINT = "runtime/safety/verdict"


class EvalResult(Frozen):
    """The raw answer of an engine; `result` is None when the rule is undefined."""

    result: Any = None
    decision_id: str | None = None
    policy_version: str = ""
    engine: str = ""


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates `data.<entrypoint>` for an input document.

    Raises PolicyUnavailable when it cannot answer (down, timeout); callers turn that into
    a deny. Never raises for an undefined rule: that is `EvalResult(result=None)`.
    """

    @property
    def name(self) -> str: ...

    @property
    def policy_version(self) -> str: ...

    def evaluate(self, entrypoint: str, input_doc: dict[str, Any]) -> EvalResult: ...

    def close(self) -> None: ...
