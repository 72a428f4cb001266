"""Policy obligations that shape what a tool returns.

An allowed decision may carry obligations (`rego/data.json`, `authz.obligations`); each one
the built-in library declares takes effect here or in the graph:

    timeout_s         the call's timeout (graph: may only shorten the sandbox's ceiling)
    max_output_bytes  the text the agent sees is cut to this many UTF-8 bytes
    label_output      "untrusted" marks the output untrusted, whatever the tool declared

An obligation this runtime does not know is not ignored: the tool is not run (fail closed),
since the policy asked for something nobody would enforce. `label_output` only ever lowers
trust: a tool that brings in outside content declares so, and no data entry can make that
content the user's own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from runtime.models import Trust
from runtime.toolkit.base import ToolOutcome

KNOWN: Final = frozenset({"timeout_s", "max_output_bytes", "label_output"})


def obligation_problems(obligations: Mapping[str, Any]) -> list[str]:
    """Why these obligations cannot be honoured (unknown keys, malformed values); empty
    when every one of them can."""
    problems = [f"unknown obligation {key!r}" for key in sorted(obligations) if key not in KNOWN]
    cap = obligations.get("max_output_bytes", 0)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        problems.append(f"max_output_bytes must be a non-negative integer, not {cap!r}")
    label = obligations.get("label_output", Trust.UNTRUSTED.value)
    if label not in {t.value for t in Trust}:
        problems.append(f"label_output must be 'trusted' or 'untrusted', not {label!r}")
    return problems


def apply_obligations(outcome: ToolOutcome, obligations: Mapping[str, Any]) -> ToolOutcome:
    cap = obligations.get("max_output_bytes")
    if isinstance(cap, int):
        outcome.result = _cut(outcome.result, cap)
    if obligations.get("label_output") == Trust.UNTRUSTED.value:
        outcome.trust = Trust.UNTRUSTED
        outcome.field_trust = dict.fromkeys(outcome.field_trust, Trust.UNTRUSTED)
    return outcome


def _cut(text: str, cap: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= cap:
        return text
    kept = data[:cap].decode("utf-8", errors="ignore")
    return kept + f"\n[output cut to {cap} bytes by policy; it was {len(data)} bytes]"
