"""Shared fixtures. Integration tests use the real Docker engine, OPA binary and Chroma;
when one is missing they skip locally but FAIL under CI=true, naming the fix."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import make_project

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")  # checkpoints load registered types only

pytest_plugins = [
    name
    for name in ("tests.fixtures_policy", "tests.fixtures_sandbox")
    if importlib.util.find_spec(name) is not None
]


def missing(component: str, fix: str) -> None:
    """Skip locally, fail in CI: a missing engine must never pass silently there."""
    message = f"{component} is not available: {fix}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_engine() -> object:
    from runtime.errors import AgentRuntimeError

    try:
        from runtime.sandbox.docker import connect

        return connect()
    except AgentRuntimeError as exc:
        missing("the Docker engine", f"{exc} (bash scripts/setup.sh)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def sandbox_image(docker_engine: object) -> str:
    from runtime.sandbox.image import image_present, image_tag

    tag = image_tag()
    if not image_present(docker_engine, tag):
        missing(f"the sandbox image {tag}", "runtime sandbox build")
    return tag


@pytest.fixture(scope="session")
def opa_path() -> Path:
    from runtime.errors import AgentRuntimeError
    from runtime.policy.bundle import find_opa

    try:
        return find_opa()
    except AgentRuntimeError as exc:
        missing("OPA", str(exc))
    raise AssertionError("unreachable")


def _labelled_containers(client: object) -> set[str]:
    """Boxes this test process (or a child that has exited) owns; other live runtimes'
    boxes on the same engine are not this test's leftovers."""
    mine = set()
    for c in client.api.containers(all=True, filters={"label": "agent-runtime=1"}):  # type: ignore[attr-defined]
        owner = (c.get("Labels") or {}).get("agent-runtime.owner-pid", "")
        if owner == str(os.getpid()) or not _alive(owner):
            mine.add(c["Id"])
    return mine


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def no_leftover_containers(docker_engine: object) -> Iterator[None]:
    """Asserts the test left no sandbox container behind."""
    before = _labelled_containers(docker_engine)
    yield
    left = _labelled_containers(docker_engine) - before
    assert not left, f"containers left behind: {sorted(c[:12] for c in left)}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway project built from tests/fixtures/project (the tests' own teams and
    grants on the built-in policy library), editable per test. Never the repo's agents/ or
    rego/ data: a user adding a team there must not break the suite."""
    return make_project(tmp_path / "project")
