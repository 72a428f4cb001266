"""The built-in policies through the embedded (regopy) engine: no OPA binary needed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import PolicyCompileError, PolicyUnavailable
from runtime.models import Decision
from runtime.policy.authorizer import Authorizer
from runtime.policy.bundle import load_bundle
from runtime.policy.embedded import EmbeddedEngine

# rego/ is the shipped policy library, not a project: tests of the library itself read it.
POLICY_DIR = Path(__file__).parents[2] / "rego"
VERSION = load_bundle(POLICY_DIR).version


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    return Authorizer(EmbeddedEngine(POLICY_DIR))


def call(
    agent: str, tool: str, effect: str, args: dict[str, Any], team: str = "analyst"
) -> dict[str, Any]:
    return {
        "subject": {"agent": agent, "team": team, "tenant": "acme"},
        "action": {"tool": tool, "effect": effect, "args": args},
        "context": {"run_id": "r1", "step": 1, "task": "t"},
    }


def decision(allow: bool, reasons: list[str], **extra: Any) -> Decision:
    return Decision(
        allow=allow, reasons=reasons, policy_version=VERSION, engine="embedded-regopy", **extra
    )


def test_analyst_coder_may_write_a_report(authorizer: Authorizer) -> None:
    inp = call("coder", "fs.write", "write", {"path": "out/report.md", "content": "# Top 5"})
    assert authorizer.authorize(inp) == decision(True, ["tool fs.write is granted to agent coder"])


def test_rogue_planner_may_not_run_python(authorizer: Authorizer) -> None:
    inp = call("planner", "python.run", "exec", {"code": "import os"}, team="rogue")
    assert authorizer.authorize(inp) == decision(
        False,
        ["tool python.run is not granted to agent planner"],
        alternatives=[
            "use a tool granted to agent planner instead: "
            "fs.list, fs.read, memory.put, memory.search"
        ],
    )


def test_path_escape_is_denied_with_every_reason(authorizer: Authorizer) -> None:
    inp = call("coder", "fs.write", "write", {"path": "/etc/../passwd", "content": "x"})
    assert authorizer.authorize(inp) == decision(
        False,
        [
            "path /etc/../passwd must be relative to the workspace",
            "path /etc/../passwd must not contain '..'",
        ],
        alternatives=[
            "use a relative path inside the workspace, without '..', "
            "that matches an allowed glob: *, **/*"
        ],
    )


def test_untrusted_write_waits_for_a_human(authorizer: Authorizer) -> None:
    inp = call("coder", "fs.write", "write", {"path": "out/a.md", "content": "x"})
    inp["provenance"] = {"args": {"path": "trusted", "content": "untrusted"}}
    assert authorizer.authorize(inp) == decision(
        False,
        ["a write call with untrusted arguments (content) needs human approval"],
        require_approval=True,
    )


def test_own_memory_namespace_is_allowed(authorizer: Authorizer) -> None:
    access = {
        "subject": {"agent": "planner", "team": "analyst", "tenant": "acme"},
        "operation": "write",
        "namespace": "acme/planner",
        "run_id": "r1",
    }
    assert authorizer.authorize_memory(access) == decision(
        True, ["namespace acme/planner belongs to agent planner"]
    )


def test_private_key_in_a_change_set_is_blocked(authorizer: Authorizer) -> None:
    verdict = authorizer.safety_verdict(
        {
            "findings": [
                {
                    "type": "private_key",
                    "detector": "secrets",
                    "severity": "critical",
                    "location": "out/k",
                }
            ],
            "action": {"kind": "changeset", "tool": "fs.write", "trust": "trusted"},
        }
    )
    assert verdict == {
        "verdict": "block",
        "reasons": ["a private_key was found in out/k"],
        "alternatives": [
            "refer to the secret by name (an environment variable or a secret store entry), "
            "never by its value"
        ],
    }


def test_unknown_entrypoint_is_undefined_not_an_error() -> None:
    engine = EmbeddedEngine(POLICY_DIR)
    assert engine.evaluate("runtime/authz/no_such_rule", {}).result is None


def test_broken_policy_is_refused_and_the_old_one_stays(tmp_path: Path) -> None:
    policies = tmp_path / "rego"
    shutil.copytree(POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    engine = EmbeddedEngine(policies)
    (policies / "runtime/authz/authz.rego").write_text("package runtime.authz\n\ndecision := {\n")
    with pytest.raises(PolicyCompileError):
        engine.reload()
    assert engine.policy_version == VERSION
    result = engine.evaluate(
        "runtime/authz/decision", call("coder", "fs.read", "read", {"path": "a"})
    )
    assert result.result["allow"] is True


def test_a_broken_module_is_one_line_naming_file_and_row_and_nothing_on_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "rego"
    (policies / "lib").mkdir(parents=True)
    (policies / "lib" / "ok.rego").write_text("package lib\n\nanswer := 42\n")
    (policies / "lib" / "broken.rego").write_text("package lib.broken\n\n# a comment\nrule := {\n")
    with pytest.raises(PolicyCompileError) as caught:
        EmbeddedEngine(policies)
    assert str(caught.value) == (
        f"regopy could not compile {policies}: lib/broken.rego:4: this is unclosed"
    )
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_reload_swaps_in_the_new_policy(tmp_path: Path) -> None:
    policies = tmp_path / "rego"
    shutil.copytree(POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    engine = EmbeddedEngine(policies)
    data = json.loads((policies / "data.json").read_text())
    data["runtime_data"]["authz"]["grants"]["agents"]["planner"]["tools"].remove("fs.read")
    (policies / "data.json").write_text(json.dumps(data))
    new_version = engine.reload()
    assert new_version != VERSION
    result = engine.evaluate(
        "runtime/authz/decision", call("planner", "fs.read", "read", {"path": "a"})
    )
    assert result.result["reasons"] == ["tool fs.read is not granted to agent planner"]


def test_closed_engine_fails_closed() -> None:
    engine = EmbeddedEngine(POLICY_DIR)
    engine.close()
    with pytest.raises(PolicyUnavailable):
        engine.evaluate("runtime/authz/decision", {})
