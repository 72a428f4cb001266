"""`runtime policy eval|test|check` against the real OPA binary and the embedded engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli_errors import run_cli

pytestmark = [pytest.mark.opa]

PLANNER_RUNS_CODE = {
    "subject": {"agent": "planner", "team": "analyst", "tenant": "acme"},
    "action": {"tool": "python.run", "effect": "exec", "args": {"code": "print(1)"}},
    "context": {"run_id": "r", "step": 1, "task": "t"},
}


ENGINES = {"opa": "opa-server", "embedded": "embedded-regopy"}

RESEARCHER_FETCHES_UNTRUSTED = {
    "subject": {"agent": "researcher", "team": "analyst", "tenant": "acme"},
    "action": {"tool": "http.get", "effect": "external", "args": {"url": "https://example.org"}},
    "provenance": {"args": {"url": "untrusted"}},
    "context": {"run_id": "r", "step": 1, "task": "t"},
    "risk": {"score": 0.9},
}

USER_AUTHZ = """\
# METADATA
# title: A user's policy
# entrypoint: true
package runtime.authz

default decision := {"allow": false, "require_approval": false, "reasons": ["nothing matched"], "obligations": {}}

decision := {"allow": false, "require_approval": false, "reasons": sort(violations), "obligations": {}} if {
\tcount(violations) > 0
} else := {"allow": false, "require_approval": true, "reasons": ["a human must look"], "obligations": {}} if {
\tinput.risk.score > 0.5
} else := {"allow": true, "require_approval": false, "reasons": ["fine"], "obligations": {}}

violations contains "no shell, ever" if input.action.tool == "shell.exec"

