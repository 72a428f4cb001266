"""The checker: runs detectors over a staged action and turns findings into a verdict.

Owns the order detectors run in, the input document handed to the safety rules (the Rego
package `runtime.safety`, wired by the pipeline through the policy engine), the validation
of their answer, and the built-in default rules used when no rules are wired. Every failure
fails closed: a detector or the rules raising, or rules answering something malformed,
turns into `block` with a reason that says why. Never commits, sends or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

from runtime.models import (
    ContentItem,
    Finding,
    PendingAction,
    PendingKind,
    Trust,
    Verdict,
    VerdictKind,
)
from runtime.safety.base import Detector
from runtime.safety.detectors import default_detectors
from runtime.safety.redact import redact

Rules = Callable[[dict[str, Any]], Mapping[str, Any]]

VERDICTS: frozenset[str] = frozenset(get_args(VerdictKind))
SIDE_EFFECTING_KINDS = frozenset(
    {PendingKind.CHANGESET, PendingKind.MEMORY_WRITE, PendingKind.MESSAGE}
)


def rules_input(action: PendingAction, findings: Sequence[Finding]) -> dict[str, Any]:
    """The document the safety rules see as `input`; it never holds a matched value."""
    return {
        "action": {
            "kind": action.kind.value,
            "tool": action.tool,
            "agent": action.agent,
            "trust": action.trust.value,
            "untrusted_sources_seen": list(action.untrusted_sources_seen),
        },
        "findings": [
            {
                "type": f.type,
                "detector": f.detector,
                "severity": f.severity,
                "location": f.location,
            }
            for f in findings
        ],
    }


def _untrusted(document: Mapping[str, Any]) -> bool:
    action = document["action"]
    return action["trust"] == Trust.UNTRUSTED.value or bool(action["untrusted_sources_seen"])


def _describe(finding: Mapping[str, Any]) -> str:
    return f"{finding['type']} ({finding['severity']}) in {finding['location']}"


def default_rules(document: dict[str, Any]) -> dict[str, Any]:
    """The built-in rules, same input and output as the Rego package `runtime.safety`.

    critical findings -> block; injection in untrusted content on a side-effecting action
    -> block; any other finding -> redact; nothing found -> pass.
    """
    findings: list[Mapping[str, Any]] = document["findings"]
    side_effecting = document["action"]["kind"] in {k.value for k in SIDE_EFFECTING_KINDS}
    blocking = [f"block: {_describe(f)}" for f in findings if f["severity"] == "critical"]
    if side_effecting and _untrusted(document):
        blocking += [
            f"block: injected instructions from untrusted content: {_describe(f)}"
            for f in findings
            if f["detector"] == "injection"
        ]
    if blocking:
        return {"verdict": "block", "reasons": blocking}
    if findings:
        return {"verdict": "redact", "reasons": [f"redact: {_describe(f)}" for f in findings]}
    return {"verdict": "pass", "reasons": []}


def _validated(answer: object) -> tuple[VerdictKind, list[str]]:
    """The rules' answer, or ValueError saying what is wrong with it."""
    if not isinstance(answer, Mapping):
        raise ValueError(f"expected an object, got {type(answer).__name__}")
    verdict = answer.get("verdict")
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {sorted(VERDICTS)}")
    reasons = answer.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ValueError("reasons must be a list of strings")
    kind: VerdictKind = verdict  # type: ignore[assignment]
    return kind, list(reasons)


def _fail_closed(why: str, findings: Sequence[Finding] = ()) -> Verdict:
    return Verdict(
        verdict="block", findings=list(findings), reasons=[f"block (fail closed: {why})"]
    )


def _error_text(exc: BaseException) -> str:
    # Only the exception's class and message: never a repr of the text being checked.
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class Checker:
    """A SafetyChecker: detectors in order over every item, then the rules decide."""

    def __init__(self, detectors: Sequence[Detector], rules: Rules | None = None) -> None:
        self._detectors = tuple(detectors)
        self._rules = rules

    def scan(self, action: PendingAction) -> list[Finding]:
        """Every finding of every detector over every item, items in order."""
        findings: list[Finding] = []
        for item in action.items:
            for detector in self._detectors:
                findings.extend(detector.scan(item.location, item.text))
        return findings

    def check(self, action: PendingAction) -> Verdict:
        try:
            findings = self.scan(action)
        except Exception as exc:
            return _fail_closed(f"a detector failed: {_error_text(exc)}")
        document = rules_input(action, findings)
        rules: Rules = self._rules if self._rules is not None else default_rules
        try:
            verdict, reasons = _validated(rules(document))
        except Exception as exc:
            return _fail_closed(f"safety rules failed: {_error_text(exc)}", findings)
        return Verdict(verdict=verdict, findings=findings, reasons=reasons)

    def redact(self, text: str, findings: list[Finding]) -> str:
        return redact(text, findings)

    def redact_action(self, action: PendingAction, findings: Sequence[Finding]) -> PendingAction:
        """A copy of `action` with each item's findings (matched by location) redacted."""
        items = [
            ContentItem(
                location=item.location,
                text=redact(item.text, [f for f in findings if f.location == item.location]),
            )
            for item in action.items
        ]
        return action.model_copy(update={"items": items})


def default_checker(rules: Rules | None = None) -> Checker:
    """A checker with the built-in detectors; `rules` None means the built-in default rules."""
    return Checker(default_detectors(), rules)
