"""Change sets: diffing snapshots and committing them all-or-nothing, without Docker."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import CommitRefused, SandboxError
from runtime.models import ChangeSet, ExecResult, FileChange, FileEntry
from runtime.sandbox import output
from runtime.sandbox.base import CommitCaps
from runtime.sandbox.changeset import apply, diff, path_problem
from runtime.sandbox.names import shown
from tests.fixtures_sandbox import commit_from_box


class FakeSandbox:
    """A box whose workspace is a dict: enough for commit_from_box(), which only reads files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    @property
    def id(self) -> str:
        return "fake"

    @property
    def image_digest(self) -> str:
        return "sha256:fake"

    def run_python(self, code: str, timeout_s: float | None = None) -> ExecResult:
        raise NotImplementedError

    def run_command(self, argv: list[str], timeout_s: float | None = None) -> ExecResult:
        raise NotImplementedError

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise SandboxError(f"no such file {path!r}")
        return self.files[path]

    def write_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def snapshot(self) -> dict[str, FileEntry]:
        return {path: file_entry(path, data) for path, data in self.files.items()}

    def close(self) -> None:
        pass


def file_entry(path: str, data: bytes, nlink: int = 1) -> FileEntry:
    return FileEntry(
        path=path,
        kind="file",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        mode=0o644,
        nlink=nlink,
    )


def added(path: str, data: bytes, **extra: object) -> FileChange:
    fields: dict[str, object] = {
        "path": path,
        "change": "added",
        "kind": "file",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    fields.update(extra)
    return FileChange(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- diff


def test_diff_reports_added_modified_and_deleted_files_sorted() -> None:
    before = {"a.txt": file_entry("a.txt", b"1"), "gone.txt": file_entry("gone.txt", b"x")}
    after = {"a.txt": file_entry("a.txt", b"2"), "new.txt": file_entry("new.txt", b"n")}
    changes = diff(before, after).changes
    assert [(c.path, c.change) for c in changes] == [
        ("a.txt", "modified"),
        ("gone.txt", "deleted"),
        ("new.txt", "added"),
    ]


def test_diff_of_identical_snapshots_is_empty() -> None:
    snap = {"a": file_entry("a", b"1"), "d": FileEntry(path="d", kind="dir", mode=0o755)}
    assert diff(snap, dict(snap)).empty


def test_diff_ignores_directory_metadata_but_not_kind_change() -> None:
    before = {"d": FileEntry(path="d", kind="dir", mode=0o755)}
    assert diff(before, {"d": FileEntry(path="d", kind="dir", mode=0o700)}).empty
    swapped = diff(before, {"d": FileEntry(path="d", kind="symlink", link_target="/etc")})
    assert [(c.path, c.change, c.kind) for c in swapped.changes] == [("d", "modified", "symlink")]


# --------------------------------------------------------------------------- commit


def test_commit_writes_files_and_directories(tmp_path: Path) -> None:
    box = FakeSandbox({"out/report.md": b"# hi", "top.txt": b"x"})
    changes = diff({}, {"out": FileEntry(path="out", kind="dir"), **box.snapshot()})
    written = commit_from_box(box, changes, tmp_path, CommitCaps())
    assert written == ["out/report.md", "top.txt"]
    assert (tmp_path / "out" / "report.md").read_bytes() == b"# hi"
    assert (tmp_path / "top.txt").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path / "out")) == ["report.md"]  # no temp files left


