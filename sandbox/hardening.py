"""The executor's self-protection inside the box, and the sweep after each call.

Owns: making the executor undumpable (its stdin/stdout are the host channel), the extra
seccomp filter every child inherits, steering the OOM killer to children, and killing and
reaping whatever a call leaves behind. Imported by `executor.py` from the same folder
(`/opt/runtime` in the image). Standard library only, Python 3.11.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any


def make_undumpable() -> bool:
    """Stop same-uid children from opening /proc/<executor>/fd/* or ptrace-attaching.

    Without this, code run by the executor (same uid) could read the request stream or
    forge responses through /proc/<pid>/fd/0 and /proc/<pid>/fd/1. In the box the executor
    is PID 1 (the container runs without docker-init), so no other process holds the
    channel: /proc/1/fd is root-owned and closed to the sandbox user. Returns whether the
    process is now undumpable (the executor refuses to serve in a box when it is not).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_dumpable, pr_get_dumpable = 4, 3
        libc.prctl(pr_set_dumpable, 0, 0, 0, 0)
        return bool(libc.prctl(pr_get_dumpable, 0, 0, 0, 0) == 0)
    except Exception:  # no ctypes: the caller decides whether that is acceptable
        return False


def in_box() -> bool:
    """True when this process is the box's main process (PID 1 or a child of init).

    Only then is it safe to signal every other process we may signal (kill(-1)); on a
    developer's host that would kill the whole session.
    """
    if os.environ.get("EXECUTOR_SWEEP", "1") == "0":
        return False
    return os.getuid() != 0 and (os.getpid() == 1 or os.getppid() == 1)


# Syscalls the box's children never get, on top of Docker's default seccomp profile:
# Docker allows ptrace for same-uid processes, which would let code attach to the box's
# init (docker-init runs as the same uid and is dumpable) or read another process's memory.
_DENIED_SYSCALLS = {
    0xC000003E: (101, 310, 311),  # x86_64: ptrace, process_vm_readv, process_vm_writev
    0xC00000B7: (117, 270, 271),  # aarch64: ptrace, process_vm_readv, process_vm_writev
}
_X32_BIT = 0x40000000


def _seccomp_program() -> Any:
    """A prebuilt classic-BPF seccomp filter (see _DENIED_SYSCALLS), or None."""
    try:
        import ctypes
        import platform

        arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[platform.machine()]
        libc = ctypes.CDLL(None, use_errno=True)
    except Exception:
        return None

    class SockFilter(ctypes.Structure):
        _fields_ = (
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint),
        )

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))

    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|EPERM
    denied = _DENIED_SYSCALLS[arch]
    # Layout: [ld arch][jeq arch][ld nr][jge x32?][jeq nr]*n [ret allow][ret deny]
    n = len(denied)
    code = [(load, 0, 0, 4)]
    code.append((jeq, 0, n + 3, arch))  # a foreign ABI (i386 int 0x80 on x86_64) -> deny
    code.append((load, 0, 0, 0))
    x32_check = _X32_BIT if arch == 0xC000003E else 0xFFFFFFFF
    code.append((jge, n + 1, 0, x32_check))  # x32 ABI on x86_64 -> deny
    for index, number in enumerate(denied):
        code.append((jeq, n - index, 0, number))
    code.append((ret, 0, 0, allow))
    code.append((ret, 0, 0, deny))
    filters = (SockFilter * len(code))(*[SockFilter(*item) for item in code])
    program = SockFprog(len(code), filters)
    return libc, program, filters


def install_seccomp() -> bool:
    """Apply the extra filter to this process; every child inherits it. False if unavailable."""
    built = _seccomp_program()
    if built is None:
        return False
    import ctypes

    libc, program, _ = built
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0)
    answer: int = libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(program), 0, 0)
    return answer == 0


def prefer_for_oom(pid: int) -> None:
    """Make the child, not the executor, the OOM killer's first choice.

    Written from the parent right after the spawn (no preexec_fn: it would force a slow
    fork instead of vfork, doubling the cost of a trivial call).
    """
    with contextlib.suppress(OSError), open(f"/proc/{pid}/oom_score_adj", "w") as handle:
        handle.write("1000")


def _proc_ids(sid: int) -> list[int]:
    """Pids of processes in session or process group `sid` (host fallback sweep)."""
    found: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        # fields: state ppid pgrp session ...
        if len(fields) > 3 and (int(fields[2]) == sid or int(fields[3]) == sid):
            found.append(int(name))
    return found


def _reap() -> None:
    """Collect our own exited children (init collects the orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep(sid: int) -> None:
    """Kill everything the call left behind: its group, its session, and in a box all else."""
    with contextlib.suppress(OSError):
        os.killpg(sid, signal.SIGKILL)
    if in_box():
        # kill(-1) reaches every process we may signal except init and ourselves: children
        # that called setsid() or double-forked away from the group die here too.
        # Signalling a zombie still succeeds, so loop until init has reaped everyone.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                return
            _reap()
            time.sleep(0.0005)
        return
    for _ in range(20):
        pids = [pid for pid in _proc_ids(sid) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
