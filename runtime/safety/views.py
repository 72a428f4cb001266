"""Decoded views of a file's bytes: the text a secret becomes once UTF-16, hex or a
compressed stream is undone.

Owns recognising those encodings and decoding them under hard caps, so a crafted file can
neither hang the check nor exhaust memory: at most MAX_STREAMS compressed streams per file,
MAX_STREAM_BYTES out of any one of them and MAX_DECODED_BYTES out of all of them together.
A stream that hits a cap is reported as an `unchecked:` view (the checker fails it closed).
For a binary file it also gives the readable strings (ASCII, and UTF-16 runs), the way
`strings` does. Each view is named after where its encoded form sits in the file
(`gzip@120-4031`: bytes 120 to 4031), which is what a finding in it points at.

Never scans or decides anything: the checker runs the detectors over these views.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

MAX_STREAMS = 16
MAX_STREAM_BYTES = 16 * 1024 * 1024
MAX_DECODED_BYTES = 32 * 1024 * 1024
MAX_HEX_VIEWS = 64
MIN_HEX_RUN = 32
MIN_STRING_RUN = 6

# Runs are found on a translated copy (each byte to a class letter), where every pattern
# starts with a literal byte: the regex engine then skips ahead with a fast search instead
# of trying each position, which on 64 MiB of NUL bytes is the difference between 0.1 and
# 12 seconds.
_PRINTABLE = bytes([*range(0x20, 0x7F), 0x09])
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_BY_PRINTABLE = bytes(
    ord("P") if b in _PRINTABLE else ord("Z") if b == 0 else ord(".") for b in range(256)
)
_BY_HEX = bytes(ord("H") if b in _HEX_DIGITS else ord(".") for b in range(256))
_HEX_RUN = re.compile(b"H" * MIN_HEX_RUN + b"H*")
_ASCII_RUN = re.compile(b"P" * MIN_STRING_RUN + b"P*")
_UTF16LE_RUN = re.compile(b"PZ" * MIN_STRING_RUN + b"(?:PZ)*")
_UTF16BE_RUN = re.compile(b"ZP" * MIN_STRING_RUN + b"(?:ZP)*")
_NUL_RUN = re.compile("\x00+")
_GZIP_MAGIC = b"\x1f\x8b\x08"
_ZIP_ENTRY = b"PK\x03\x04"
_PDF_STREAM = re.compile(rb"stream\r?\n")
_MAX_CANDIDATES = 256  # places tried as a stream start, decodable or not


@dataclass(frozen=True)
class View:
    """One decoded rendering of (part of) a file: `name` says which and where."""

    name: str
    text: str


def text_of(data: bytes) -> str | None:
    """The file as text if it is text (UTF-8 without NUL bytes), else None: binary."""
    return None if b"\x00" in data else _utf8(data)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decoded_views(data: bytes) -> list[View]:
    """Every decoded view of `data` worth scanning, besides the file's own text."""
    views: list[View] = []
    if text_of(data) is None:
        views.extend(_binary_views(data))
    views.extend(_hex_views(data))
    views.extend(_Streams(data).views())
    return views


# ------------------------------------------------------------------ binary files


