"""One started box: the host end of the executor channel and the Sandbox it backs.

Owns: the executor wire protocol on the host side (JSON lines over the attached, multiplexed
stream, `Channel`), one request at a time per box, the request ids and host-side
wall-clock deadlines, and removing the container when the box is closed or found broken.
It does not import `docker`: it is handed a client by `runtime.sandbox.docker`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import threading
import time
import uuid
from typing import Any

from runtime.errors import ExecutorCrashed, SandboxError
from runtime.models import ExecResult, FileEntry
from runtime.sandbox.base import SandboxLimits

# Host-side grace over the in-box timeout: the executor kills the work at timeout_s and
# needs a moment to sweep and answer; past this the box itself is killed.
GRACE_S = 5.0
RECV_BYTES = 1 << 20
STDOUT, STDERR = 1, 2


class Channel:
    """The host end of the executor stream: demultiplexes docker's 8-byte frame headers."""

    def __init__(self, sock: Any) -> None:
        self._holder = sock  # keeps docker-py's response (and so the socket) alive
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._raw = bytearray()
        self._lines = bytearray()
        self._scan_from = 0
        self.stderr_tail = bytearray()

    def send(self, data: bytes) -> None:
        self._sock.settimeout(10.0)
        self._sock.sendall(data)

    def read_line(self, deadline: float) -> bytes:
        while True:
            newline = self._lines.find(b"\n", self._scan_from)
            if newline >= 0:
                line = bytes(self._lines[:newline])
                del self._lines[: newline + 1]
                self._scan_from = 0
                return line
            self._scan_from = len(self._lines)
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("executor did not answer in time")
        self._sock.settimeout(remaining)
        chunk = self._sock.recv(RECV_BYTES)
        if not chunk:
            raise EOFError("executor stream closed")
        self._raw += chunk
        position = 0
        raw = self._raw
        while len(raw) - position >= 8:
            size = int.from_bytes(raw[position + 4 : position + 8], "big")
            end = position + 8 + size
            if len(raw) < end:
                break
            stream = raw[position]
            if stream == STDOUT:
                self._lines += raw[position + 8 : end]
            elif stream == STDERR:
                self.stderr_tail += raw[position + 8 : end]
                del self.stderr_tail[:-4096]
            position = end
        del raw[:position]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(Exception):
            self._holder.close()


