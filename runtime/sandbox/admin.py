"""Administration over the Docker backend: build, list, prune, and one-off runs.

These back `runtime sandbox build|ls|prune|run` and `runtime doctor`; the pipeline never
uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.models import ExecResult
from runtime.sandbox.base import SandboxLimits, SandboxSpec
from runtime.sandbox.docker import LABEL, LABEL_OWNER, LABEL_RUN, DockerBackend, connect
from runtime.sandbox.image import ensure_image, image_digest, image_tag


def docker_client() -> Any:
    return connect()


def isolation_summary() -> str:
    backend = DockerBackend(spec=SandboxSpec(image=image_tag()))
    try:
        return backend.isolation()
    finally:
        backend.close()


def build_image_cli(*, dockerfile: bool, say: Callable[[str], None]) -> int:
    client = connect()
    tag = ensure_image(client, say, use_dockerfile=dockerfile)
    print(f"{tag} {image_digest(client, tag)}")
    return 0


def list_sandboxes() -> list[dict[str, str]]:
    client = connect()
    rows = []
    for container in client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        labels = container.get("Labels") or {}
        rows.append(
            {
                "id": container["Id"][:12],
                "run": labels.get(LABEL_RUN, ""),
                "status": container.get("Status", ""),
                "owner_pid": labels.get(LABEL_OWNER, ""),
                "image": container.get("Image", ""),
            }
        )
    return rows


def prune_sandboxes(*, everything: bool) -> int:
    backend = DockerBackend(spec=SandboxSpec(image=image_tag()))
    try:
        return backend.prune(all=everything)
    finally:
        backend.close()


def run_once(argv: list[str], *, timeout_s: float) -> ExecResult:
    """Run one command in a throwaway box with the default settings (no host env).

    A command killed at the timeout gets a last stderr line saying so (its exit code, 137,
    alone does not tell the user why)."""
    spec = SandboxSpec(image=image_tag(), limits=SandboxLimits(call_timeout_s=timeout_s))
    backend = DockerBackend(spec=spec)
    try:
        box = backend.acquire("sandbox-run")
        try:
            result = box.run_command(argv, timeout_s=timeout_s)
        finally:
            backend.release(box)
    finally:
        backend.close()
    if result.timed_out:
        note = f"runtime: the command timed out after {timeout_s:g} s and was killed\n"
        result = result.model_copy(update={"stderr": result.stderr + note})
    return result