def test_commit_deletes_only_regular_files_inside_output(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("old")
    outside = tmp_path.parent / f"outside-{os.getpid()}.txt"
    outside.write_text("keep")
    try:
        (tmp_path / "link.txt").symlink_to(outside)
        gone = ChangeSet(
            changes=[
                FileChange(path="old.txt", change="deleted", kind="file"),
                FileChange(path="link.txt", change="deleted", kind="file"),
                FileChange(path="never-existed.txt", change="deleted", kind="file"),
            ]
        )
        assert commit_from_box(FakeSandbox({}), gone, tmp_path, CommitCaps()) == ["old.txt"]
        assert not (tmp_path / "old.txt").exists()
        assert outside.read_text() == "keep"
        assert (tmp_path / "link.txt").is_symlink()
    finally:
        outside.unlink()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (added("../escape.txt", b"x"), "'../escape.txt': path contains '..'"),
        (added("/etc/passwd", b"x"), "'/etc/passwd': absolute path"),
        (added("a\0b", b"x"), "'a\\x00b': path contains NUL"),
        (
            FileChange(path="evil", change="added", kind="symlink", link_target="/etc/passwd"),
            "'evil': symlink (to '/etc/passwd')",
        ),
        (added("linked", b"x", nlink=2), "'linked': hard link (nlink=2)"),
        (FileChange(path="fifo", change="added", kind="other"), "'fifo': device, fifo or socket"),
    ],
)
def test_commit_refuses_unsafe_entries_and_writes_nothing(
    tmp_path: Path, change: FileChange, reason: str
) -> None:
    good = added("good.txt", b"fine")
    box = FakeSandbox({"good.txt": b"fine", change.path: b"x"})
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, ChangeSet(changes=[good, change]), tmp_path, CommitCaps())
    assert str(refused.value) == f"Commit refused, nothing was written: {reason}"
    assert os.listdir(tmp_path) == []


def test_commit_refuses_more_files_than_the_cap(tmp_path: Path) -> None:
    files = {f"f{i}.txt": b"x" for i in range(4)}
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(
            FakeSandbox(files),
            diff({}, FakeSandbox(files).snapshot()),
            tmp_path,
            CommitCaps(max_files=3),
        )
    assert (
        str(refused.value) == "Commit refused, nothing was written: 4 changes exceed the cap of 3"
    )
    assert os.listdir(tmp_path) == []


def test_commit_refuses_more_bytes_than_the_cap(tmp_path: Path) -> None:
    files = {"big.bin": b"x" * 1001}
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(
            FakeSandbox(files),
            diff({}, FakeSandbox(files).snapshot()),
            tmp_path,
            CommitCaps(max_bytes=1000),
        )
    assert str(refused.value) == (
        "Commit refused, nothing was written: 1001 bytes exceed the cap of 1000"
    )
    assert os.listdir(tmp_path) == []


def test_commit_never_writes_through_a_symlinked_parent(tmp_path: Path) -> None:
    target = tmp_path / "target"
    out = tmp_path / "out"
    target.mkdir()
    out.mkdir()
    (out / "sub").symlink_to(target)
    box = FakeSandbox({"a.txt": b"a", "sub/x.txt": b"x"})
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, diff({}, box.snapshot()), out, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'sub/x.txt': parent 'sub' in the output "
        "folder is a symlink"
    )
    assert os.listdir(target) == []
    assert sorted(os.listdir(out)) == ["sub"]


def test_commit_never_replaces_a_symlink_in_the_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.txt").symlink_to(tmp_path / "elsewhere.txt")
    box = FakeSandbox({"x.txt": b"x"})
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, diff({}, box.snapshot()), out, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'x.txt': exists in the output folder and is "
        "not a regular file"
    )
    assert not (tmp_path / "elsewhere.txt").exists()


def test_commit_refuses_content_changed_after_the_snapshot(tmp_path: Path) -> None:
    box = FakeSandbox({"a.txt": b"checked"})
    changes = diff({}, box.snapshot())
    box.files["a.txt"] = b"swapped"
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, changes, tmp_path, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'a.txt' changed after the snapshot that was checked"
    )
    assert os.listdir(tmp_path) == []


def test_commit_refuses_a_file_that_became_unreadable(tmp_path: Path) -> None:
    box = FakeSandbox({"a.txt": b"1", "b.txt": b"2"})
    changes = diff({}, box.snapshot())
    del box.files["b.txt"]
    with pytest.raises(CommitRefused):
        commit_from_box(box, changes, tmp_path, CommitCaps())
    assert os.listdir(tmp_path) == []


