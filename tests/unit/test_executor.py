"""The in-box executor's protocol, run on the host as a subprocess against a temp workspace."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXECUTOR = Path(__file__).resolve().parents[2] / "sandbox" / "executor.py"
RESPONSE_KEYS = {
    "id",
    "ok",
    "stdout",
    "stderr",
    "exit_code",
    "duration_ms",
    "timed_out",
    "stdout_truncated",
    "stderr_truncated",
    "error",
}


class Executor:
    def __init__(self, workspace: Path, **extra_env: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "EXECUTOR_WORKSPACE": str(workspace),
            "EXECUTOR_SWEEP": "0",  # never kill(-1) on a developer's host
            "EXECUTOR_OUTPUT_BYTES": "1000",
            **extra_env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(EXECUTOR)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.count = 0

    def raw(self, line: bytes) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        self.count += 1
        answer = self.raw(json.dumps({"id": str(self.count), "op": op, **fields}).encode())
        assert answer["id"] == str(self.count)
        assert answer.keys() >= RESPONSE_KEYS
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[Executor]:
    box = Executor(tmp_path)
    yield box
    box.close()


def test_ping_answers_ok(executor: Executor) -> None:
    answer = executor.call("ping")
    assert answer["ok"] is True
    assert answer["error"] is None


def test_run_python_captures_stdout_stderr_and_exit_code(executor: Executor) -> None:
    answer = executor.call(
        "run_python", code="import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"
    )
    assert (answer["ok"], answer["stdout"], answer["stderr"], answer["exit_code"]) == (
        True,
        "out\n",
        "err\n",
        3,
    )


def test_run_executes_in_the_workspace(executor: Executor, tmp_path: Path) -> None:
    answer = executor.call("run", argv=["pwd"])
    assert answer["stdout"].strip() == str(tmp_path)


def test_timeout_kills_the_work_and_the_executor_keeps_answering(executor: Executor) -> None:
    start = time.monotonic()
    answer = executor.call("run_python", code="while True: pass", timeout_s=0.5)
    assert answer["timed_out"] is True
    assert answer["exit_code"] == 137
    assert time.monotonic() - start < 5
    assert executor.call("ping")["ok"] is True


def test_output_is_capped_with_a_truncation_flag(executor: Executor) -> None:
    answer = executor.call("run_python", code="print('x' * 100000)", output_bytes=50)
    assert answer["stdout"] == "x" * 50
    assert (answer["stdout_truncated"], answer["stderr_truncated"]) == (True, False)


def test_background_child_does_not_outlive_the_call(executor: Executor, tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    code = (
        "import os, subprocess\n"
        f"subprocess.Popen(['sh', '-c', 'sleep 1; touch {marker}'], start_new_session=False)\n"
        "print('spawned')\n"
    )
    assert executor.call("run_python", code=code)["stdout"] == "spawned\n"
    time.sleep(1.5)
    assert not marker.exists()


def test_write_then_read_round_trips_bytes(executor: Executor) -> None:
    data = bytes(range(256))
    written = executor.call("write", path="sub/dir/f.bin", data_b64=base64.b64encode(data).decode())
    assert written["ok"] is True
    answer = executor.call("read", path="sub/dir/f.bin")
    assert base64.b64decode(answer["data_b64"]) == data


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("../outside", "path must not contain '..': '../outside'"),
        ("/etc/passwd", "path must be relative to the workspace: '/etc/passwd'"),
        ("", "path must be a non-empty string"),
        ("link/passwd", "path escapes the workspace: 'link/passwd'"),
    ],
)
def test_paths_outside_the_workspace_are_refused(
    executor: Executor, tmp_path: Path, path: str, error: str
) -> None:
    (tmp_path / "link").symlink_to("/etc")
    for op in ("read", "write"):
        answer = executor.call(op, path=path, data_b64="")
        assert (answer["ok"], answer["error"]) == (False, error)


def test_read_refuses_a_symlink_to_a_file(executor: Executor, tmp_path: Path) -> None:
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    answer = executor.call("read", path="passwd")
    assert answer["ok"] is False
    assert answer["error"].startswith("cannot read 'passwd'")


def test_snapshot_lists_kinds_hashes_and_links(executor: Executor, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_bytes(b"hello")
    os.link(tmp_path / "d" / "f.txt", tmp_path / "hard.txt")
    (tmp_path / "sym").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "fifo")
    entries = {e["path"]: e for e in executor.call("snapshot")["entries"]}
    assert {p: e["kind"] for p, e in entries.items()} == {
        "d": "dir",
        "d/f.txt": "file",
        "hard.txt": "file",
        "sym": "symlink",
        "fifo": "other",
    }
    assert entries["d/f.txt"]["sha256"] == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    assert entries["hard.txt"]["nlink"] == 2
    assert entries["sym"]["link_target"] == "/etc/passwd"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"not json", "request is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b"[1, 2]", "request must be a JSON object"),
        (b'{"id": "x", "op": "launch"}', "unknown op 'launch'"),
        (
            b'{"id": "x", "op": "run", "argv": "ls"}',
            "run needs 'argv' as a non-empty list of strings",
        ),
        (b'{"id": "x", "op": "run_python"}', "run_python needs 'code' as a string"),
        (
            b'{"id": "x", "op": "run", "argv": ["true"], "timeout_s": -1}',
            "timeout_s must be a positive number",
        ),
        (
            b'{"id": "x", "op": "write", "path": "a", "data_b64": "!!"}',
            "data_b64 is not valid base64",
        ),
        (
            b"\xff\xfe",
            "request is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
    ],
)
def test_bad_requests_get_an_error_answer_not_a_crash(
    executor: Executor, line: bytes, error: str
) -> None:
    answer = executor.raw(line)
    assert (answer["ok"], answer["error"]) == (False, error)
    assert executor.call("ping")["ok"] is True


def test_missing_program_is_an_error_answer(executor: Executor) -> None:
    answer = executor.call("run", argv=["definitely-not-a-program-xyz"])
    assert answer["ok"] is False
    assert answer["error"].startswith("cannot start 'definitely-not-a-program-xyz'")


def test_children_cannot_ptrace_when_the_filter_is_on(tmp_path: Path) -> None:
    box = Executor(tmp_path, EXECUTOR_SECCOMP="1")
    try:
        code = (
            "import ctypes, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.ptrace(16, os.getppid(), None, None), ctypes.get_errno())\n"
        )
        assert box.call("run_python", code=code)["stdout"] == "-1 1\n"  # EPERM
    finally:
        box.close()