class DockerSandbox:
    """One started container with a live executor. Never shared between runs."""

    def __init__(
        self,
        client: Any,
        container_id: str,
        channel: Channel,
        *,
        digest: str,
        limits: SandboxLimits,
        run_id: str,
    ) -> None:
        self._client = client
        self._id = container_id
        self._channel = channel
        self._digest = digest
        self._limits = limits
        self.run_id = run_id
        self._lock = threading.Lock()
        self._closed = False
        self._crashed = False

    # -- Sandbox protocol

    @property
    def id(self) -> str:
        return self._id

    @property
    def image_digest(self) -> str:
        return self._digest

    @property
    def alive(self) -> bool:
        return not (self._closed or self._crashed)

    def ping(self, timeout_s: float = 10.0) -> dict[str, Any]:
        return self._call({"op": "ping"}, host_timeout_s=timeout_s)

    def run_python(self, code: str, timeout_s: float | None = None) -> ExecResult:
        return self._exec({"op": "run_python", "code": code}, timeout_s)

    def run_command(self, argv: list[str], timeout_s: float | None = None) -> ExecResult:
        return self._exec({"op": "run", "argv": list(argv)}, timeout_s)

    def read_file(self, path: str) -> bytes:
        response = self._call({"op": "read", "path": path})
        if not response.get("ok"):
            raise SandboxError(
                f"Cannot read {path!r} in sandbox {self.short_id}: {response.get('error')}"
            )
        try:
            return base64.b64decode(response["data_b64"], validate=True)
        except (KeyError, binascii.Error, TypeError) as exc:
            raise SandboxError(f"Executor sent a malformed read answer for {path!r}") from exc

    def write_file(self, path: str, data: bytes) -> None:
        request = {"op": "write", "path": path, "data_b64": base64.b64encode(data).decode()}
        response = self._call(request)
        if not response.get("ok"):
            raise SandboxError(
                f"Cannot write {path!r} in sandbox {self.short_id}: {response.get('error')}"
            )

    def snapshot(self) -> dict[str, FileEntry]:
        response = self._call({"op": "snapshot"})
        if not response.get("ok"):
            raise SandboxError(
                f"Snapshot failed in sandbox {self.short_id}: {response.get('error')}"
            )
        entries = [FileEntry(**entry) for entry in response.get("entries", [])]
        return {entry.path: entry for entry in entries}

    def close(self) -> None:
        """Remove the container (force); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._channel.close()
        with contextlib.suppress(Exception):
            self._client.api.remove_container(self._id, force=True, v=True)

    # -- wire

    @property
    def short_id(self) -> str:
        return self._id[:12]

    def _exec(self, request: dict[str, Any], timeout_s: float | None) -> ExecResult:
        # The spec's limit is a ceiling: a caller (or a policy obligation) may only shorten it.
        ceiling = self._limits.call_timeout_s
        timeout = ceiling if timeout_s is None else min(float(timeout_s), ceiling)
        request["timeout_s"] = timeout
        request["output_bytes"] = self._limits.output_bytes
        response = self._call(request, host_timeout_s=timeout + GRACE_S)
        if not response.get("ok"):
            # The executor refused (e.g. no such program): report it like a shell would.
            return ExecResult(
                stderr=str(response.get("error") or ""),
                exit_code=127,
                duration_ms=float(response.get("duration_ms") or 0.0),
            )
        return ExecResult(
            stdout=response.get("stdout", ""),
            stderr=response.get("stderr", ""),
            exit_code=int(response.get("exit_code", -1)),
            duration_ms=float(response.get("duration_ms", 0.0)),
            timed_out=bool(response.get("timed_out")),
            stdout_truncated=bool(response.get("stdout_truncated")),
            stderr_truncated=bool(response.get("stderr_truncated")),
        )

    def _call(self, request: dict[str, Any], host_timeout_s: float | None = None) -> dict[str, Any]:
        if host_timeout_s is None:
            host_timeout_s = self._limits.call_timeout_s + GRACE_S
        with self._lock:
            if self._closed or self._crashed:
                raise ExecutorCrashed(
                    f"Sandbox {self.short_id} is no longer usable: acquire a new one"
                )
            request_id = uuid.uuid4().hex
            request["id"] = request_id
            line = json.dumps(request, separators=(",", ":")).encode() + b"\n"
            deadline = time.monotonic() + host_timeout_s
            try:
                self._channel.send(line)
                answer = self._channel.read_line(deadline)
                response = json.loads(answer)
            except TimeoutError as exc:
                self._discard()
                raise ExecutorCrashed(
                    f"Executor in sandbox {self.short_id} did not answer within "
                    f"{host_timeout_s:.1f} s: the box was killed and will not be reused"
                ) from exc
            except (EOFError, OSError, ValueError) as exc:
                self._discard()
                raise ExecutorCrashed(
                    f"Executor in sandbox {self.short_id} died ({exc}): the box was "
                    f"discarded; acquire a new one{self._stderr_note()}"
                ) from exc
            if not isinstance(response, dict) or response.get("id") != request_id:
                self._discard()
                raise ExecutorCrashed(
                    f"Executor in sandbox {self.short_id} answered out of turn: the box "
                    "was discarded"
                )
            return response

    def _stderr_note(self) -> str:
        tail = bytes(self._channel.stderr_tail[-400:]).decode("utf-8", "replace").strip()
        return f" (executor stderr: {tail})" if tail else ""

    def _discard(self) -> None:
        self._crashed = True
        self._channel.close()
        with contextlib.suppress(Exception):
            self._client.api.remove_container(self._id, force=True, v=True)
        self._closed = True


__all__ = ["GRACE_S", "Channel", "DockerSandbox"]