def test_a_path_under_a_file_of_the_same_change_set_is_refused(tmp_path: Path) -> None:
    changes = ChangeSet(
        changes=[added("a", b"x"), FileChange(path="a/b", change="added", kind="dir")]
    )
    with pytest.raises(CommitRefused) as refused:
        apply(changes, {"a": b"x"}, tmp_path, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'a/b': its parent is listed as a file"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_publishing_puts_everything_back(tmp_path: Path) -> None:
    """The publish phase fails on its third step (a file cannot replace the directory the
    prepare phase made for `a/b`): the file it already replaced and the file it already
    deleted come back, and nothing new is left, not even a temp file or a directory."""
    (tmp_path / "0.txt").write_text("old")
    (tmp_path / "0gone.txt").write_text("keep me")
    changes = [
        added("0.txt", b"new", change="modified"),
        FileChange(path="0gone.txt", change="deleted", kind="file"),
        added("a", b"x"),
        FileChange(path="a/b", change="added", kind="dir"),
    ]
    root = output.open_root(tmp_path)
    try:
        with pytest.raises(IsADirectoryError):
            output.publish(root, changes, {"0.txt": b"new", "a": b"x"})
    finally:
        os.close(root)
    assert sorted(os.listdir(tmp_path)) == ["0.txt", "0gone.txt"]
    assert (tmp_path / "0.txt").read_text() == "old"
    assert (tmp_path / "0gone.txt").read_text() == "keep me"


def test_a_replaced_file_keeps_no_backup_behind(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    (tmp_path / "gone.txt").write_text("bye")
    changes = ChangeSet(
        changes=[
            added("a.txt", b"new", change="modified"),
            FileChange(path="gone.txt", change="deleted", kind="file"),
        ]
    )
    assert apply(changes, {"a.txt": b"new"}, tmp_path, CommitCaps()) == ["a.txt", "gone.txt"]
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "new"


# --------------------------------------------------------------------------- hypothesis

segment = st.text(
    alphabet=st.characters(
        # Controls, format characters, separators and blank letters are refused (names.py).
        blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp"),
        blacklist_characters="/\\\0\u115f\u1160\u3164\uffa0",
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
safe_paths = (
    st.lists(segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda p: not re.match(r"^[A-Za-z]:", p))  # drive-letter look-alikes are refused
)
hostile_parts = st.sampled_from(["..", "", ".", "a\0b", "/abs", "back\\slash"])


@given(safe_paths)
def test_safe_relative_paths_are_accepted(path: str) -> None:
    assert path_problem(path) is None


@given(st.lists(segment, max_size=3), hostile_parts, st.lists(segment, max_size=3))
def test_paths_with_a_hostile_component_are_refused(
    head: list[str], bad: str, tail: list[str]
) -> None:
    path = "/".join([*head, bad, *tail])
    assert path_problem(path) is not None


unseen = st.sampled_from(
    ["\n", "\x1b", "\x7f", "\x85", "\u202e", "\u200b", "\u2060", "\u00ad", "\u2028", "\u3164"]
)


@given(st.lists(segment, max_size=3), segment, unseen, st.lists(segment, max_size=3))
def test_names_with_a_control_or_invisible_character_are_refused(
    head: list[str], part: str, character: str, tail: list[str]
) -> None:
    path = "/".join([*head, part + character, *tail])
    assert path_problem(path) is not None
    assert shown(path).isprintable()


def test_a_name_that_is_not_utf8_is_refused_and_shown_by_its_bytes() -> None:
    name = os.fsdecode(b"bad\xffname.txt")
    assert path_problem(name) == "file name is not valid UTF-8"
    assert shown(name) == "'bad\\xffname.txt'"
    assert shown("it's") == repr("it's")


@given(st.text(max_size=40))
def test_accepted_paths_never_escape_the_output_folder(path: str) -> None:
    if path_problem(path) is not None:
        return
    root = "/srv/out"
    joined = os.path.normpath(os.path.join(root, path))
    assert joined.startswith(root + "/")


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(safe_paths, st.binary(max_size=64), min_size=1, max_size=5))
def test_committed_files_land_under_the_output_folder(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    out = tmp_path_factory.mktemp("out")
    # A path that is both a file and a parent of another file cannot exist in one box.
    paths = sorted(files)
    if any(b.startswith(a + "/") for a in paths for b in paths):
        return
    box = FakeSandbox(files)
    try:
        written = commit_from_box(box, diff({}, box.snapshot()), out, CommitCaps())
    except CommitRefused:
        return  # e.g. a component longer than 255 bytes
    except OSError:
        return  # names the host filesystem cannot hold
    assert sorted(written) == paths
    for path, data in files.items():
        target = (out / path).resolve()
        assert target.is_relative_to(out.resolve())
        assert target.read_bytes() == data
