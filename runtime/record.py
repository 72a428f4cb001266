"""The run record: what a person needs to judge each step, redacted before it is stored.

The audit events are the record (`runs show`, `exec --json`, the dashboard and the exports
read them). What they keep of content a step saw is made safe here first: an argument or
an output tail is scanned by the safety node's detectors, every finding is redacted, and
the result is capped; when the scan fails or a finding cannot be redacted in place, the
text is withheld and only its length and full sha256 are kept. Never stores a raw value.

`outcome` reads a run's events for the steps where something was denied, blocked or
redacted: a run that completed with such a step ends `completed_with_blocks`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from runtime.models import ContentItem, Finding, PendingAction, PendingKind, Trust
from runtime.safety.items import redactable

if TYPE_CHECKING:
    from runtime.audit.store import AuditEvent
    from runtime.safety.base import SafetyChecker

ARG_CAP = 2_000
"""Characters of one argument kept in the proposal event (after redaction)."""
TAIL_CAP = 2_000
"""Characters of stdout and of stderr kept in the execution event (the end, redacted)."""
REASON_CAP = 4_000
"""Characters of one refusal or denial reason kept (after redaction)."""
SCAN_MARGIN = 8_192
"""Extra characters scanned around the kept part, so a secret cut by the cap is found."""
SCAN_DEADLINE_S = 2.0
WITHHELD = "[withheld: could not be redacted]"
S = TypeVar("S", bound=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def args_sha256(args: Mapping[str, Any]) -> str:
    """The full hash of a call's arguments (canonical JSON), whatever is shown of them."""
    return sha256_text(json.dumps(args, sort_keys=True, ensure_ascii=False, default=str))


def _findings(checker: SafetyChecker, location: str, text: str) -> list[Finding] | None:
    """The detectors' findings in `text`, or None when the scan did not finish."""
    action = PendingAction(
        kind=PendingKind.MESSAGE,
        run_id="record",
        step=0,
        agent="record",
        tool="record",
        items=[ContentItem(location=location, text=text)],
        trust=Trust.UNTRUSTED,
    )
    scan = getattr(checker, "scan", None)
    try:
        if callable(scan):
            found: list[Finding] = scan(action, time.monotonic() + SCAN_DEADLINE_S)
            return found
        verdict = checker.check(action)
    except Exception:
        return None
    if verdict.verdict == "block" and not verdict.findings:
        return None  # failed closed without saying what it found
    return list(verdict.findings)


def shown(
    checker: SafetyChecker, location: str, text: str, *, cap: int, tail: bool = False
) -> dict[str, Any]:
    """`text` as the record keeps it: redacted, cut to `cap` characters (its end when
    `tail`), with its full length and sha256; withheld when it cannot be made safe."""
    margin = cap + SCAN_MARGIN
    piece = text[-margin:] if tail else text[:margin]
    kept: dict[str, Any] = {"len": len(text), "sha256": sha256_text(text)}
    findings = _findings(checker, location, piece)
    if findings is None or any(not redactable(f.location) for f in findings):
        kept.update(text=WITHHELD, withheld=True)
        return kept
    try:
        redacted = checker.redact(piece, findings) if findings else piece
    except Exception:
        kept.update(text=WITHHELD, withheld=True)
        return kept
    cut = redacted[-cap:] if tail else redacted[:cap]
    kept["text"] = cut
    if findings:
        kept["redacted"] = sorted({f.type for f in findings})
    if len(redacted) > cap or len(text) > margin:
        kept["truncated"] = True
    return kept


def shown_args(checker: SafetyChecker, args: Mapping[str, Any]) -> dict[str, Any]:
    """Each argument redacted and capped: strings as text, other values as their JSON."""
    view: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, bool | int | float) or value is None:
            view[key] = value
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        view[key] = shown(checker, f"message:{key}", text, cap=ARG_CAP)
    return view


def redacted(checker: SafetyChecker, texts: list[str]) -> list[str]:
    """Reasons as they are stored and shown: a policy's or a tool's reason can quote an
    argument (`path /etc/x must be relative`), so it is redacted like one."""
    return [str(shown(checker, "message:reason", text, cap=REASON_CAP)["text"]) for text in texts]


def shown_tail(checker: SafetyChecker, stream: str, text: str) -> dict[str, Any] | None:
    return shown(checker, f"message:{stream}", text, cap=TAIL_CAP, tail=True) if text else None


def outcome(events: Iterable[AuditEvent]) -> dict[str, Any]:
    """The steps where something was refused or redacted on the way, from the audit."""
    blocked: set[int] = set()
    redacted: set[int] = set()
    answer_redacted = False
    for event in events:
        verdict = event.payload.get("verdict") if event.kind == "verdict" else None
        if event.step and (_refused(event) or verdict == "block"):
            blocked.add(event.step)
        elif event.step and verdict == "redact":
            redacted.add(event.step)
        elif verdict == "redact":
            answer_redacted = True  # the final answer's check has no step
    return {
        "blocked_steps": sorted(blocked),
        "redacted_steps": sorted(redacted - blocked),
        "answer_redacted": answer_redacted,
    }


def _refused(event: AuditEvent) -> bool:
    payload = event.payload
    return (
        (event.kind == "decision" and payload.get("decision") == "deny")
        or (event.kind == "proposal" and bool(payload.get("refused")))
        or event.kind in ("commit.refused", "discard")
        or (event.kind == "approval" and payload.get("approved") is False)
    )


def final_status(status: S, summary: Mapping[str, Any]) -> S | Literal["completed_with_blocks"]:
    """`completed_with_blocks` for a completed run with a refused or redacted step."""
    marked = summary["blocked_steps"] or summary["redacted_steps"] or summary["answer_redacted"]
    return "completed_with_blocks" if status == "completed" and marked else status
