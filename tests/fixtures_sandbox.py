"""Fixtures for tests that need the real Docker engine and the sandbox image.

A plain module: sandbox test modules star-import it (`from tests.fixtures_sandbox import *`),
and it can also be registered as a pytest plugin. When the engine is unreachable the tests
skip, except under `CI=true`, where they fail with the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from runtime.errors import DockerUnavailable
from runtime.models import ChangeSet
from runtime.sandbox.base import CommitCaps, SandboxLimits, SandboxSpec
from runtime.sandbox.changeset import apply, collect
from runtime.sandbox.docker import LABEL, LABEL_OWNER, DockerBackend, connect
from runtime.sandbox.image import ensure_image

# Small limits keep the hostile suite fast on 2 cores.
TEST_LIMITS = SandboxLimits(
    memory_mb=128,
    cpus=1.0,
    pids=64,
    nofile=128,
    file_size_mb=8,
    workspace_mb=16,
    tmp_mb=8,
    call_timeout_s=10.0,
    output_bytes=4096,
)


def _unreachable(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("Docker engine not reachable: run scripts/setup.sh")
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        return connect()
    except DockerUnavailable as exc:
        _unreachable(str(exc))


@pytest.fixture(scope="session")
def sandbox_image(docker_client: Any) -> str:
    """The sandbox image tag, built (offline recipe, cached base) when missing."""
    return ensure_image(docker_client)


def our_containers(client: Any) -> set[str]:
    """Ids of agent-runtime containers started by this test process."""
    filters = {"label": [f"{LABEL}=1", f"{LABEL_OWNER}={os.getpid()}"]}
    return {c["Id"] for c in client.api.containers(all=True, filters=filters)}


@pytest.fixture
def no_container_left_behind(docker_client: Any) -> Iterator[None]:
    """Fails the test if it leaves an agent-runtime container behind."""
    before = our_containers(docker_client)
    yield
    leftover = our_containers(docker_client) - before
    for container_id in leftover:  # clean up, then fail loudly
        docker_client.api.remove_container(container_id, force=True)
    assert leftover == set(), f"containers left behind: {sorted(c[:12] for c in leftover)}"


def commit_from_box(box: Any, changes: ChangeSet, out: Path, caps: CommitCaps) -> list[str]:
    """Read a change set out of a box and write it to `out`, as the pipeline does (it runs
    the safety check between the two halves)."""
    return apply(changes, collect(box, changes, caps), out, caps)


def make_backend(
    client: Any, image: str, *, pool_size: int = 0, limits: SandboxLimits = TEST_LIMITS
) -> DockerBackend:
    return DockerBackend(client, SandboxSpec(image=image, limits=limits), pool_size=pool_size)


@pytest.fixture
def backend(
    docker_client: Any, sandbox_image: str, no_container_left_behind: None
) -> Iterator[DockerBackend]:
    with make_backend(docker_client, sandbox_image) as sandbox_backend:
        yield sandbox_backend


__all__ = [
    "TEST_LIMITS",
    "backend",
    "docker_client",
    "make_backend",
    "no_container_left_behind",
    "our_containers",
    "sandbox_image",
]
