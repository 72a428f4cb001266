"""A package split across files whose rules use each other's: the managed OPA server
loads the bundle in one compile at start-up (and on reload), so it decides like embedded.
A remote server gets the modules one PUT at a time, once each in path order (no retry
loop): the built-in layout goes in, a cycle between files of one package is refused."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runtime.errors import PolicyCompileError
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine, free_loopback_port

pytestmark = pytest.mark.opa

MAIN = """package runtime.authz

decision := {"allow": allow, "require_approval": false, "reasons": reasons, "obligations": {}}

default allow := false

allow if count(reasons) == 0

helper_prefix := "denied: "
"""

REASONS = """package runtime.authz

reasons contains sprintf("%s%s", [helper_prefix, input.action.tool]) if input.action.tool == "python.run"
"""


def test_mutually_dependent_files_load_on_both_engines(tmp_path: Path, opa_path: Path) -> None:
    policy = tmp_path / "rego"
    policy.mkdir()
    (policy / "a_main.rego").write_text(MAIN)
    (policy / "b_reasons.rego").write_text(REASONS)
    denied = {"action": {"tool": "python.run"}}
    allowed = {"action": {"tool": "fs.read"}}
    opa = OpaServerEngine(policy, opa_binary=opa_path)
    embedded = EmbeddedEngine(policy)
    try:
        for engine in (opa, embedded):
            assert engine.evaluate("runtime/authz/decision", denied).result == {
                "allow": False,
                "require_approval": False,
                "reasons": ["denied: python.run"],
                "obligations": {},
            }
            assert engine.evaluate("runtime/authz/decision", allowed).result["allow"] is True
        (policy / "b_reasons.rego").write_text(REASONS.replace('"python.run"', '"fs.read"'))
        version = opa.reload()
        assert version == embedded.reload()
        assert opa.evaluate("runtime/authz/decision", allowed).result["reasons"] == [
            "denied: fs.read"
        ]
    finally:
        opa.close()
        embedded.close()


@pytest.fixture
def plain_server(opa_path: Path) -> Iterator[str]:
    """A bare `opa run --server` with nothing loaded (what a remote server looks like)."""
    port = free_loopback_port()
    process = subprocess.Popen(
        [str(opa_path), "run", "--server", "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_remote_push_of_the_built_in_policy_takes_one_pass(
    plain_server: str, policy_dir: Path, opa_engine: OpaServerEngine
) -> None:
    """Modules go in once each, in path order: the built-in layout (one package per folder,
    other packages named through `data.`) needs no retry."""
    remote = OpaServerEngine(policy_dir, url=plain_server)
    denied = {
        "schema_version": "1",
        "subject": {"agent": "planner", "team": "analyst", "roles": [], "tenant": "acme"},
        "action": {"tool": "python.run", "effect": "exec", "args": {"code": "1"}},
        "provenance": {"args": {}, "untrusted_sources_seen": []},
        "context": {"run_id": "r", "step": 1, "task": "t", "calls_so_far": {}},
        "risk": {"score": 0.0},
    }
    try:
        assert remote.policy_version == opa_engine.policy_version
        assert (
            remote.evaluate("runtime/authz/decision", denied).result
            == opa_engine.evaluate("runtime/authz/decision", denied).result
        )
    finally:
        remote.close()


def test_remote_push_of_mutually_dependent_files_names_the_module(
    plain_server: str, tmp_path: Path
) -> None:
    policy = tmp_path / "rego"
    policy.mkdir()
    (policy / "a_main.rego").write_text(MAIN)
    (policy / "b_reasons.rego").write_text(REASONS)
    with pytest.raises(PolicyCompileError, match=r"^OPA refused a_main.rego: .*reasons"):
        OpaServerEngine(policy, url=plain_server)
