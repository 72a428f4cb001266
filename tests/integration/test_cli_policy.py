"""`runtime policy eval|test|check` against the real OPA binary and the embedded engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli_errors import run_cli

pytestmark = [pytest.mark.opa]

PLANNER_RUNS_CODE = {
    "subject": {"agent": "planner", "team": "analyst", "tenant": "acme"},
    "action": {"tool": "python.run", "effect": "exec", "args": {"code": "print(1)"}},
    "context": {"run_id": "r", "step": 1, "task": "t"},
}


@pytest.mark.parametrize("engine", ["opa", "embedded"])
def test_policy_eval_explains_a_denial(project: Path, opa_path: Path, tmp_path: Path, engine: str) -> None:
    doc = tmp_path / "input.json"
    doc.write_text(json.dumps(PLANNER_RUNS_CODE))
    done = run_cli(project, "policy", "eval", "--input", str(doc), "--engine", engine, "--json",
                   env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert done.returncode == 3, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["outcome"], decision["reasons"]) == (
        "deny", ["tool python.run is not granted to agent planner"],
    )
    assert decision["engine"] == {"opa": "opa-server", "embedded": "embedded-regopy"}[engine]


def test_policy_eval_rejects_a_schema_invalid_input(project: Path, opa_path: Path, tmp_path: Path) -> None:
    doc = tmp_path / "input.json"
    doc.write_text(json.dumps({"subject": {"agent": "planner"}}))
    done = run_cli(project, "policy", "eval", "--input", str(doc), "--json",
                   env={"RUNTIME_OPA_BINARY": str(opa_path)})
    assert done.returncode == 3
    decision = json.loads(done.stdout)
    assert decision["outcome"] == "deny"
    assert decision["reasons"][0].startswith("deny (fail closed:")


def test_policy_test_and_check_pass_on_the_builtin_policies(project: Path, opa_path: Path) -> None:
    env = {"PATH": f"{opa_path.parent}:{__import__('os').environ['PATH']}"}
    tested = run_cli(project, "policy", "test", env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    checked = run_cli(project, "policy", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("policies compile; bundle sha256:")


def test_policy_test_fails_on_a_failing_rego_test(project: Path, opa_path: Path) -> None:
    (project / "rego" / "extra_test.rego").write_text(
        "package runtime.extra_test\n\ntest_always_fails if {\n\tfalse\n}\n"
    )
    done = run_cli(project, "policy", "test", env={"PATH": f"{opa_path.parent}:{__import__('os').environ['PATH']}"})
    assert done.returncode != 0
    assert "test_always_fails" in done.stdout + done.stderr