violations contains sprintf("agent %s is suspended", [input.subject.agent]) if {
\tinput.subject.agent in data.users.suspended
}
"""


def row(project: Path, module: str, fragment: str, occurrence: int | None = None) -> str:
    """`module:row` of the line of `project/rego/module` that starts with `fragment` (the
    only one, or the given occurrence)."""
    lines = (project / "rego" / module).read_text().splitlines()
    rows = [number for number, line in enumerate(lines, 1) if line.startswith(fragment)]
    assert occurrence is not None or len(rows) == 1, (fragment, rows)
    return f"{module}:{rows[occurrence or 0]}"


def policy_eval(
    project: Path, opa_path: Path, tmp_path: Path, document: dict[str, Any], *args: str
) -> tuple[int, str]:
    doc = tmp_path / "input.json"
    doc.write_text(json.dumps(document))
    done = run_cli(
        project,
        "policy",
        "eval",
        "--input",
        str(doc),
        *args,
        env={"RUNTIME_OPA_BINARY": str(opa_path)},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


@pytest.mark.parametrize("engine", ["opa", "embedded"])
def test_policy_eval_explains_a_denial(
    project: Path, opa_path: Path, tmp_path: Path, engine: str
) -> None:
    code, stdout = policy_eval(
        project, opa_path, tmp_path, PLANNER_RUNS_CODE, "--engine", engine, "--json"
    )
    assert code == 3, stdout
    document = json.loads(stdout)
    assert list(document) == ["decision", "rules"]
    decision = document["decision"]
    assert (decision["outcome"], decision["reasons"]) == (
        "deny",
        ["tool python.run is not granted to agent planner"],
    )
    assert decision["engine"] == ENGINES[engine]
    entry = document["rules"][0]
    assert (entry["rule"], entry["location"], entry["value"]["reasons"]) == (
        "data.runtime.authz.decision",
        row(project, "runtime/authz/authz.rego", "decision := {"),
        decision["reasons"],
    )
    assert {
        "rule": "data.runtime.authz.deny",
        "location": row(
            project, "runtime/authz/authz.rego", 'deny contains sprintf("tool %s is not granted'
        ),
        "value": ["tool python.run is not granted to agent planner"],
    } in document["rules"]
    assert {rule["rule"] for rule in document["rules"][1:]} <= {
        "data.runtime.authz.deny",
        "data.runtime.authz.alternatives",
    }


@pytest.mark.parametrize("engine", ["opa", "embedded"])
def test_policy_eval_names_the_rules_behind_an_approval(
    project: Path, opa_path: Path, tmp_path: Path, engine: str
) -> None:
    code, stdout = policy_eval(
        project, opa_path, tmp_path, RESEARCHER_FETCHES_UNTRUSTED, "--engine", engine, "--json"
    )
    assert code == 3, stdout
    document = json.loads(stdout)
    assert document["decision"]["outcome"] == "require_approval"
    assert [(rule["rule"], rule["location"], rule["value"]) for rule in document["rules"][1:]] == [
        (
            "data.runtime.authz.approval",
            row(project, "runtime/authz/authz.rego", 'approval contains "the risk score'),
            ["the risk score of this call is at or above the approval threshold"],
        ),
        (
            "data.runtime.authz.approval",
            row(project, "runtime/authz/authz.rego", 'approval contains concat(" ", [untrusted'),
            ["a external call with untrusted arguments (url) needs human approval"],
        ),
    ]
    assert document["rules"][0]["location"] == row(
        project, "runtime/authz/authz.rego", "} else := {", 0
    )


@pytest.mark.parametrize("engine", ["opa", "embedded"])
def test_policy_eval_explains_a_users_own_policy(
    project: Path, opa_path: Path, tmp_path: Path, engine: str
) -> None:
    rego = project / "rego"
    shutil.rmtree(rego)
    rego.mkdir()
    (rego / "authz.rego").write_text(USER_AUTHZ)
    (rego / "data.json").write_text(json.dumps({"users": {"suspended": ["mallory"]}}))
    mallory_shells = {
        "subject": {"agent": "mallory", "team": "t", "tenant": "acme"},
        "action": {"tool": "shell.exec", "effect": "exec", "args": {}},
        "context": {"run_id": "r", "step": 1, "task": "t"},
    }
    code, stdout = policy_eval(project, opa_path, tmp_path, mallory_shells, "--engine", engine)
    assert code == 3
    version = json.loads(
        policy_eval(project, opa_path, tmp_path, mallory_shells, "--engine", engine, "--json")[1]
    )["decision"]["policy_version"]
    assert stdout.splitlines() == [
        f"deny ({ENGINES[engine]}, {version})",
        "  - agent mallory is suspended",
        "  - no shell, ever",
        "produced by:",
        "  data.runtime.authz.decision  authz.rego:8",
        '  data.runtime.authz.violations  authz.rego:14  ["no shell, ever"]',
        '  data.runtime.authz.violations  authz.rego:16  ["agent mallory is suspended"]',
    ]
    risky = {**mallory_shells, "subject": {"agent": "ann", "team": "t"}, "risk": {"score": 0.9}}
    risky["action"] = {"tool": "fs.read", "effect": "read", "args": {}}
    code, stdout = policy_eval(project, opa_path, tmp_path, risky, "--engine", engine, "--json")
    assert (code, json.loads(stdout)["rules"]) == (
        3,
        [
            {
                "rule": "data.runtime.authz.decision",
                "location": "authz.rego:10",
                "value": {
                    "allow": False,
                    "require_approval": True,
                    "reasons": ["a human must look"],
                    "obligations": {},
                },
            }
        ],
    )


@pytest.mark.parametrize("engine", ["opa", "embedded"])
def test_policy_eval_explains_memory_and_safety_entrypoints(
    project: Path, opa_path: Path, tmp_path: Path, engine: str
) -> None:
    access = {
        "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
        "operation": "write",
        "namespace": "acme/planner",
        "run_id": "r",
    }
    code, stdout = policy_eval(
        project, opa_path, tmp_path, access, "--engine", engine, "--entrypoint", "memory", "--json"
    )
    document = json.loads(stdout)
    assert (code, document["decision"]["reasons"], document["rules"][1:]) == (
        3,
        ["agent coder may not write memory namespace acme/planner"],
        [],
    )
    assert document["rules"][0]["location"] == row(
        project, "runtime/memory/memory.rego", "} else := {"
    )
    finding = {
        "findings": [
            {"type": "private_key", "detector": "secrets", "severity": "high", "location": "k"}
        ],
        "action": {"kind": "changeset", "tool": "fs.write", "trust": "trusted"},
    }
    code, stdout = policy_eval(
        project, opa_path, tmp_path, finding, "--engine", engine, "--entrypoint", "safety", "--json"
    )
    document = json.loads(stdout)
    assert (code, document["decision"]["verdict"]) == (3, "block")
    assert ("data.runtime.safety.block", ["a private_key was found in k"]) in [
        (rule["rule"], rule["value"]) for rule in document["rules"]
    ]


def test_policy_eval_rejects_a_schema_invalid_input(
    project: Path, opa_path: Path, tmp_path: Path
) -> None:
    code, stdout = policy_eval(
        project, opa_path, tmp_path, {"subject": {"agent": "planner"}}, "--json"
    )
    assert code == 3
    document = json.loads(stdout)
    assert document["decision"]["outcome"] == "deny"
    assert document["decision"]["reasons"] == [
        "deny (fail closed: input does not match the PolicyInput schema: subject.team: Field required)"
    ]
    assert document["rules"] == []


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
    done = run_cli(
        project,
        "policy",
        "test",
        env={"PATH": f"{opa_path.parent}:{__import__('os').environ['PATH']}"},
    )
    assert done.returncode != 0
    assert "test_always_fails" in done.stdout + done.stderr
