"""Redaction: how a matched value is named without being kept, and how spans are replaced.

Owns the value hash (`sha256:<hex>`) every Finding carries instead of the matched text, and
the marker `[REDACTED:<type>:<first 8 hex of the hash>]` that replaces a span. Overlapping
or touching spans are merged first, so no fragment of a secret survives between markers.
Never decides whether to redact: the checker's verdict does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from runtime.models import Finding, Severity

_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def value_hash(value: str) -> str:
    """The stable name of a matched value: `sha256:` and the hex digest of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def span_finding(
    text: str, start: int, end: int, *, type: str, detector: str, location: str, severity: Severity
) -> Finding:
    """The finding for `text[start:end]`: where it is and the hash of it, never the value."""
    return Finding(
        type=type,
        detector=detector,
        location=location,
        start=start,
        end=end,
        severity=severity,
        value_hash=value_hash(text[start:end]),
    )


def marker(finding: Finding) -> str:
    """The text that replaces a finding's span."""
    digest = finding.value_hash.removeprefix("sha256:")
    return f"[REDACTED:{finding.type}:{digest[:8]}]"


def _clamped(finding: Finding, length: int) -> tuple[int, int]:
    start = min(max(finding.start, 0), length)
    end = min(max(finding.end, start), length)
    return start, end


def _representative(group: Sequence[Finding]) -> Finding:
    """The finding that names a merged span: most severe, then widest, then first."""
    return max(
        group,
        key=lambda f: (_SEVERITY_RANK.get(f.severity, 0), f.end - f.start, -f.start),
    )


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Replace every finding's span in `text` with its marker; overlapping spans merge.

    Spans are clamped to the text, empty spans are ignored, and findings may arrive in any
    order. The result never contains a character of any span.
    """
    spans = sorted(
        ((*_clamped(f, len(text)), f) for f in findings),
        key=lambda item: (item[0], -item[1]),
    )
    merged: list[tuple[int, int, list[Finding]]] = []
    for start, end, finding in spans:
        if start == end:
            continue
        if merged and start <= merged[-1][1]:
            last_start, last_end, group = merged[-1]
            group.append(finding)
            merged[-1] = (last_start, max(last_end, end), group)
        else:
            merged.append((start, end, [finding]))
    pieces: list[str] = []
    cursor = 0
    for start, end, group in merged:
        pieces.append(text[cursor:start])
        pieces.append(marker(_representative(group)))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
