"""Injection detector: text that tries to command the agent, and characters meant to hide.

Owns two families. Hidden characters (zero-width, bidi overrides and isolates, Unicode tag
characters) are reported where they sit, except the benign uses: a byte-order mark at the
very start, a zero-width joiner inside an emoji sequence, tag characters of a flag emoji.
Phrases (instruction overrides, role hijacks, role-switch markers, tool-call look-alikes,
exfiltration requests, concealment) are matched on a normalised copy of the text (NFKC,
hidden characters removed, common Cyrillic/Greek homoglyphs folded to Latin), so that
obfuscation does not evade them; each match is mapped back to offsets in the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from runtime.models import Finding, Severity
from runtime.safety.redact import value_hash

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TAG_RANGE = range(0xE0000, 0xE0080)
_BLACK_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"

_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁӏАВЕКМНОРСТХУІЈЅαεορτυχνΑΒΕΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdlABEKMHOPCTXYIJSaeoptuxvABEHIKMNOPTYX",
)

_W = r"\s+"  # any whitespace, line breaks included: a phrase split over lines still counts
_OVERRIDE_VERB = (
    rf"(?:ignore|disregard|forget|override|bypass|discard|abandon|pay{_W}no{_W}attention{_W}to)"
)
_INSTRUCTION_NOUN = (
    r"(?:instructions?|prompts?|directives?|guidelines|guardrails|rules|policies|programming)"
)
_QUALIFIER = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|safety|"
    r"developer|existing|current|old|given)"
)

_PHRASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "instruction_override",
        re.compile(
            rf"\b{_OVERRIDE_VERB}{_W}(?:(?:all|any|every)(?:{_W}of)?{_W})?"
            rf"(?:(?:the|your|my|these|those|its){_W})?(?:{_QUALIFIER}{_W}){{1,2}}"
            rf"(?:\w+{_W})?{_INSTRUCTION_NOUN}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "instruction_override",
        re.compile(
            rf"\b{_OVERRIDE_VERB}{_W}(?:(?:all{_W})?(?:of{_W})?(?:your|the{_W}system'?s?)|all)"
            rf"{_W}{_INSTRUCTION_NOUN}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "instruction_override",
        re.compile(
            rf"\b{_OVERRIDE_VERB}{_W}(?:(?:all|any){_W})?(?:(?:the|your|these|those){_W})?"
            rf"{_INSTRUCTION_NOUN}{_W}(?:above|before|so{_W}far|you{_W}(?:were|have{_W}been){_W}given)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "instruction_override",
        re.compile(
            rf"\b(?:new|updated|real|actual|revised){_W}(?:system{_W})?instructions?(?:{_W})?:",
            re.IGNORECASE,
        ),
    ),
    (
        "role_hijack",
        re.compile(
            rf"\byou{_W}are{_W}now{_W}(?:(?:a|an|the|in|my){_W})?"
            rf"(?:(?!(?:as|logged|signed|connected|running|using|on|at|to)\b)[\w-]+{_W}){{0,3}}?"
            r"(?:AI|assistant|model|agent|bot|chatbot|DAN|jailbroken|unrestricted|unfiltered|"
            r"uncensored|developer[^\S\n]+mode|god[^\S\n]+mode|evil|hacker|admin(?:istrator)?|root)\b"
            rf"|\byou{_W}are{_W}no{_W}longer{_W}(?:bound|restricted|limited|required|an{_W}AI|"
            r"an[^\S\n]+assistant)\b"
            rf"|\bfrom{_W}now{_W}on,?{_W}(?:you{_W}(?:will|must|are|shall)|ignore|respond{_W}only)\b"
            rf"|\b(?:act|behave){_W}as{_W}(?:if{_W}you{_W}(?:are|were){_W})?(?:an?{_W})?"
            r"(?:unrestricted|unfiltered|jailbroken|uncensored|DAN)\b"
            rf"|\bpretend{_W}(?:to{_W}be|you{_W}are){_W}(?:an?{_W})?"
            r"(?:unrestricted|unfiltered|jailbroken|uncensored|DAN|different[^\S\n]+AI)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "prompt_exfiltration",
        re.compile(
            rf"\b(?:reveal|print|show|repeat|output|leak|disclose){_W}(?:me{_W})?"
            rf"(?:(?:your|the){_W})?(?:full{_W}|entire{_W}|hidden{_W}|original{_W})?"
            rf"(?:system{_W}prompt|hidden{_W}instructions|initial{_W}instructions|"
            rf"system{_W}message|instructions{_W}above)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "exfiltration",
        re.compile(
            r"\b(?:send|e-?mail|forward|post|upload|transmit|exfiltrate|leak|mail)\b"
            r"[^\n]{0,100}?\bto\b[^\S\n]*:?[^\S\n]*"
            r"(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://(?!localhost\b|127\.|0\.0\.0\.0|\[::1\]))",
            re.IGNORECASE,
        ),
    ),
    (
        "concealment",
        re.compile(
            rf"\b(?:do{_W}not|don'?t|never){_W}(?:tell|inform|mention|reveal|alert|notify)"
            rf"{_W}(?:this{_W}to{_W})?(?:the{_W})?(?:user|human|operator)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "role_marker",
        re.compile(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|"
            r"end_header_id|eot_id)\|>"
            r"|\[/?INST\]|<</?SYS>>|</?system>"
            r"|^[^\S\n]*(?:#{1,4}[^\S\n]*)?(?:SYSTEM|ASSISTANT|DEVELOPER)[^\S\n]*(?:PROMPT)?[^\S\n]*:"
            r"|^[^\S\n]*#{2,4}[^\S\n]*(?:System|Instruction|Instructions)[^\S\n]*:?[^\S\n]*$",
            re.MULTILINE,
        ),
    ),
    (
        "tool_call_spoof",
        re.compile(
            r"</?(?:tool_call|tool_use|function_call|function_calls|tool_result)\b[^>]*>"
            r"|<invoke[^\S\n]+name="
            r"|\{\s*\"(?:tool|tool_name|function|name|action)\"\s*:\s*\"[^\"\n]+\"\s*,\s*"
            r"\"(?:args|arguments|parameters|input|tool_input|action_input)\"\s*:"
            r"|\"tool_calls\"\s*:\s*\[",
        ),
    ),
)

SEVERITY: Severity = "high"


def is_hidden_char(char: str) -> bool:
    """Zero-width, bidi control and Unicode tag characters."""
    return char in _ZERO_WIDTH or char in _BIDI or ord(char) in _TAG_RANGE


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return code >= 0x1F000 or 0x2600 <= code <= 0x27BF or code == 0xFE0F


def _benign_hidden(text: str, start: int, end: int) -> bool:
    run = text[start:end]
    if run == "\ufeff" and start == 0:
        return True
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if run == "\u200d" and before and after and _is_emoji(before) and _is_emoji(after):
        return True
    # Subdivision flags: U+1F3F4, lowercase tag letters, U+E007F.
    return (
        before == _BLACK_FLAG
        and run.endswith(_CANCEL_TAG)
        and all(0xE0061 <= ord(c) <= 0xE007A for c in run[:-1])
    )


def _hidden_runs(text: str) -> Iterator[tuple[int, int]]:
    start: int | None = None
    for index, char in enumerate(text):
        if is_hidden_char(char):
            if start is None:
                start = index
        elif start is not None:
            yield start, index
            start = None
    if start is not None:
        yield start, len(text)


def normalise(text: str) -> tuple[str, list[int]]:
    """NFKC, hidden characters removed, homoglyphs folded; and for each output character
    the offset of the original character it came from."""
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if is_hidden_char(char):
            continue
        folded = unicodedata.normalize("NFKC", char).translate(_HOMOGLYPHS)
        for out in folded:
            if is_hidden_char(out):
                continue
            pieces.append(out)
            origin.append(index)
    return "".join(pieces), origin


class InjectionDetector:
    """Finds injected instructions and hidden characters in text headed for the agent."""

    name = "injection"

    def scan(self, location: str, text: str) -> list[Finding]:
        spans: set[tuple[str, int, int]] = set()
        for start, end in _hidden_runs(text):
            if not _benign_hidden(text, start, end):
                spans.add(("hidden_unicode", start, end))
        spans.update(self._phrase_spans(text))
        return [
            Finding(
                type=kind,
                detector=self.name,
                location=location,
                start=start,
                end=end,
                severity=SEVERITY,
                value_hash=value_hash(text[start:end]),
            )
            for kind, start, end in sorted(spans, key=lambda s: (s[1], s[2], s[0]))
        ]

    def _phrase_spans(self, text: str) -> Iterator[tuple[str, int, int]]:
        normalised, origin = normalise(text)
        for kind, pattern in _PHRASES:
            for match in pattern.finditer(normalised):
                if match.end() == match.start():
                    continue
                start = origin[match.start()]
                end = origin[match.end() - 1] + 1
                yield kind, start, end
