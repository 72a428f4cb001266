"""Decoded views and a change set's items: what the checker is given to read."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.models import ChangeSet, FileChange
from runtime.safety.items import changeset_items, redactable, unchecked
from runtime.safety.views import MAX_STREAM_BYTES, decoded_views, strings_of, text_of

SECRET_LINE = b"token = ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_give_views_without_raising(data: bytes) -> None:
    for view in decoded_views(data):
        assert isinstance(view.text, str)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512), st.integers(0, 511))
def test_a_truncated_or_corrupted_stream_is_skipped_not_raised(junk: bytes, cut: int) -> None:
    stream = gzip.compress(SECRET_LINE, mtime=0)
    decoded_views(stream[:cut] + junk)
    decoded_views(b"PK\x03\x04" + b"\x00" * 4 + b"\x08\x00" + b"\xff" * 20 + junk)


def test_text_is_utf8_without_nul_and_anything_else_is_binary() -> None:
    assert text_of("naïve\n".encode()) == "naïve\n"
    assert text_of(b"a\x00b") is None
    assert text_of(b"\xff\xfe") is None


def test_strings_of_a_binary_are_its_readable_runs() -> None:
    data = b"\x01\x02short\x00" + b"long enough run" + b"\x00\x00" + "wide run".encode("utf-16-le")
    assert strings_of(data).splitlines()[:1] == ["long enough run"]
    assert "wide run" in strings_of(data).splitlines()


def test_a_stream_past_its_cap_is_named_unchecked() -> None:
    bomb = zlib.compress(b"\0" * (MAX_STREAM_BYTES + 1024))
    names = [view.name for view in decoded_views(bomb)]
    assert f"unchecked:zlib@0-{len(bomb)}" in names


def test_change_set_items_and_which_of_them_redaction_can_change() -> None:
    changes = ChangeSet(
        changes=[
            FileChange(path="notes.txt", change="added", kind="file"),
            FileChange(path="blob.gz", change="added", kind="file"),
            FileChange(path="link", change="added", kind="symlink", link_target="notes.txt"),
            FileChange(path="old.txt", change="deleted", kind="file"),
        ]
    )
    contents = {"notes.txt": b"hello\n", "blob.gz": gzip.compress(b"inside\n", mtime=0)}
    locations = [item.location for item in changeset_items(changes, contents)]
    size = len(contents["blob.gz"])
    assert locations == [
        "name:notes.txt",
        "file:notes.txt",
        "name:blob.gz",
        f"file:blob.gz#gzip@0-{size}",
        "name:link",
        "link:link",
    ]
    assert [redactable(loc) for loc in ("file:notes.txt", "file:a#b.txt", "memory:x#0")] == [
        True,
        True,
        True,
    ]
    assert not any(
        redactable(loc)
        for loc in ("name:notes.txt", "link:link", "file:blob.gz#gzip@0-9", "file:b#strings")
    )
    assert unchecked("file:bomb.gz#unchecked:gzip@0-9")
    assert not unchecked("file:notes.txt")
