"""Hostile suite fixtures: one pooled backend per module, a fresh-box check after each attack."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.sandbox.docker import DockerBackend, DockerSandbox
from tests.fixtures_sandbox import make_backend, our_containers

# Set before any box starts: it must never show up inside one.
HOST_CANARY_NAME = f"AGENT_RUNTIME_CANARY_{uuid.uuid4().hex[:12].upper()}"
HOST_CANARY_VALUE = uuid.uuid4().hex
os.environ[HOST_CANARY_NAME] = HOST_CANARY_VALUE


@pytest.fixture(scope="module")
def hostile_backend(docker_client: Any, sandbox_image: str) -> Iterator[DockerBackend]:
    before = our_containers(docker_client)
    backend = make_backend(docker_client, sandbox_image, pool_size=1)
    try:
        yield backend
    finally:
        backend.close()
        leftover = our_containers(docker_client) - before
        for container_id in leftover:
            docker_client.api.remove_container(container_id, force=True)
        assert leftover == set(), f"containers left behind: {sorted(c[:12] for c in leftover)}"


@pytest.fixture
def box(hostile_backend: DockerBackend, docker_client: Any) -> Iterator[DockerSandbox]:
    """A box to attack. Afterwards: it is gone, and a fresh box works normally."""
    target = hostile_backend.acquire(f"hostile-{uuid.uuid4().hex[:8]}")
    try:
        yield target
    finally:
        hostile_backend.release(target)
    assert target.id not in our_containers(docker_client)
    fresh = hostile_backend.acquire("hostile-fresh")
    try:
        result = fresh.run_python("print(sum(range(10)))", timeout_s=10)
        assert (result.stdout, result.exit_code) == ("45\n", 0)
    finally:
        hostile_backend.release(fresh)
