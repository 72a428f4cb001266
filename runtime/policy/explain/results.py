"""What an explanation is: the rules that produced a decision, each with its place."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from runtime.models import Frozen


class RuleHit(Frozen):
    """One rule definition that produced (part of) a decision."""

    rule: str
    location: str | None = None
    value: Any = None


class Explanation(Frozen):
    """What an engine observed: the entrypoint's value and the rules that produced it."""

    result: Any = None
    rules: list[RuleHit]


class ExplainedDecision(Frozen):
    """A decision as the runtime would take it, with the rules that produced it."""

    entrypoint: str
    outcome: str
    decision: dict[str, Any]
    rules: list[RuleHit]
    note: str = ""

    def document(self) -> dict[str, Any]:
        """The `--json` document: `{"decision": {...}, "rules": [...]}`."""
        return {
            "decision": self.decision,
            "rules": [hit.model_dump(mode="json") for hit in self.rules],
        }


@runtime_checkable
class ExplainingEngine(Protocol):
    """A PolicyEngine that can also say which rules produced an entrypoint's value."""

    def explain(self, entrypoint: str, input_doc: dict[str, Any]) -> Explanation: ...
