"""What the run record keeps of content: redacted by the real detectors, capped, hashed, and
withheld when it cannot be made safe; which steps make a run `completed_with_blocks`."""

from __future__ import annotations

import hashlib
from typing import Any

from runtime.audit.store import AuditEvent
from runtime.models import PendingAction, Verdict
from runtime.record import (
    ARG_CAP,
    TAIL_CAP,
    WITHHELD,
    args_sha256,
    final_status,
    outcome,
    redacted,
    shown,
    shown_args,
    shown_tail,
)
from runtime.safety.checker import default_checker

SECRET = "ghp_" + "Zq8Xw2Lm4Np6Rt1Vb3Kc5Hd7Jf9Gs0Ty2Ue4"
CHECKER = default_checker()


def test_an_argument_is_redacted_capped_and_hashed() -> None:
    text = f"token = {SECRET}\n" + "x" * (ARG_CAP * 2)
    kept = shown(CHECKER, "message:content", text, cap=ARG_CAP)
    assert SECRET not in kept["text"] and "REDACTED" in kept["text"]
    assert len(kept["text"]) == ARG_CAP and kept["truncated"]
    assert kept["len"] == len(text)
    assert kept["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert kept["redacted"]


def test_a_secret_cut_by_the_cap_of_a_tail_is_still_found() -> None:
    text = "a" * 5000 + SECRET + "b" * (TAIL_CAP - 10)
    tail = shown_tail(CHECKER, "stdout", text)
    assert tail is not None
    assert SECRET[-10:] not in tail["text"]
    assert tail["text"].endswith("b" * (TAIL_CAP - 10))
    assert shown_tail(CHECKER, "stdout", "") is None


def test_values_that_are_not_strings_are_shown_as_json_and_scanned() -> None:
    view = shown_args(CHECKER, {"n": 3, "flag": True, "nested": {"key": SECRET}})
    assert view["n"] == 3 and view["flag"] is True
    assert SECRET not in str(view) and '"key"' in view["nested"]["text"]
    assert args_sha256({"a": 1, "b": "x"}) == args_sha256({"b": "x", "a": 1})


class BrokenChecker:
    def check(self, action: PendingAction) -> Verdict:
        raise RuntimeError("detector crashed")

    def redact(self, text: str, findings: list[Any]) -> str:
        return text


class ClosedChecker(BrokenChecker):
    def check(self, action: PendingAction) -> Verdict:
        return Verdict(verdict="block", reasons=["the safety check did not finish"])


def test_content_that_cannot_be_checked_is_withheld() -> None:
    for checker in (BrokenChecker(), ClosedChecker()):
        kept = shown(checker, "message:code", SECRET, cap=ARG_CAP)
        assert kept["text"] == WITHHELD and kept["withheld"]
        assert kept["sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert redacted(CHECKER, [f"path /etc/{SECRET} must be relative"]) != [
        f"path /etc/{SECRET} must be relative"
    ]


def _event(seq: int, kind: str, payload: dict[str, Any], step: int | None = None) -> AuditEvent:
    return AuditEvent(
        seq=seq,
        ts="2026-01-01T00:00:00+00:00",
        run_id="r1",
        kind=kind,
        agent="coder",
        step=step,
        payload=payload,
        prev_hash="0" * 64,
        hash="0" * 64,
    )


def test_refused_blocked_and_redacted_steps_mark_a_completed_run() -> None:
    events = [
        _event(1, "decision", {"decision": "deny"}, 1),
        _event(2, "proposal", {"refused": "unknown tool"}, 2),
        _event(3, "verdict", {"verdict": "redact"}, 3),
        _event(4, "verdict", {"verdict": "block"}, 4),
        _event(5, "verdict", {"verdict": "pass"}, 5),
        _event(6, "approval", {"approved": False}, 6),
    ]
    marked = outcome(events)
    assert marked == {
        "blocked_steps": [1, 2, 4, 6],
        "redacted_steps": [3],
        "answer_redacted": False,
    }
    assert final_status("completed", marked) == "completed_with_blocks"
    assert final_status("blocked", marked) == "blocked"
    clean = outcome([_event(1, "verdict", {"verdict": "pass"}, 1)])
    assert final_status("completed", clean) == "completed"
    answer = outcome([_event(1, "verdict", {"verdict": "redact", "after_step": 2})])
    assert final_status("completed", answer) == "completed_with_blocks"
