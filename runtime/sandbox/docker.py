"""The Docker sandbox: hardened containers with a live executor, handed out one per run.

Owns: connecting to the engine (and mapping its errors), the container hardening, starting
a box and attaching its executor channel (the box itself is `runtime.sandbox.box`), the
warm pool wiring and reaping orphaned containers. This is the only module that imports
`docker`. It never decides policy: it runs what it is told.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from runtime.errors import (
    DockerUnavailable,
    EnvironmentProblem,
    ExecutorCrashed,
    SandboxError,
    SandboxImageMissing,
)
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.box import Channel, DockerSandbox
from runtime.sandbox.image import SANDBOX_GID, SANDBOX_UID, image_digest, image_tag
from runtime.sandbox.pool import WarmPool

LABEL = "agent-runtime"
LABEL_RUN = "agent-runtime.run"
LABEL_OWNER = "agent-runtime.owner-pid"
POOL_RUN_ID = "pool"
START_TIMEOUT_S = 30.0
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
        channel: Channel | None = None
        try:
            sock = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            channel = Channel(sock)
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
