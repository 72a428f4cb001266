"""Injection detector: text that tries to command the agent, and characters meant to hide.

Owns two families. Hidden characters (every format character, Unicode category Cf: zero
width, bidi controls, soft hyphen, invisible operators, tags; plus the Hangul fillers and
the other invisible letters listed in `confusables.py`) are reported where they sit, except
the benign uses: a byte-order mark at the very start, joiners and presentation selectors
inside an emoji sequence, one variation selector after a visible character, ZWJ/ZWNJ
between letters of scripts that spell with them, a direction mark beside right-to-left
text, tag characters of a flag emoji. Phrases (instruction overrides, role hijacks,
role-switch markers, tool-call look-alikes, exfiltration requests, concealment) are matched
on a normalised copy of the text (NFKC, hidden characters removed, TR39 look-alikes folded
to Latin), so that obfuscation does not evade them; each match is mapped back to offsets in
the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from runtime.models import Finding, Severity
from runtime.safety.detectors.confusables import (
    CONFUSABLES,
    VARIATION_SELECTORS,
    invisible_characters,
)
from runtime.safety.redact import span_finding

_BLACK_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"
_ZERO_WIDTH_JOINERS = frozenset("\u200c\u200d")
_DIRECTION_MARKS = frozenset("\u200e\u200f\u061c")
_HIDDEN_CHARS = frozenset(invisible_characters())
_HIDDEN_RUN = re.compile("[" + "".join(re.escape(c) for c in sorted(_HIDDEN_CHARS)) + "]+")
_ASCII_OR_NOT = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")

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

_OVERRIDE_VERBS = ("ignore", "disregard", "forget", "override", "bypass", "discard", "abandon")
# Words each phrase pattern cannot match without (lower case, on the normalised text): a
# chunk holding none of them skips that pattern, so text with nothing to find (a run of
# NUL characters, base64) costs a few substring scans instead of ten regex scans.
_NEEDS: dict[str, tuple[str, ...]] = {
    "instruction_override": (*_OVERRIDE_VERBS, "attention", "instruction"),
    "role_hijack": ("you", "from", "act", "behave", "pretend"),
    "prompt_exfiltration": ("system", "instruction"),
    "exfiltration": ("@", "http"),
    "concealment": ("user", "human", "operator"),
    "role_marker": ("<|", "inst]", "sys>>", "system", "assistant", "developer", "instruction"),
    "tool_call_spoof": ("<", '"'),
}


def is_hidden_char(char: str) -> bool:
    """Every format character (Unicode category Cf: zero-width, bidi controls, soft hyphen,
    invisible operators, tags, ...), the Hangul fillers and the other invisible letters of
    `confusables.invisible_characters`, variation selectors included."""
    return char in _HIDDEN_CHARS


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return code >= 0x1F000 or 0x2600 <= code <= 0x27BF or code == 0xFE0F


def _joins_letters(char: str) -> bool:
    # Scripts whose spelling needs ZWJ/ZWNJ (Hebrew, Arabic, Syriac, Indic, Tibetan, Myanmar,
    # Khmer, Arabic presentation forms), or a direction mark beside right-to-left text.
    code = ord(char)
    return (
        0x0590 <= code <= 0x0DFF
        or 0x0F00 <= code <= 0x109F
        or 0x1780 <= code <= 0x17FF
        or 0xFB1D <= code <= 0xFDFF
        or 0xFE70 <= code <= 0xFEFE
    )


def _benign_hidden(text: str, start: int, end: int) -> bool:
    run = text[start:end]
    if run == "\ufeff" and start == 0:
        return True
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    # An emoji sequence: ZWJ and presentation selectors between two emoji.
    emoji_around = bool(before and after) and _is_emoji(before) and _is_emoji(after)
    if emoji_around and set(run) <= {"\u200d", "\ufe0e", "\ufe0f"}:
        return True
    # One variation selector after a visible character (emoji or ideographic variants);
    # a run of them can carry smuggled bytes and is reported.
    if len(run) == 1 and run in VARIATION_SELECTORS and before and not is_hidden_char(before):
        return True
    if run in _ZERO_WIDTH_JOINERS and before and after:
        return _joins_letters(before) and _joins_letters(after)
    if run in _DIRECTION_MARKS and (before or after):
        return any(bool(c) and _joins_letters(c) for c in (before, after))
    # Subdivision flags: U+1F3F4, lowercase tag letters, U+E007F.
    return (
        before == _BLACK_FLAG
        and run.endswith(_CANCEL_TAG)
        and all(0xE0061 <= ord(c) <= 0xE007A for c in run[:-1])
    )


def _hidden_runs(text: str) -> Iterator[tuple[int, int]]:
    if text.isascii():
        return  # every hidden character is outside ASCII
    for match in _HIDDEN_RUN.finditer(text):
        yield match.start(), match.end()


def _fold(char: str) -> str:
    """NFKC (fullwidth, mathematical and other compatibility forms to their letters), then
    look-alikes from other scripts to the Latin letter they imitate (TR39 confusables)."""
    return "".join(
        CONFUSABLES.get(ord(out), out)
        for out in unicodedata.normalize("NFKC", char)
        if not is_hidden_char(out)
    )


def normalise(text: str) -> tuple[str, Sequence[int]]:
    """NFKC, hidden characters removed, look-alikes folded; and for each output character
    the offset of the original character it came from. ASCII stretches are copied as they
    are (nothing in them to fold), so the cost is in the non-ASCII characters only."""
    if text.isascii():
        return text, range(len(text))
    pieces: list[str] = []
    origin: list[int] = []
    for segment in _ASCII_OR_NOT.finditer(text):
        if segment.group().isascii():
            pieces.append(segment.group())
            origin.extend(range(segment.start(), segment.end()))
            continue
        for index in range(segment.start(), segment.end()):
            char = text[index]
            if is_hidden_char(char):
                continue
            folded = _fold(char)
            pieces.append(folded)
            origin.extend([index] * len(folded))
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
            span_finding(
                text,
                start,
                end,
                type=kind,
                detector=self.name,
                location=location,
                severity=SEVERITY,
            )
            for kind, start, end in sorted(spans, key=lambda s: (s[1], s[2], s[0]))
        ]

    def _phrase_spans(self, text: str) -> Iterator[tuple[str, int, int]]:
        normalised, origin = normalise(text)
        lowered = normalised.lower()
        for kind, pattern in _PHRASES:
            if not any(word in lowered for word in _NEEDS[kind]):
                continue
            for match in pattern.finditer(normalised):
                if match.end() == match.start():
                    continue
                start = origin[match.start()]
                end = origin[match.end() - 1] + 1
                yield kind, start, end
