"""Data: letters from other scripts that look like Latin letters, and invisible characters.

A compact subset of Unicode TR39 (`confusables.txt` skeletons), restricted to what matters
for matching English injection phrases: single characters that render like one Latin
letter, folded to that letter. Fullwidth forms, mathematical alphanumerics, ligatures and
letter-like symbols are not listed: NFKC already turns them into Latin letters (the detector
applies NFKC first, then this table). Digits are not folded (`0` for `o`, `1` for `l`):
doing so would rewrite URLs and IP addresses, which the exfiltration phrase must still see.
TR39's multi-letter skeletons (`m` -> `rn`) are left out for the same reason: we fold towards
the letters the phrases are written in, never away from them.

Written by hand from the Unicode confusables list (no download at run time); each row is a
Latin letter and the characters folded to it, as escapes so a reader can check them.
"""

from __future__ import annotations

# Latin letter -> look-alikes (Cyrillic, Greek, Armenian, Cherokee, Latin small capitals and
# IPA letters, Coptic), in code point order within a row.
_LOOK_ALIKES: dict[str, str] = {
    "a": "\u0251\u03b1\u0430\u237a",
    "b": "\u0184\u042c\u044c\u13cf",
    "c": "\u03f2\u0441\u1d04\u2ca5",
    "d": "\u0501\u13e7",
    "e": "\u03b5\u0435\u04bd\u212e\uab32",
    "g": "\u018d\u0261\u0581",
    "h": "\u04bb\u0570\u13c2",
    "i": "\u0131\u0269\u03b9\u0456",
    "j": "\u0237\u03f3\u0458\u0575",
    "k": "\u03ba\u043a\u1d0b",
    "l": "\u01c0\u04cf\u05c0\u2223",
    "m": "\u043c\u1d0d",
    "n": "\u03b7\u043f\u0578\u057c",
    "o": "\u03bf\u03c3\u043e\u0585\u05e1\u1d0f",
    "p": "\u03c1\u0440\u2374",
    "q": "\u051b\u0563\u0566",
    "r": "\u0433\u1d26\u2c85",
    "s": "\u01bd\u0455\ua731",
    "t": "\u03c4\u0442\u1d1b",
    "u": "\u028b\u03c5\u057d\u1d1c",
    "v": "\u03bd\u0475\u1d20\u2228",
    "w": "\u03c9\u0461\u051d\u0561\u1d21",
    "x": "\u00d7\u03c7\u0445\u2a2f",
    "y": "\u028f\u03b3\u0443\u04af",
    "z": "\u1d22",
    "A": "\u0391\u0410\u13aa",
    "B": "\u0392\u0412\u0432\u13f4",
    "C": "\u03f9\u0421\u13df",
    "D": "\u13a0",
    "E": "\u0395\u0415\u13ac",
    "G": "\u050c\u13c0",
    "H": "\u0397\u041d\u13bb",
    "I": "\u0399\u0406\u04c0",
    "J": "\u037f\u0408\u13ab",
    "K": "\u039a\u041a\u13e6",
    "L": "\u053c\u13de",
    "M": "\u039c\u041c\u13b7",
    "N": "\u039d",
    "O": "\u039f\u041e\u0555",
    "P": "\u03a1\u0420\u13e2",
    "Q": "\u051a",
    "S": "\u0405\u054f\u13da",
    "T": "\u03a4\u0422\u13a2",
    "U": "\u054d",
    "V": "\u0474\u13d9",
    "W": "\u051c\u13b3",
    "X": "\u03a7\u0425",
    "Y": "\u03a5\u0423\u04ae",
    "Z": "\u0396\u13c3",
}

CONFUSABLES: dict[int, str] = {
    ord(look_alike): letter for letter, row in _LOOK_ALIKES.items() for look_alike in row
}

# Invisible, not of category Cf: Hangul fillers (TR39 and the issue name them), the
# combining grapheme joiner, Khmer inherent vowels and Mongolian free variation selectors
# (Default_Ignorable_Code_Point), and the variation selectors, which can smuggle bytes.
_INVISIBLE_EXTRA = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)
VARIATION_SELECTORS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)] + [chr(c) for c in range(0xE0100, 0xE01F0)]
)

# Every format character (general category Cf) as of Unicode 15.1, as inclusive ranges:
# soft hyphen, Arabic and Syriac marks, zero-width and bidi controls, invisible operators,
# interlinear annotations, Egyptian, shorthand and musical format controls, tags. Listed
# rather than computed (scanning the code space costs half a second at import); a unit test
# checks the list still covers what this Python's `unicodedata` calls Cf.
FORMAT_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)


def invisible_characters() -> str:
    """Every character treated as hidden: all of category Cf, plus the extras above."""
    format_chars = "".join(chr(c) for low, high in FORMAT_RANGES for c in range(low, high + 1))
    return format_chars + _INVISIBLE_EXTRA
