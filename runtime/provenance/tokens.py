"""Typed tokens: the values a free text holds, each under its canonical key.

A text is read as e-mail addresses, URLs, bare domains, IBANs, account and phone numbers,
numbers and amounts, quoted strings and identifiers, plus the word n-grams of each line
(so a name, a title or a subject inside a sentence is found as a whole). Each token's key
is what `normalise_value` makes of the same value in an argument, so an exact dictionary
lookup answers "was this value in that text?".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from runtime.provenance.normalize import (
    canonical_number,
    normalise_value,
    text_variants,
    url_key,
)

__all__ = [
    "MAX_NGRAM",
    "SHINGLE",
    "SHORT_SEGMENT",
    "STRONG_KINDS",
    "Token",
    "ngram_tokens",
    "segments",
    "text_tokens",
    "value_tokens",
]

MAX_NGRAM = 6  # longest multi-word value found inside a sentence (names, titles, subjects)
SHORT_SEGMENT = 12  # a line this short is a value (subject, title): all its n-grams count
SHINGLE = "shingle"  # a MAX_NGRAM-word window of prose, kept by content-chosen sample
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_WORD_RAW = re.compile(r"[\w][\w@.+\-/:%&=?#~]*[\w]|[\w]")
_CONNECTORS = frozenset({"of", "the", "de", "von", "van", "der", "du", "la", "le", "and", "&",
                         "da", "di", "del", "zu", "y", "et"})  # fmt: skip
_MAX_QUOTED = 200

# Kinds that name a place data can go to or come from: a sink whose value holds one of
# these from untrusted content is tainted even when the whole value is the model's.
STRONG_KINDS = frozenset({"email", "url", "domain", "iban", "account", "phone"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}")
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'`)\]}|\\]+", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?<![\w@.\-])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-])"
)
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}")
_BARE_IPV4 = re.compile(r"(?<![\w.])" + _IPV4.pattern + r"(?![\w.])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-.]?[A-Z0-9]){11,30}\b")
_DIGITS = re.compile(r"(?<![\w.,])\+?\d(?:[ \-./()]?\d){5,24}(?![\w])")
_NUMBER = re.compile(r"(?<![\w])[$€£¥₹]?\s?[+-]?\d(?:[\d,.' ]*\d)?(?![\w])")
_QUOTED = re.compile(
    r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|\u2018([^\u2019\n]{1,200})\u2019|`([^`\n]{1,200})`"
)
_IDENTIFIER = re.compile(r"[#@]?[\w][\w.\-/+]*[\w]|[#@]?\w")
_TRAILING = ".,;:!?'\")]}>"

# Top-level domains a bare `word.word` must end in to count as a domain: file names
# (`report.pdf`, `notes.txt`) and version strings must not become domains.
_TLDS = frozenset(
    """com net org edu gov mil int io ai co dev app info biz me tv cc xyz online site tech
    cloud shop store blog news live email link click top club pro name mobi agency digital
    ac ae ar at au be bg br by ca ch cl cn cz de dk ee es eu fi fr gr hk hr hu id ie il in
    is it jp kr lt lu lv mx my nl no nz ph pl pt ro rs ru se sg si sk th tr tw ua uk us vn
    za""".split()  # noqa: SIM905 (a word list reads better than 100 quoted strings)
)
_TWO_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu"})


class Token(NamedTuple):
    kind: str
    key: str


def _domain_keys(host: str, *, known_tld: bool = True) -> Iterator[str]:
    """A host, without `www.`, and its registrable domain.

    A bare `word.word` in prose counts only with a known TLD (`report.pdf` is a file); the
    host of a URL or an address is a host whatever its TLD (`known_tld=False`), so a URL
    on `evil.zip` is a place like one on `evil.com`.
    """
    host = host.strip(".").casefold()
    if _IPV4.fullmatch(host):
        yield host  # an address is its own "domain": exfiltration to a bare IP is common
        return
    labels = host.split(".")
    if len(labels) < 2 or not labels[-1].isalpha():
        return
    if known_tld and labels[-1] not in _TLDS:
        return
    yield host
    if labels[0] == "www" and len(labels) > 2:
        yield ".".join(labels[1:])
    cut = 3 if len(labels) >= 3 and labels[-2] in _TWO_LEVEL and len(labels[-1]) == 2 else 2
    if len(labels) > cut:
        yield ".".join(labels[-cut:])


def _glued_hosts(host: str) -> Iterator[str]:
    """`example.net.then` (a sentence glued on: `...example.net.Then`) -> it and `example.net`.

    Every shorter host down to two labels is yielded too: which trailing label is the next
    sentence cannot be known, and an extra untrusted token costs at most an approval.
    """
    labels = host.split(".")
    for end in range(len(labels), 1, -1):
        yield ".".join(labels[:end])


def _url_tokens(url: str) -> Iterator[Token]:
    url = url.rstrip(_TRAILING)
    yield Token("url", url_key(url) or normalise_value(url))
    rest = url.split("://", 1)[1]
    host = re.split(r"[/?#:]", rest.rsplit("@", 1)[-1] if "@" in rest.split("/")[0] else rest)[0]
    for key in _domain_keys(host, known_tld=False):
        yield Token("domain", key)


def _variant_tokens(text: str) -> Iterator[Token]:
    for match in _EMAIL.finditer(text):
        local, _, host = match.group().strip(".").casefold().rpartition("@")
        for shorter in _glued_hosts(host):
            yield Token("email", f"{local}@{shorter}")
            for key in _domain_keys(shorter, known_tld=False):
                yield Token("domain", key)
    for match in _URL.finditer(text):
        yield from _url_tokens(match.group())
    for match in _DOMAIN.finditer(text):
        for shorter in _glued_hosts(match.group().casefold()):
            for key in _domain_keys(shorter):
                yield Token("domain", key)
    for match in _BARE_IPV4.finditer(text):
        yield Token("domain", match.group())
    for match in _IBAN.finditer(text):
        yield Token("iban", re.sub(r"[ \-.]", "", match.group()).casefold())
    for match in _DIGITS.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        yield Token("phone" if match.group().startswith("+") else "account", digits)
    for match in _NUMBER.finditer(text):
        number = canonical_number(match.group())
        if number is not None:
            yield Token("number", number)
    for match in _QUOTED.finditer(text):
        quoted = next(group for group in match.groups() if group is not None)
        key = normalise_value(quoted)
        if key and len(key) <= _MAX_QUOTED:
            yield Token("quoted", key)
    for match in _IDENTIFIER.finditer(text):
        word = match.group().rstrip(_TRAILING)
        key = normalise_value(word)
        if key:
            yield Token("identifier", key)
            if word[0] in "#@" and len(key) > 1:
                yield Token("identifier", key[1:])


def segments(text: str) -> Iterator[list[str]]:
    """The raw-cased words of each line, long lines cut into sentences."""
    for line in text.splitlines():
        for sentence in _SENTENCE.split(line):
            found = [word for word in _WORD_RAW.findall(sentence)]
            if found:
                yield found


def _phrase_runs(raw: list[str]) -> Iterator[list[str]]:
    """Maximal runs of capitalised words (names, titles, products), connectors inside."""
    run: list[str] = []
    for index, word in enumerate(raw):
        following = raw[index + 1] if index + 1 < len(raw) else ""
        capitalised = word[:1].isupper() or word[:1].isdigit()
        connector = bool(run) and word.casefold() in _CONNECTORS and following[:1].isupper()
        if capitalised or connector:
            run.append(word)
        else:
            if len(run) > 1:
                yield run
            run = []
    if len(run) > 1:
        yield run


def _all_ngrams(keys: list[str], shortest: int, kind: str) -> Iterator[Token]:
    for start in range(len(keys)):
        for size in range(shortest, min(MAX_NGRAM, len(keys) - start) + 1):
            yield Token(kind, " ".join(keys[start : start + size]))


def ngram_tokens(text: str) -> Iterator[Token]:
    """Word n-grams a multi-word value can be found under, bounded for long prose.

    A short line (a subject, a title, a list item: up to `SHORT_SEGMENT` words) gives all
    its 1..MAX_NGRAM-grams. A sentence of prose gives its words, all n-grams of its
    capitalised runs (names, titles, product and hotel names) and its MAX_NGRAM-word
    shingles, of which the store keeps a content-chosen quarter: copying a dozen words
    of it is noticed with high odds, and a long page no longer costs six entries a word.
    """
    for raw in segments(text):
        keys = [word.casefold() for word in raw]
        if len(keys) <= SHORT_SEGMENT:
            yield from _all_ngrams(keys, 1, "words")
            continue
        yield from (Token("words", key) for key in keys)
        for run in _phrase_runs(raw):
            yield from _all_ngrams([word.casefold() for word in run], 2, "words")
        for start in range(len(keys) - MAX_NGRAM + 1):
            yield Token(SHINGLE, " ".join(keys[start : start + MAX_NGRAM]))


def text_tokens(text: str) -> set[Token]:
    """All typed tokens and word n-grams of a free text, over all of its renderings.

    N-grams come from the first two renderings only (as written, and with `\\`-folds
    undone); the others (unescaped, unwrapped, de-obfuscated) can only add typed tokens.
    """
    tokens: set[Token] = set()
    for index, variant in enumerate(text_variants(text)):
        tokens.update(_variant_tokens(variant))
        if index < 2:
            tokens.update(ngram_tokens(variant))
    return tokens


def value_tokens(value: str) -> set[Token]:
    """The typed tokens inside one argument value (no n-grams: the value is looked up whole)."""
    tokens: set[Token] = set()
    for variant in text_variants(value):
        tokens.update(_variant_tokens(variant))
    return tokens
