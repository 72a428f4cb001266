"""Normalisation: the one canonical spelling a value has wherever it appears.

A value an argument holds must be found again inside the text it was copied from, however
that text was rendered: glued to punctuation, folded across lines (a `\\`-continued line,
a YAML/JSON rendering that wraps), escaped (`\\u0040`, `&#64;`, `%40`), written with
look-alike letters from another script, or with zero-width characters inside. Indexing
and lookup both go through these functions, so the two sides always agree.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from urllib.parse import unquote

__all__ = [
    "canonical_number",
    "fold_unicode",
    "normalise_value",
    "text_variants",
    "url_key",
    "words",
]

# Characters that render as nothing: an attacker hides them inside a value so that a plain
# substring test misses it, while the model (and the recipient's mail server) ignore them.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f",
    ),
    None,
)

# Look-alikes NFKC leaves alone (other scripts' letters that render like Latin ones). The
# list is the Cyrillic, Greek and Armenian letters of Unicode's confusables table that map
# to one ASCII letter or digit; enough for addresses, domains and account numbers.
_CONFUSABLES = str.maketrans(
    # the look-alikes, written as escapes so no reader mistakes them for Latin letters
    (
        "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
        "\u0445\u0455\u0456\u0457\u0458\u0501\u051b\u051d\u04bb\u04cf\u0261\u0251"
        "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
        "\u0405\u0406\u0408\u03b1\u03b2\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4"
        "\u03c5\u03c7\u03c9\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d"
        "\u039f\u03a1\u03a4\u03a5\u03a7\u0585\u057d\u0581\u0578\u0131\u2113"
    ),
    "abeekmhopctyxsiijdqwhlgaABEKMHOPCTYXSIJabeikvoptuxwABEZHIKMNOPTYXougnil",
)

# `\`-continued lines (shell, YAML double-quoted scalars, C strings): the break vanishes.
_BACKSLASH_FOLD = re.compile(r"\\\r?\n[ \t]*")
# A renderer that wraps long lines: the break and the next line's indent vanish.
_SOFT_WRAP = re.compile(r"\r?\n[ \t]*")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([nrt/\"'\\])")
_ESCAPE_CHARS = {"n": "\n", "r": "\r", "t": "\t", "/": "/", '"': '"', "'": "'", "\\": "\\"}
# `name [at] example [dot] com` and its bracket variants; bare ` at ` is ordinary English.
_OBFUSCATED_AT = re.compile(r"\s*[\[({<]\s*at\s*[\])}>]\s*", re.IGNORECASE)
_OBFUSCATED_DOT = re.compile(r"\s*[\[({<]\s*dot\s*[\])}>]\s*", re.IGNORECASE)
# `name at example dot com` without brackets: only with at least one ` dot ` after the ` at `,
# so that ordinary English ("meet at noon") is left alone.
_SPELLED_ADDRESS = re.compile(r"([\w.+\-]+)\s+at\s+([\w\-]+(?:\s+dot\s+[\w\-]+)+)", re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s+dot\s+", re.IGNORECASE)
# `ops-team-7 @ example . net`: spaces around the marks of an address.
_SPACED_AT = re.compile(r"(?<=\w)\s*@\s*(?=\w)")
_SPACED_DOT = re.compile(r"(?<=\w)[ \t]*\.[ \t]*(?=\w)")
_WORD = re.compile(r"[\w][\w@.+\-/:%&=?#~]*[\w]|[\w]")
_SPACE = re.compile(r"\s+")
# What may surround a value without being part of it: quotes, brackets, sentence marks.
_EDGE = " \t\r\n'\"`\u201c\u201d\u2018\u2019\u00ab\u00bb\u2039\u203a()[]{}<>.,;:!?*_|\\"
_NUMBER = re.compile(r"[+-]?\d[\d,.' \u202f\u00a0]*")
_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy)\b", re.IGNORECASE)


def fold_unicode(text: str) -> str:
    """NFKC (full-width and compatibility forms), no invisible characters, no look-alikes."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return text.translate(_CONFUSABLES)


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        if match.group(2):
            return chr(int(match.group(2), 16))
        return _ESCAPE_CHARS[match.group(3)]

    text = _ESCAPE.sub(one, text)
    text = html.unescape(text)
    return unquote(text) if "%" in text else text


