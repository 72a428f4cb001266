"""PII detector: e-mail addresses, phone numbers, payment cards, IBANs and US SSNs.

Owns the patterns and the validation that keeps look-alikes out: cards must pass Luhn and
carry a known issuer prefix, IBANs must have their country's length and pass mod-97, SSNs
exclude the ranges never issued, phones need a `+` country code or a national layout with
separators (so plain numbers, dates, versions and IP addresses do not qualify), and
addresses whose "domain" is a file name (`icon@2x.png`) or an SSH remote are skipped.
Regexes with validation, not a library: `phonenumbers` exists on PyPI but is not a project
dependency, and these layouts are enough for a pre-commit check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from runtime.models import Finding, Severity
from runtime.safety.redact import span_finding

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_FILE_SUFFIXES = frozenset(
    {
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "py",
        "js",
        "ts",
        "css",
        "json",
        "yaml",
        "yml",
        "toml",
        "txt",
        "md",
        "lock",
        "whl",
        "tar",
        "gz",
        "zip",
        "so",
        "dll",
    }
)

_PHONE = re.compile(
    r"(?<![\w+.\-/:])(?:"
    # E.164 and international layouts: + then digit groups; possessive so a long digit
    # run cannot backtrack (the 8-15 digit count is checked after the match).
    r"\+[1-9]\d*+(?:[ .\-]?\(?\d++\)?){0,6}+"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671
    r"|\(\d{3}\)[ ]?\d{3}[ .\-]\d{4}"
    r"|\d{3}[.\-]\d{3}[.\-]\d{4}"
    r"|\d{3} \d{3} \d{4}"
    # UK / national trunk-prefixed: 020 7946 0958, 07700 900123, 030 901820
    r"|0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4}"
    # French: 01 23 45 67 89
    r"|0[1-9](?:[ .]\d{2}){4}"
    r")(?![\w.\-/]\d|\d|\w)"
)

_CARD = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-]|\.\d)")
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|35|6(?:011|5|4[4-9]|2)")

_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})(?=[ ]?[A-Z0-9])")
_IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TR": 26,
    "UA": 29,
}

_SSN = re.compile(r"(?<![\d\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d\-])")

SEVERITY_BY_TYPE: dict[str, Severity] = {
    "email": "medium",
    "phone": "medium",
    "payment_card": "high",
    "iban": "high",
    "us_ssn": "high",
}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616: the country's length and mod-97 of the rearranged number equal to 1."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for match in _EMAIL.finditer(text):
        suffix = match.group(0).rsplit(".", 1)[-1].lower()
        if suffix in _FILE_SUFFIXES or text.startswith(":", match.end()):
            continue
        if "://" in _token_before(text, match.start()):
            continue  # the user part of a URL (ssh://git@host, https://token@host)
        yield match.span()


def _token_before(text: str, index: int) -> str:
    # At most 256 chars back: a URL scheme sits close to its user part, and a long line of
    # addresses must not be walked back to its start for every one of them.
    start = index
    while start > max(0, index - 256) and not text[start - 1].isspace():
        start -= 1
    return text[start:index]


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 8 <= len(digits) <= 15:
            yield match.span()


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in _CARD.finditer(text):
        raw = match.group(0)
        separators = set(re.sub(r"\d", "", raw))
        if len(separators) > 1:
            continue
        digits = re.sub(r"\D", "", raw)
        if len(set(digits)) > 1 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
            yield match.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN_START.finditer(text):
        expected = _IBAN_LENGTHS.get(match.group(1))
        if expected is None:
            continue
        compact: list[str] = []
        position = match.start()
        while position < len(text) and len(compact) < expected:
            char = text[position]
            if char.isascii() and char.isalnum() and (char.isdigit() or char.isupper()):
                compact.append(char)
            elif char != " " or text[position - 1] == " ":
                break
            position += 1
        follows = text[position : position + 1]
        if follows.isalnum() and follows.isascii():
            continue
        if iban_valid("".join(compact)):
            yield match.start(), position


def _ssns(text: str) -> Iterator[tuple[int, int]]:
    for match in _SSN.finditer(text):
        yield match.span()


_FINDERS: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...] = (
    ("email", _emails),
    ("payment_card", _cards),
    ("iban", _ibans),
    ("us_ssn", _ssns),
    ("phone", _phones),
)


class PiiDetector:
    """Finds personal data; a span claimed by a stronger type is not reported again as phone."""

    name = "pii"

    def scan(self, location: str, text: str) -> list[Finding]:
        findings: list[Finding] = []
        claimed = bytearray(len(text))  # 1 where a stronger type already sits
        has_digit = any(digit in text for digit in "0123456789")
        for kind, finder in _FINDERS:
            # Cheap plain-substring tests first: every type needs an `@` or a digit.
            if (kind == "email" and "@" not in text) or (kind != "email" and not has_digit):
                continue
            for start, end in finder(text):
                if kind == "phone" and any(claimed[start:end]):
                    continue
                claimed[start:end] = b"\x01" * (end - start)
                findings.append(
                    span_finding(
                        text,
                        start,
                        end,
                        type=kind,
                        detector=self.name,
                        location=location,
                        severity=SEVERITY_BY_TYPE[kind],
                    )
                )
        return sorted(findings, key=lambda f: (f.start, f.end))
