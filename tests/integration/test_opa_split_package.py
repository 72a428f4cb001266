"""A package split across files whose rules use each other's: the managed OPA server
loads the bundle in one compile at start-up (and on reload), so it decides like embedded."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine

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
