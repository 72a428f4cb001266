"""The sandbox seam: what the pipeline may ask of a box, and nothing more."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import Field

from runtime.models import ExecResult, FileEntry, Frozen


class SandboxLimits(Frozen):
    """Resource caps for one box. Overrides may only make them stricter."""

    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    nofile: int = 256
    file_size_mb: int = 64
    workspace_mb: int = 128
    tmp_mb: int = 64
    call_timeout_s: float = 30.0
    output_bytes: int = 64 * 1024


class SandboxSpec(Frozen):
    """How to start a box: the image and the limits; everything else is fixed hardening."""

    image: str
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    env: dict[str, str] = Field(default_factory=dict)
    runtime: str | None = None  # e.g. "runsc" when gVisor is installed


class CommitCaps(Frozen):
    max_files: int = 1000
    max_bytes: int = 64 * 1024 * 1024


@runtime_checkable
class Sandbox(Protocol):
    """One started box with a live executor. Never shared between runs."""

    @property
    def id(self) -> str: ...

    @property
    def image_digest(self) -> str: ...

    def run_python(self, code: str, timeout_s: float | None = None) -> ExecResult: ...

    def run_command(self, argv: list[str], timeout_s: float | None = None) -> ExecResult: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def snapshot(self) -> dict[str, FileEntry]: ...

    def close(self) -> None: ...


@runtime_checkable
class SandboxBackend(Protocol):
    """Hands out boxes for runs and reaps what it started."""

    def acquire(self, run_id: str) -> Sandbox: ...

    def release(self, sandbox: Sandbox) -> None: ...

    def prune(self) -> int: ...

    def isolation(self) -> str: ...

    def close(self) -> None: ...


__all__ = ["CommitCaps", "Sandbox", "SandboxBackend", "SandboxLimits", "SandboxSpec"]
