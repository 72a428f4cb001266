"""The Docker sandbox: hardened containers with a live executor, handed out one per run.

Owns: connecting to the engine (and mapping its errors), the container hardening, the
executor wire protocol on the host side (JSON lines over the attached, multiplexed stream),
host-side wall-clock timeouts, the warm pool wiring and reaping orphaned containers. This
is the only module that imports `docker`. It never decides policy: it runs what it is told.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from runtime.errors import (
    DockerUnavailable,
    EnvironmentProblem,
    ExecutorCrashed,
    SandboxError,
    SandboxImageMissing,
)
from runtime.models import ExecResult, FileEntry
from runtime.sandbox.base import SandboxLimits, SandboxSpec
from runtime.sandbox.image import SANDBOX_GID, SANDBOX_UID, image_digest, image_tag
from runtime.sandbox.pool import WarmPool

LABEL = "agent-runtime"
LABEL_RUN = "agent-runtime.run"
LABEL_OWNER = "agent-runtime.owner-pid"
POOL_RUN_ID = "pool"
# Host-side grace over the in-box timeout: the executor kills the work at timeout_s and
# needs a moment to sweep and answer; past this the box itself is killed.
GRACE_S = 5.0
START_TIMEOUT_S = 30.0
RECV_BYTES = 1 << 20
STDOUT, STDERR = 1, 2
_INSTALL_HINT = "The docker package is not installed: run `pip install docker`"


def _docker() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise EnvironmentProblem(_INSTALL_HINT) from exc
    return docker


def connect(client: Any = None, base_url: str | None = None) -> Any:
    """A docker-py client that has answered a ping, or DockerUnavailable naming the fix."""
    docker = _docker()
    if client is not None:
        return client
    url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=url, max_pool_size=64, timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(
            f"Docker engine not reachable at {url}: run `runtime doctor`"
        ) from exc
    return client


def owner_alive(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- one box


class _Channel:
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
        channel: _Channel,
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


# --------------------------------------------------------------------------- backend


class DockerBackend:
    """Starts hardened boxes from the pinned local image; one box per run, never reused."""

    def __init__(
        self,
        client: Any = None,
        spec: SandboxSpec | None = None,
        pool_size: int = 0,
        labels: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        reap_orphans: bool = False,
    ) -> None:
        self._client = connect(client, base_url)
        self._spec = spec or SandboxSpec(image=image_tag())
        self._extra_labels = dict(labels or {})
        self._digest = self._check_image()
        info = self._client.info()
        self._runtime = self._choose_runtime(info)
        self._security = [str(option) for option in info.get("SecurityOptions") or []]
        if not any("seccomp" in option for option in self._security):
            raise EnvironmentProblem(
                "The Docker engine reports no seccomp support: refusing to start sandboxes "
                "without the default seccomp profile"
            )
        self._lock = threading.Lock()
        self._live: dict[str, DockerSandbox] = {}
        self._closed = False
        self.reaped = self.prune() if reap_orphans else 0  # boxes of runtimes that died
        self._pool: WarmPool[DockerSandbox] | None = None
        if pool_size > 0:
            self._pool = WarmPool(
                lambda: self._start(POOL_RUN_ID), pool_size, lambda box: box.close()
            )

    # -- set-up checks

    def _check_image(self) -> str:
        try:
            return image_digest(self._client, self._spec.image)
        except SandboxImageMissing as exc:
            raise SandboxImageMissing(
                f"Sandbox image {self._spec.image} is not built: run `runtime sandbox build`"
            ) from exc

    def _choose_runtime(self, info: Mapping[str, Any]) -> str:
        available = set((info.get("Runtimes") or {}).keys())
        requested = self._spec.runtime
        if requested:
            if requested not in available:
                raise EnvironmentProblem(
                    f"Sandbox runtime {requested!r} is not installed in the Docker engine "
                    f"(available: {', '.join(sorted(available)) or 'none'}): refusing to run "
                    "with weaker isolation"
                )
            return requested
        if "runsc" in available:
            return "runsc"
        return str(info.get("DefaultRuntime") or "runc")

    # -- SandboxBackend protocol

    @property
    def spec(self) -> SandboxSpec:
        return self._spec

    @property
    def image_digest(self) -> str:
        return self._digest

    def isolation(self) -> str:
        parts = [
            self._runtime,
            "seccomp default",
            "cap_drop ALL",
            "no-new-privileges",
            "read-only root",
            "network none",
            f"uid {SANDBOX_UID}",
        ]
        userns = any("userns" in option for option in self._security)
        if userns:
            parts.append("userns-remap")
        missing = []
        if self._runtime != "runsc":
            missing.append("no gVisor")
        if not userns:
            missing.append("no userns-remap")
        sentence = " + ".join(parts)
        return f"{sentence} ({', '.join(missing)})" if missing else sentence

    def acquire(self, run_id: str) -> DockerSandbox:
        if self._closed:
            raise SandboxError("The sandbox backend is closed")
        box = self._from_pool(run_id)
        if box is None:
            box = self._start(run_id)
        with self._lock:
            self._live[box.id] = box
        return box

    def release(self, sandbox: Any) -> None:
        with self._lock:
            self._live.pop(sandbox.id, None)
        sandbox.close()

    def prune(self, all: bool = False) -> int:
        """Remove boxes whose owning process is gone (or every labelled box with all=True)."""
        removed = 0
        containers = self._client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        for container in containers:
            labels = container.get("Labels") or {}
            if not all and owner_alive(labels.get(LABEL_OWNER, "")):
                continue
            with contextlib.suppress(Exception):
                self._client.api.remove_container(container["Id"], force=True, v=True)
                removed += 1
        return removed

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            boxes = list(self._live.values())
            self._live.clear()
        for box in boxes:
            box.close()

    def wait_for_pool(self, timeout_s: float = 60.0) -> bool:
        """Block until the warm pool is full (benchmarks and tests)."""
        return self._pool.wait_full(timeout_s) if self._pool is not None else True

    def __enter__(self) -> DockerBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- starting boxes

    def _from_pool(self, run_id: str) -> DockerSandbox | None:
        if self._pool is None:
            return None
        while (box := self._pool.take()) is not None:
            try:
                box.ping(timeout_s=2.0)
            except ExecutorCrashed:
                continue  # already discarded; try the next one
            box.run_id = run_id
            return box
        return None

    def container_options(self, run_id: str) -> dict[str, Any]:
        """The create-container arguments: every hardening flag in one place."""
        docker = _docker()
        limits = self._spec.limits
        memory = limits.memory_mb * 1024 * 1024
        file_size = limits.file_size_mb * 1024 * 1024
        host_config = self._client.api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={
                "/workspace": (
                    f"rw,exec,nosuid,nodev,size={limits.workspace_mb}m,"
                    f"uid={SANDBOX_UID},gid={SANDBOX_GID},mode=0755"
                ),
                "/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmp_mb}m,mode=1777",
            },
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
                docker.types.Ulimit(name="fsize", soft=file_size, hard=file_size),
            ],
            init=False,  # the executor is PID 1: undumpable, so /proc/1/fd is out of reach
            ipc_mode="private",
            shm_size=8 * 1024 * 1024,
            log_config=docker.types.LogConfig(type="none"),
            runtime=self._runtime,
            privileged=False,
        )
        labels = {
            **self._extra_labels,
            LABEL: "1",
            LABEL_RUN: run_id,
            LABEL_OWNER: str(os.getpid()),
        }
        return {
            "image": self._spec.image,
            "user": f"{SANDBOX_UID}:{SANDBOX_GID}",
            "working_dir": "/workspace",
            "environment": dict(self._spec.env),
            "labels": labels,
            "stdin_open": True,
            "tty": False,
            "hostname": "sandbox",
            "network_disabled": True,
            "host_config": host_config,
        }

    def _start(self, run_id: str) -> DockerSandbox:
        docker = _docker()
        api = self._client.api
        try:
            created = api.create_container(**self.container_options(run_id))
        except docker.errors.DockerException as exc:
            raise SandboxError(f"Cannot create a sandbox container: {exc}") from exc
        container_id = str(created["Id"])
        channel: _Channel | None = None
        try:
            sock = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            channel = _Channel(sock)
            api.start(container_id)
            box = DockerSandbox(
                self._client,
                container_id,
                channel,
                digest=self._digest,
                limits=self._spec.limits,
                run_id=run_id,
            )
            box.ping(timeout_s=START_TIMEOUT_S)
        except ExecutorCrashed:
            raise
        except Exception as exc:
            if channel is not None:
                channel.close()
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True, v=True)
            raise SandboxError(f"Cannot start sandbox {container_id[:12]}: {exc}") from exc
        return box


__all__ = ["DockerBackend", "DockerSandbox", "connect", "owner_alive"]
