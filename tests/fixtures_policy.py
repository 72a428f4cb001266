"""Policy fixtures, a plain module registered as a pytest plugin (`-p tests.fixtures_policy`).

`opa_engine` starts a managed OPA server (a real `opa run --server` on a free 127.0.0.1
port) over the repo's `rego/` once per session. Without an OPA binary the OPA tests skip,
except under `CI=true`, where they fail with the fix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.errors import OpaUnavailable
from runtime.policy.bundle import find_opa
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine

REPO_ROOT = Path(__file__).resolve().parents[1]
# rego/ is the shipped policy library, not a project: tests of the library itself read it.
POLICY_DIR = REPO_ROOT / "rego"


def require_opa() -> Path:
    """The OPA binary, or skip (fail under CI=true) with the fix."""
    try:
        return find_opa()
    except OpaUnavailable as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def policy_dir() -> Path:
    """The built-in policies (rego/ of this repo)."""
    return POLICY_DIR


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of the built-in policies, for reload tests."""
    target = tmp_path / "rego"
    shutil.copytree(POLICY_DIR, target)
    return target


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    return require_opa()


@pytest.fixture(scope="session")
def opa_engine(opa_binary: Path, policy_dir: Path) -> Iterator[OpaServerEngine]:
    """A managed OPA server over rego/, shared by the session; stopped at the end."""
    engine = OpaServerEngine(policy_dir, opa_binary=opa_binary)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def embedded_engine(policy_dir: Path) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(policy_dir)
    try:
        yield engine
    finally:
        engine.close()
