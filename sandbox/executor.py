"""The in-box executor: one long-lived process per sandbox, JSON lines in, JSON lines out.

Owns: running code and commands inside the box, reading and writing files under the
workspace, and snapshotting the workspace. It never decides whether something may run (the
host already authorized it) and never talks to anything but its own stdin and stdout.

Protocol (one JSON object per line each way; see docs/sandbox.md):

    request   {"id": str, "op": "ping"|"run_python"|"run"|"read"|"write"|"snapshot", ...}
    response  {"id", "ok", "stdout", "stderr", "exit_code", "duration_ms", "timed_out",
               "stdout_truncated", "stderr_truncated", "error", ...op-specific fields}

Standard library only, Python 3.11: it runs inside a minimal Debian image.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import time
from typing import Any

import hardening  # sandbox/hardening.py, beside this file (in the image: /opt/runtime)

PROTOCOL_VERSION = 1
WORKSPACE = os.environ.get("EXECUTOR_WORKSPACE", "/workspace")
DEFAULT_TIMEOUT_S = float(os.environ.get("EXECUTOR_TIMEOUT_S", "30"))
OUTPUT_CAP = int(os.environ.get("EXECUTOR_OUTPUT_BYTES", str(64 * 1024)))
READ_CAP = int(os.environ.get("EXECUTOR_READ_BYTES", str(64 * 1024 * 1024)))
CHUNK = 65536

# The user's code arrives on the child's stdin, so no temp file (and no disk) is needed.
PYTHON_BOOTSTRAP = (
    "import sys\n"
    "_src = sys.stdin.buffer.read()\n"
    "sys.stdin = open('/dev/null')\n"
    "exec(compile(_src, '<sandbox>', 'exec'), {'__name__': '__main__'})\n"
)


class RequestError(Exception):
    """A request the executor refuses; answered as {ok: false, error}."""


# --------------------------------------------------------------------------- running


def _exit_code(returncode: int | None) -> int:
    if returncode is None:
        return 128 + signal.SIGKILL
    return returncode if returncode >= 0 else 128 - returncode


def _run(argv: list[str], stdin_data: bytes, timeout_s: float, cap: int) -> dict[str, Any]:
    """Run argv in its own session under /workspace; capture capped output; kill at timeout."""
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        proc = subprocess.Popen(
            argv,
            cwd=WORKSPACE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RequestError(f"cannot start {argv[0]!r}: {exc}") from exc

    hardening.prefer_for_oom(proc.pid)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    truncated = {"stdout": False, "stderr": False}
    pending = memoryview(stdin_data)
    for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream.fileno(), selectors.EVENT_READ, name)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
    else:
        proc.stdin.close()
    pidfd = -1
    try:
        pidfd = os.pidfd_open(proc.pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
    except (AttributeError, OSError):
        pidfd = -1

    timed_out = False
    exited_at: float | None = None
    open_pipes = 2
    try:
        while open_pipes or exited_at is None:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            wait = deadline - now
            if exited_at is not None:
                # The main process is gone; a background child still holds the pipes.
                if not open_pipes or now - exited_at > 0.05:
                    break
                wait = min(wait, 0.01)
            elif pidfd < 0:
                wait = min(wait, 0.02)
            for key, _ in sel.select(wait):
                name = key.data
                if name == "exit":
                    sel.unregister(pidfd)
                    exited_at = time.monotonic()
                elif name == "stdin":
                    try:
                        written = os.write(key.fd, pending[:CHUNK])
                        pending = pending[written:]
                    except BlockingIOError:
                        continue
                    except OSError:  # child closed its stdin early
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        proc.stdin.close()
                else:
                    try:
                        chunk = os.read(key.fd, CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(key.fd)
                        open_pipes -= 1
                        continue
                    buf = buffers[name]
                    room = cap - len(buf)
                    if room > 0:
                        buf += chunk[:room]
                    if len(chunk) > room:
                        truncated[name] = True
            if exited_at is None and pidfd < 0 and proc.poll() is not None:
                exited_at = time.monotonic()
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        hardening.sweep(proc.pid)
        sel.close()
        if pidfd >= 0:
            os.close(pidfd)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    return {
        "stdout": buffers["stdout"].decode("utf-8", "replace"),
        "stderr": buffers["stderr"].decode("utf-8", "replace"),
        "exit_code": _exit_code(proc.returncode),
        "timed_out": timed_out,
        "stdout_truncated": truncated["stdout"],
        "stderr_truncated": truncated["stderr"],
    }


def _timeout(request: dict[str, Any]) -> float:
    value = request.get("timeout_s")
    if value is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RequestError("timeout_s must be a positive number")
    return float(value)


def _cap(request: dict[str, Any]) -> int:
    value = request.get("output_bytes", OUTPUT_CAP)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestError("output_bytes must be a non-negative integer")
    return value


def op_run_python(request: dict[str, Any]) -> dict[str, Any]:
    code = request.get("code")
    if not isinstance(code, str):
        raise RequestError("run_python needs 'code' as a string")
    argv = [sys.executable, "-u", "-c", PYTHON_BOOTSTRAP]
    return _run(argv, code.encode("utf-8"), _timeout(request), _cap(request))


def op_run(request: dict[str, Any]) -> dict[str, Any]:
    argv = request.get("argv")
    if (
        not isinstance(argv, list)
        or not argv
        or not all(isinstance(part, str) and "\0" not in part for part in argv)
    ):
        raise RequestError("run needs 'argv' as a non-empty list of strings")
    return _run(argv, b"", _timeout(request), _cap(request))


# --------------------------------------------------------------------------- files


def _workspace_path(raw: Any) -> str:
    """The absolute path for a workspace-relative name; refuse anything that could escape."""
    if not isinstance(raw, str) or not raw:
        raise RequestError("path must be a non-empty string")
    if "\0" in raw:
        raise RequestError("path must not contain NUL")
    if raw.startswith("/"):
        raise RequestError(f"path must be relative to the workspace: {raw!r}")
    parts = raw.split("/")
    if ".." in parts:
        raise RequestError(f"path must not contain '..': {raw!r}")
    root = os.path.realpath(WORKSPACE)
    full = os.path.join(root, raw)
    parent = os.path.realpath(os.path.dirname(full))
    if parent != root and not parent.startswith(root + "/"):
        raise RequestError(f"path escapes the workspace: {raw!r}")
    return os.path.join(parent, os.path.basename(full))


def op_read(request: dict[str, Any]) -> dict[str, Any]:
    path = _workspace_path(request.get("path"))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise RequestError(f"cannot read {request.get('path')!r}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RequestError(f"not a regular file: {request.get('path')!r}")
        if info.st_size > READ_CAP:
            raise RequestError(f"file larger than {READ_CAP} bytes: {request.get('path')!r}")
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return {"data_b64": base64.b64encode(data).decode("ascii"), "size": len(data)}


def op_write(request: dict[str, Any]) -> dict[str, Any]:
    path = _workspace_path(request.get("path"))
    encoded = request.get("data_b64")
    if not isinstance(encoded, str):
        raise RequestError("write needs 'data_b64' as a string")
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise RequestError("data_b64 is not valid base64") from exc
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise RequestError(f"cannot write {request.get('path')!r}: {exc.strerror}") from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise RequestError(f"cannot write {request.get('path')!r}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return {"size": len(data)}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _entry(root: str, full: str) -> dict[str, Any]:
    info = os.lstat(full)
    mode = info.st_mode
    entry: dict[str, Any] = {
        "path": os.path.relpath(full, root),
        "size": 0,
        "sha256": "",
        "mode": stat.S_IMODE(mode),
        "nlink": info.st_nlink,
        "link_target": None,
    }
    if stat.S_ISREG(mode):
        entry.update(kind="file", size=info.st_size, sha256=_sha256(full))
    elif stat.S_ISDIR(mode):
        entry.update(kind="dir", nlink=1)
    elif stat.S_ISLNK(mode):
        entry.update(kind="symlink", link_target=os.readlink(full))
    else:
        entry.update(kind="other", size=info.st_size)
    return entry


def op_snapshot(request: dict[str, Any]) -> dict[str, Any]:
    root = os.path.realpath(WORKSPACE)
    entries: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames) + sorted(filenames):
            with contextlib.suppress(OSError):
                entries.append(_entry(root, os.path.join(dirpath, name)))
    entries.sort(key=lambda item: item["path"])
    return {"entries": entries}


def op_ping(request: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "pid": os.getpid(), "uid": os.getuid()}


OPS = {
    "ping": op_ping,
    "run_python": op_run_python,
    "run": op_run,
    "read": op_read,
    "write": op_write,
    "snapshot": op_snapshot,
}


# --------------------------------------------------------------------------- loop


def handle(line: bytes) -> dict[str, Any]:
    """Answer one request line; never raises."""
    start = time.monotonic()
    response: dict[str, Any] = {
        "id": None,
        "ok": False,
        "stdout": "",
        "stderr": "",
        "exit_code": 0,
        "duration_ms": 0.0,
        "timed_out": False,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "error": None,
    }
    try:
        try:
            request = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(f"request is not valid JSON: {exc}") from exc
        if not isinstance(request, dict):
            raise RequestError("request must be a JSON object")
        request_id = request.get("id")
        if isinstance(request_id, str | int) and not isinstance(request_id, bool):
            response["id"] = request_id
        op = OPS.get(request.get("op"))  # type: ignore[arg-type]
        if op is None:
            raise RequestError(f"unknown op {request.get('op')!r}")
        response.update(op(request))
        response["ok"] = True
    except RequestError as exc:
        response["error"] = str(exc)
    except Exception as exc:  # never crash on a bad request
        response["error"] = f"internal error: {type(exc).__name__}: {exc}"
    response["duration_ms"] = round((time.monotonic() - start) * 1000, 3)
    return response


def main() -> int:
    undumpable = hardening.make_undumpable()
    in_box = hardening.in_box()
    if in_box and not undumpable:
        sys.stderr.write("executor: cannot make itself undumpable: refusing to serve\n")
        return 1
    if (in_box or os.environ.get("EXECUTOR_SECCOMP") == "1") and not hardening.install_seccomp():
        sys.stderr.write("executor: cannot install its seccomp filter: refusing to serve\n")
        return 1
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        if not line.strip():
            continue
        payload = json.dumps(handle(line), separators=(",", ":")).encode() + b"\n"
        stdout.write(payload)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
