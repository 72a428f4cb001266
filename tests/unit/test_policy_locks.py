"""The one flock wrapper (runtime/locks.py) under the policy lock and the run lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime.errors import UserError
from runtime.locks import FileLock, is_locked
from runtime.runs import RunLock, is_driven

HOLD = """
import sys, time
from pathlib import Path
from runtime.locks import FileLock
lock = FileLock(Path(sys.argv[1]))
assert lock.acquire(5)
print("held", flush=True)
time.sleep(30)
"""


def hold_in_child(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def test_lock_is_reentrant_for_its_thread_and_released_at_the_last_exit(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "lock")
    with lock.hold(1) as outer:
        with lock.hold(1) as inner:
            assert (outer, inner) == (True, True)
        assert is_locked(tmp_path / "lock")
    assert not is_locked(tmp_path / "lock")


def test_another_process_holding_the_lock_times_out_then_death_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    child = hold_in_child(path)
    try:
        started = time.monotonic()
        with FileLock(path).hold(0.2) as held:
            assert held is False
        assert time.monotonic() - started >= 0.2
    finally:
        child.kill()
        child.wait()
    with FileLock(path).hold(1) as held:
        assert held is True


def test_no_timeout_waits_for_the_holder_to_go(tmp_path: Path) -> None:
    """timeout=None (the audit head lock) blocks until the other process lets go."""
    path = tmp_path / "lock"
    child = hold_in_child(path)
    try:
        killer = threading.Timer(0.3, child.kill)
        killer.start()
        started = time.monotonic()
        with FileLock(path).hold(None) as held:
            assert held is True
            assert time.monotonic() - started >= 0.3
    finally:
        child.kill()
        child.wait()


def test_the_audit_head_lock_is_a_file_lock_other_holders_wait_for(tmp_path: Path) -> None:
    """runtime/audit/seal.py serialises head updates with runtime.locks, not its own flock."""
    from runtime.audit.seal import head_lock

    log = tmp_path / "audit.db"
    with head_lock(log):
        assert is_locked(log.with_suffix(".lock"))
        with FileLock(log.with_suffix(".lock")).hold(0.1) as held:
            assert held is False
    assert not is_locked(log.with_suffix(".lock"))


def test_a_driven_run_refuses_a_second_driver_and_names_the_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path, "r1"):
        assert is_driven(tmp_path, "r1")
        with pytest.raises(UserError) as caught:
            RunLock(tmp_path, "r1").acquire()
        assert str(caught.value) == (
            f"run r1 is being driven by another process (pid {os.getpid()})"
        )
    assert not is_driven(tmp_path, "r1")
    assert not is_driven(tmp_path, "never-started")


def test_lock_files_are_private(tmp_path: Path) -> None:
    with RunLock(tmp_path, "r2") as lock:
        assert (lock.path.stat().st_mode & 0o777) == 0o600
