"""What of a change set the checker reads: content items, their locations, and safe names.

Owns the location grammar of a change set's items, which the checker and the pipeline share:

* `file:<path>`: the file's text (UTF-8 without NUL bytes). The only file item a `redact`
  verdict can change.
* `file:<path>#<view>`: a decoded view of the file (`utf-16le`, `utf-16be`, `utf-8`,
  `strings`, `hex@S-E`, `gzip@S-E`, `zlib@S-E`, `zip@S-E`, and `...:strings` inside a stream;
  S-E are the encoded bytes in the file). A view cannot be redacted in place: the file's
  bytes are not its text.
* `file:<path>#unchecked:<view>`: a view cut short by a decoding cap; fails closed.
* `name:<path>`: the path itself, every directory name included. `link:<path>`: a symbolic
  link's target. A name cannot be redacted either (the file would land somewhere else).

`safe_name` and `safe_changes` give the form of a path that may be stored (audit events):
the path with every finding in it replaced by its redaction marker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from runtime.models import ChangeSet, ContentItem, Finding
from runtime.safety.base import Detector
from runtime.safety.detectors import default_detectors
from runtime.safety.redact import redact
from runtime.safety.views import decoded_views, text_of

_VIEW = re.compile(
    r"#(?:unchecked:)?(?:utf-16le|utf-16be|utf-8|strings|(?:hex|gzip|zlib|zip)@\d+-\d+)"
    r"(?::(?:utf-16le|utf-16be|utf-8|strings))?$"
)
_UNCHECKED = re.compile(r"#unchecked:[^#]*$")
UNREDACTABLE_PREFIXES = ("name:", "link:")


def file_items(path: str, data: bytes) -> list[ContentItem]:
    """The text of a changed file if it is text, and each of its decoded views."""
    items: list[ContentItem] = []
    text = text_of(data)
    if text is not None:
        items.append(ContentItem(location=f"file:{path}", text=text))
    items.extend(
        ContentItem(location=f"file:{path}#{view.name}", text=view.text)
        for view in decoded_views(data)
    )
    return items


def changeset_items(changes: ChangeSet, contents: Mapping[str, bytes]) -> list[ContentItem]:
    """Every content item of a change set: each new or changed path's name, each symbolic
    link's target, and each changed file's text and decoded views (deletions carry none)."""
    items: list[ContentItem] = []
    for change in changes.changes:
        if change.change == "deleted":
            continue
        items.append(ContentItem(location=f"name:{change.path}", text=change.path))
        if change.link_target is not None:
            items.append(ContentItem(location=f"link:{change.path}", text=change.link_target))
        if change.kind == "file":
            items.extend(file_items(change.path, contents.get(change.path, b"")))
    return items


def redactable(location: str) -> bool:
    """Whether a `redact` verdict can change what sits at `location` in place."""
    return not location.startswith(UNREDACTABLE_PREFIXES) and not _is_view(location)


def unchecked(location: str) -> bool:
    """Whether `location` names a decoded view cut short by a cap (so never fully checked)."""
    return location.startswith("file:") and _UNCHECKED.search(location) is not None


def _is_view(location: str) -> bool:
    return location.startswith("file:") and _VIEW.search(location) is not None


@functools.cache
def _name_detectors() -> tuple[Detector, ...]:
    return tuple(default_detectors())


def safe_name(name: str, findings: Sequence[Finding] | None = None) -> str:
    """`name` with each finding in it replaced by its marker; unchanged if none.

    `findings` are a name item's findings (offsets into `name`); when None, the name is
    scanned here with the built-in detectors (names are short, so this is cheap).
    """
    if findings is None:
        findings = [f for d in _name_detectors() for f in d.scan("name", name)]
    return redact(name, findings) if findings else name


def safe_changes(changes: ChangeSet) -> list[dict[str, Any]]:
    """A change set as the audit may store it: paths and link targets by their safe names."""
    dumped: list[dict[str, Any]] = []
    for change in changes.changes:
        entry = change.model_dump(mode="json")
        entry["path"] = safe_name(change.path)
        if change.link_target is not None:
            entry["link_target"] = safe_name(change.link_target)
        dumped.append(entry)
    return dumped
