"""Redaction: markers replace spans; overlaps merge; nothing of a secret survives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime.models import Finding
from runtime.safety.redact import redact, value_hash


def finding(
    text: str, start: int, end: int, type_: str = "secret", severity: str = "high"
) -> Finding:
    return Finding(
        type=type_,
        detector="test",
        location="x",
        start=start,
        end=end,
        severity=severity,  # type: ignore[arg-type]
        value_hash=value_hash(text[start:end]),
    )


def test_marker_names_type_and_hash_prefix() -> None:
    text = "a SECRET b"
    digest = value_hash("SECRET").removeprefix("sha256:")[:8]
    assert redact(text, [finding(text, 2, 8)]) == f"a [REDACTED:secret:{digest}] b"


def test_overlapping_spans_merge_under_the_most_severe_finding() -> None:
    text = "xx ABCDEFGHIJ yy"
    low = finding(text, 3, 9, "high_entropy_string", "medium")
    high = finding(text, 6, 13, "private_key", "critical")
    result = redact(text, [low, high])
    assert result.startswith("xx [REDACTED:private_key:")
    assert result.endswith("] yy")
    assert result.count("[REDACTED") == 1


def test_nested_and_unordered_spans_are_handled() -> None:
    text = "0123456789"
    result = redact(text, [finding(text, 5, 7), finding(text, 1, 9), finding(text, 2, 3)])
    assert result.startswith("0[REDACTED:secret:") and result.endswith("]9")


def test_out_of_range_spans_are_clamped() -> None:
    text = "short"
    assert redact(text, [finding(text, 3, 50)]).startswith("sho[REDACTED:")


@given(
    st.text(alphabet="abc xyz", max_size=30),
    st.text(alphabet="SECRT0123456789", min_size=6, max_size=20),
    st.text(alphabet="abc xyz", max_size=30),
)
def test_redacted_text_never_contains_the_secret(before: str, secret: str, after: str) -> None:
    text = before + secret + after
    result = redact(text, [finding(text, len(before), len(before) + len(secret))])
    assert secret not in result
    assert result.startswith(before) and result.endswith(after)
