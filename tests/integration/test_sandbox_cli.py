"""The sandbox's rough edges as a new user meets them on the command line (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import one_line, run_cli

pytestmark = pytest.mark.docker


def test_a_timed_out_sandbox_run_says_so(project: Path, sandbox_image: str) -> None:
    done = run_cli(project, "sandbox", "run", "--timeout", "2", "--", "sleep", "100")
    assert done.returncode == 137
    assert done.stdout == ""
    assert one_line(done.stderr) == "runtime: the command timed out after 2 s and was killed"

    as_json = run_cli(project, "sandbox", "run", "--timeout", "1.5", "--json", "--", "sleep", "9")
    doc = json.loads(as_json.stdout)
    assert (doc["timed_out"], doc["exit_code"]) == (True, 137)
    assert doc["stderr"] == "runtime: the command timed out after 1.5 s and was killed\n"


def test_a_finished_sandbox_run_prints_only_its_output(project: Path, sandbox_image: str) -> None:
    done = run_cli(project, "sandbox", "run", "--", "sh", "-c", "echo hi; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "hi\n", "")


def test_input_that_is_a_file_is_named_as_such(project: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("the notes\n")
    done = run_cli(
        project, "exec", "summarize", "--team", "analyst", "--engine", "embedded",
        "--input", str(notes),
    )  # fmt: skip
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"error: --input {notes} is a file, not a folder: put it in a folder and pass that"
    )
