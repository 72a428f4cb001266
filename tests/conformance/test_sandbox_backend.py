"""The SandboxBackend / Sandbox contract, run against every backend (add to BACKEND_FACTORIES).

What every backend promises: it hands out boxes that satisfy the Sandbox protocol and have
answered a health check; each run gets its own box, and files never leak between boxes;
code runs with the workspace as its working directory; timeouts and output caps are
reported, not raised; paths that leave the workspace are refused; release is idempotent
and a released box cannot be used; prune and isolation always answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.errors import SandboxError
from runtime.sandbox.base import Sandbox, SandboxBackend
from tests.fixtures_sandbox import make_backend

pytestmark = pytest.mark.docker

BackendFactory = Callable[[pytest.FixtureRequest], SandboxBackend]


def docker_factory(request: pytest.FixtureRequest) -> SandboxBackend:
    client: Any = request.getfixturevalue("docker_client")
    image: str = request.getfixturevalue("sandbox_image")
    request.getfixturevalue("no_container_left_behind")
    return make_backend(client, image)


BACKEND_FACTORIES: dict[str, BackendFactory] = {"docker": docker_factory}


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def sandbox_backend(request: pytest.FixtureRequest) -> Iterator[SandboxBackend]:
    backend = BACKEND_FACTORIES[request.param](request)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def box(sandbox_backend: SandboxBackend) -> Iterator[Sandbox]:
    sandbox = sandbox_backend.acquire("conformance-run")
    try:
        yield sandbox
    finally:
        sandbox_backend.release(sandbox)


def test_backend_implements_the_protocol(sandbox_backend: SandboxBackend) -> None:
    assert isinstance(sandbox_backend, SandboxBackend)


def test_acquired_box_implements_the_protocol(box: Sandbox) -> None:
    assert isinstance(box, Sandbox)
    assert box.id
    assert box.image_digest


def test_python_runs_in_the_workspace(box: Sandbox) -> None:
    result = box.run_python("import os; print(os.getcwd())")
    assert (result.stdout, result.exit_code, result.timed_out) == ("/workspace\n", 0, False)


def test_command_exit_code_is_reported(box: Sandbox) -> None:
    result = box.run_command(["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 4)


def test_files_written_are_read_back_and_snapshotted(box: Sandbox) -> None:
    box.write_file("notes/a.txt", b"alpha")
    assert box.read_file("notes/a.txt") == b"alpha"
    entry = box.snapshot()["notes/a.txt"]
    assert (entry.kind, entry.size, entry.nlink) == ("file", 5, 1)


def test_files_made_by_code_appear_in_the_snapshot(box: Sandbox) -> None:
    box.run_python("open('made.txt', 'w').write('by code')")
    assert box.snapshot()["made.txt"].size == 7


def test_paths_outside_the_workspace_are_refused(box: Sandbox) -> None:
    for path in ("../etc/passwd", "/etc/passwd"):
        with pytest.raises(SandboxError):
            box.read_file(path)
        with pytest.raises(SandboxError):
            box.write_file(path, b"x")


def test_timeout_is_reported_not_raised(box: Sandbox) -> None:
    result = box.run_python("import time; time.sleep(30)", timeout_s=0.5)
    assert result.timed_out is True
    assert box.run_python("print('after')").stdout == "after\n"


def test_output_cap_is_reported(box: Sandbox) -> None:
    result = box.run_python("print('q' * 1_000_000)")
    assert result.stdout_truncated is True
    assert len(result.stdout) < 1_000_000


def test_each_run_gets_its_own_box(sandbox_backend: SandboxBackend) -> None:
    first = sandbox_backend.acquire("run-one")
    second = sandbox_backend.acquire("run-two")
    try:
        assert first.id != second.id
        first.write_file("secret.txt", b"run one only")
        assert "secret.txt" not in second.snapshot()
    finally:
        sandbox_backend.release(first)
        sandbox_backend.release(second)


def test_released_box_cannot_be_used_and_release_is_idempotent(
    sandbox_backend: SandboxBackend,
) -> None:
    sandbox = sandbox_backend.acquire("run-released")
    sandbox_backend.release(sandbox)
    sandbox_backend.release(sandbox)
    with pytest.raises(SandboxError):
        sandbox.run_command(["true"])


def test_prune_and_isolation_answer(sandbox_backend: SandboxBackend) -> None:
    assert sandbox_backend.prune() >= 0
    assert sandbox_backend.isolation()
