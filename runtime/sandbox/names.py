"""File names leaving the box: which are refused, and how one is shown in a message.

Owns: the path rules every commit checks before it touches the output folder, and the
escaped form of a name used in refusals (a name is box-controlled text: it is never put in
a message raw). Refused: empty paths, NUL, absolute paths, backslashes, `..`, empty or `.`
components, components over 255 bytes, names that are not valid UTF-8 (the executor reports
those as lone surrogates), and names with characters a reader cannot see or that change
how the text around them is shown: C0 and C1 controls (newline, ESC, U+0085), Unicode
format characters (RLO U+202E, zero-width space U+200B, word joiner U+2060, soft hyphen),
line and paragraph separators, and the Hangul fillers that render as nothing.
"""

from __future__ import annotations

import re
import unicodedata

MAX_COMPONENT_BYTES = 255
REFUSED = "Commit refused, nothing was written: "
# Letters (category Lo) that render as blank space; every Cf character is refused as well.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SURROGATES = re.compile("[\ud800-\udfff]")


def path_problem(path: str) -> str | None:
    """Why `path` may not leave the box, or None when it is a safe relative path."""
    if not path:
        return "empty path"
    if "\0" in path:
        return "path contains NUL"
    if _SURROGATES.search(path):
        return "file name is not valid UTF-8"
    character = _character_problem(path)
    if character is not None:
        return character
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "absolute path"
    if "\\" in path:
        return "path contains a backslash"
    parts = path.split("/")
    if any(part == ".." for part in parts):
        return "path contains '..'"
    if any(part in ("", ".") for part in parts):
        return "path has an empty or '.' component"
    if any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        return f"path component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def _character_problem(path: str) -> str | None:
    for character in path:
        category = unicodedata.category(character)
        if category == "Cc":
            return "file name contains a control character"
        if category in ("Zl", "Zp"):
            return "file name contains a line or paragraph separator"
        if category == "Cf" or character in _BLANK_LETTERS:
            return "file name contains an invisible or direction-changing character"
    return None


def shown(path: str) -> str:
    """`path` quoted as Python's repr() would, with every character that is not plainly
    visible escaped (a byte that is not UTF-8 as `\\xff`, a Hangul filler as `\\u3164`),
    so a refusal printed on a terminal shows the name and cannot act on the terminal."""
    quote = '"' if "'" in path and '"' not in path else "'"
    out: list[str] = []
    for character in path:
        code = ord(character)
        if 0xDC80 <= code <= 0xDCFF:  # a surrogateescape'd byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif character in _BLANK_LETTERS:
            out.append(f"\\u{code:04x}")
        elif character in ("\\", quote):
            out.append("\\" + character)
        elif not character.isprintable():
            out.append(repr(character)[1:-1])
        else:
            out.append(character)
    return quote + "".join(out) + quote


def refusal(problems: list[str]) -> str:
    """One sentence for a refused commit, listing the first five problems."""
    listed = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"{REFUSED}{listed}{more}"


__all__ = ["MAX_COMPONENT_BYTES", "REFUSED", "path_problem", "refusal", "shown"]