def text_variants(text: str) -> list[str]:
    """Every rendering of `text` worth indexing, distinct, the folded original first.

    Indexing extra variants can only add labels: a variant that invents a token makes
    lookups of that token find the text's label, which for untrusted text costs at most
    an approval and never trusts anything.
    """
    base = fold_unicode(text)
    unfolded = _BACKSLASH_FOLD.sub("", base)
    variants = [base, unfolded]
    unescaped = fold_unicode(_unescape(unfolded))
    variants.append(unescaped)
    variants.append(_SOFT_WRAP.sub("", unescaped))
    deobfuscated = _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", unescaped))
    deobfuscated = _SPELLED_ADDRESS.sub(
        lambda m: f"{m.group(1)}@{_SPELLED_DOT.sub('.', m.group(2))}", deobfuscated
    )
    deobfuscated = _SPACED_DOT.sub(".", _SPACED_AT.sub("@", deobfuscated))
    variants.append(deobfuscated)
    seen: dict[str, None] = {}
    for variant in variants:
        seen.setdefault(variant, None)
    return list(seen)


def words(text: str) -> list[str]:
    """The words of a folded text, casefolded, punctuation at their edges dropped."""
    return [word.casefold() for word in _WORD.findall(text)]


def canonical_number(text: str) -> str | None:
    """`1,000.50`, `1.000,50 €`, `$1000.5` -> `1000.5`; None when `text` is not one number."""
    stripped = _CURRENCY.sub("", text).strip(" \t+")
    if not stripped or not _NUMBER.fullmatch(stripped):
        return None
    sign = "-" if stripped.startswith("-") else ""
    digits = re.sub(r"[' \u202f\u00a0]", "", stripped.lstrip("+-"))
    if "," in digits and "." in digits:
        decimal = "." if digits.rfind(".") > digits.rfind(",") else ","
    elif digits.count(",") == 1 and not re.fullmatch(r"\d{1,3},\d{3}", digits):
        decimal = ","
    elif digits.count(".") == 1 and not re.fullmatch(r"\d{1,3}\.\d{3}\.\d{3}.*", digits):
        decimal = "."
    else:
        decimal = ""
    thousands = {",": ".", ".": ",", "": ",."}[decimal]
    for mark in thousands:
        digits = digits.replace(mark, "")
    if decimal:
        whole, _, fraction = digits.partition(decimal)
        if not whole.isdigit() and whole != "":
            return None
        fraction = fraction.rstrip("0")
        whole = whole.lstrip("0") or "0"
        if fraction and not fraction.isdigit():
            return None
        return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"
    if not digits.isdigit():
        return None
    return f"{sign}{digits.lstrip('0') or '0'}"


_SCHEME = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)


def url_key(url: str) -> str | None:
    """`HTTPS://Wiki.Example.com/` -> `wiki.example.com`: the place, whatever the scheme.

    A bare domain in a message and the URL a model builds on it are the same place, so
    URLs are keyed without their scheme and trailing slash. None when `url` has no scheme.
    """
    if not _SCHEME.match(url):
        return None
    return _SCHEME.sub("", url.strip()).rstrip("/").casefold()


@lru_cache(maxsize=1 << 16)  # the same words recur across a text's renderings and outputs
def normalise_value(value: str) -> str:
    """The key a whole value is indexed and looked up under.

    Folded Unicode, lines unfolded, surrounding quotes and punctuation dropped, whitespace
    collapsed, casefolded. A number keeps its canonical form (`1,000.00` -> `1000`).
    """
    text = _BACKSLASH_FOLD.sub("", fold_unicode(value))
    text = _SPACE.sub(" ", text).strip(_EDGE)
    number = canonical_number(text)
    if number is not None:
        return number
    return text.casefold()