def _utf16(data: bytes) -> View | None:
    """A UTF-16 file, by its byte-order mark or by the NUL bytes of mostly-ASCII text."""
    if data.startswith(b"\xff\xfe"):
        return View("utf-16le", data[2:].decode("utf-16-le", errors="replace"))
    if data.startswith(b"\xfe\xff"):
        return View("utf-16be", data[2:].decode("utf-16-be", errors="replace"))
    sample = data[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.4 * len(odd) and even.count(0) <= 0.05 * len(even):
        return View("utf-16le", data.decode("utf-16-le", errors="replace"))
    if even.count(0) >= 0.4 * len(even) and odd.count(0) <= 0.05 * len(odd):
        return View("utf-16be", data.decode("utf-16-be", errors="replace"))
    return None


def _binary_views(data: bytes) -> Iterator[View]:
    utf16 = _utf16(data)
    if utf16 is not None:
        yield utf16
        return
    text = _utf8(data)
    if text is not None:
        # UTF-8 text with NUL bytes in it: the text, NUL runs as line breaks.
        yield View("utf-8", _NUL_RUN.sub("\n", text))
    strings = strings_of(data)
    if strings:
        yield View("strings", strings)


def strings_of(data: bytes) -> str:
    """The readable runs of a binary, one per line: ASCII, UTF-16LE and UTF-16BE."""
    classes = data.translate(_BY_PRINTABLE)
    runs = [data[m.start() : m.end()].decode("ascii") for m in _ASCII_RUN.finditer(classes)]
    runs += [data[m.start() : m.end()].decode("utf-16-le") for m in _UTF16LE_RUN.finditer(classes)]
    runs += [data[m.start() : m.end()].decode("utf-16-be") for m in _UTF16BE_RUN.finditer(classes)]
    return "\n".join(runs)


# ------------------------------------------------------------------ hex


def _readable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\n\r")
    return text if printable >= 0.9 * len(text) else None


def _hex_views(data: bytes) -> Iterator[View]:
    """Long hex runs that decode to readable text (a digest or a git SHA does not)."""
    count = 0
    for match in _HEX_RUN.finditer(data.translate(_BY_HEX)):
        start, end = match.start(), match.end() - (match.end() - match.start()) % 2
        text = _readable(bytes.fromhex(data[start:end].decode("ascii")))
        if text is None:
            continue
        count += 1
        if count > MAX_HEX_VIEWS:
            yield View(f"unchecked:hex@{start}-{end}", "")
            return
        yield View(f"hex@{start}-{end}", text)


# ------------------------------------------------------------------ compressed streams


class _Streams:
    """gzip members anywhere, a zlib stream at the start or after a PDF `stream` keyword,
    and deflated zip entries, each inflated under the caps."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._budget = MAX_DECODED_BYTES
        self._decoded = 0
        self._tried = 0

    def views(self) -> list[View]:
        views: list[View] = []
        for kind, start, payload_start, wbits in self._candidates():
            self._tried += 1
            if self._tried > _MAX_CANDIDATES or self._decoded >= MAX_STREAMS:
                views.append(View(f"unchecked:{kind}@{start}-{len(self._data)}", ""))
                break
            views.extend(self._inflate(kind, start, payload_start, wbits))
        return views

    def _candidates(self) -> Iterator[tuple[str, int, int, int]]:
        data = self._data
        if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
            yield "zlib", 0, 0, zlib.MAX_WBITS
        for match in _PDF_STREAM.finditer(data):
            yield "zlib", match.end(), match.end(), zlib.MAX_WBITS
        position = data.find(_GZIP_MAGIC)
        while position != -1:
            yield "gzip", position, position, 16 + zlib.MAX_WBITS
            position = data.find(_GZIP_MAGIC, position + 1)
        position = data.find(_ZIP_ENTRY)
        while position != -1:
            header = data[position : position + 30]
            if len(header) == 30 and int.from_bytes(header[8:10], "little") == 8:
                names = int.from_bytes(header[26:28], "little")
                extra = int.from_bytes(header[28:30], "little")
                yield "zip", position, position + 30 + names + extra, -zlib.MAX_WBITS
            position = data.find(_ZIP_ENTRY, position + 1)

    def _inflate(self, kind: str, start: int, payload_start: int, wbits: int) -> Iterator[View]:
        cap = min(MAX_STREAM_BYTES, self._budget)
        inflater = zlib.decompressobj(wbits)
        try:
            raw = inflater.decompress(memoryview(self._data)[payload_start:], cap + 1)
        except zlib.error:
            return
        if not raw:
            return
        self._decoded += 1
        self._budget -= len(raw)
        end = len(self._data) - len(inflater.unused_data) if inflater.eof else len(self._data)
        name = f"{kind}@{start}-{end}"
        if len(raw) > cap or (not inflater.eof and inflater.unconsumed_tail):
            yield View(f"unchecked:{name}", "")
            raw = raw[:cap]
        text = text_of(raw)
        if text is not None:
            yield View(name, text)
            return
        for inner in _binary_views(raw):
            yield View(f"{name}:{inner.name}", inner.text)
