"""Issue 13, one definition per concept: the concepts once written in several places are
read from one, and what must still be spelled twice (a shell script's pin) is held equal."""

from __future__ import annotations

import itertools
import re
from typing import get_args

from runtime.models import VERDICT_STRICTNESS, Finding, Verdict, VerdictKind
from runtime.policy.bundle import OPA_VERSION
from runtime.policy.schema import SafetyVerdictDocument
from tests.conftest import REPO


def test_verdict_kinds_and_their_order_are_defined_once() -> None:
    assert list(VERDICT_STRICTNESS) == ["pass", "redact", "escalate", "block"]
    assert set(VERDICT_STRICTNESS) == set(get_args(VerdictKind))
    # The policy's safety verdict document accepts exactly these kinds.
    schema = SafetyVerdictDocument.model_json_schema()
    assert set(schema["properties"]["verdict"]["enum"]) == set(VERDICT_STRICTNESS)


def test_the_strictest_verdict_wins_whatever_the_order() -> None:
    finding = Finding(
        type="email",
        detector="pii",
        location="file:a.txt",
        start=0,
        end=3,
        severity="medium",
        value_hash="sha256:" + "0" * 64,
    )
    kinds = list(VERDICT_STRICTNESS)
    for order in itertools.permutations(kinds):
        verdicts = [
            Verdict(verdict=kind, reasons=[kind], alternatives=[f"instead of {kind}"])
            for kind in order
        ]
        verdicts[0] = verdicts[0].model_copy(update={"findings": [finding]})
        merged = Verdict.strictest(verdicts)
        assert merged.verdict == "block"
        assert sorted(merged.reasons) == sorted(kinds)
        assert merged.findings == [finding]
        assert merged.alternatives == ["instead of block"]
    assert Verdict.strictest([]).verdict == "pass"


def test_setup_installs_the_opa_version_the_runtime_pins() -> None:
    """scripts/setup.sh is bash and cannot import the pin; it must say the same version."""
    script = (REPO / "scripts" / "setup.sh").read_text()
    pinned = re.findall(r"^OPA_VERSION=(\S+)$", script, flags=re.MULTILINE)
    assert pinned == [OPA_VERSION]
