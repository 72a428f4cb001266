"""The safety seam: a checker looks at a staged action and returns a verdict."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from runtime.models import Finding, PendingAction, Verdict


@runtime_checkable
class Detector(Protocol):
    """Finds one family of problems (secrets, PII, injected instructions) in text."""

    name: str

    def scan(self, location: str, text: str) -> list[Finding]: ...


@runtime_checkable
class SafetyChecker(Protocol):
    """Inspects what an action would do before it commits."""

    def check(self, action: PendingAction) -> Verdict: ...

    def redact(self, text: str, findings: list[Finding]) -> str: ...
