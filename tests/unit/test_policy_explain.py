"""`explain`: which rules produced a decision, on the embedded engine (no OPA binary needed).

The OPA server's explanations are checked against these same expectations in
tests/integration/test_cli_policy.py and tests/conformance/test_policy_explain.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.explain import (
    ExplainedDecision,
    ExplainingEngine,
    PolicySource,
    RuleHit,
    explain_decision,
)

POLICY_DIR = Path(__file__).parents[2] / "rego"

USER_AUTHZ = """\
# A user's own tool-call policy: not the built-in one.
package runtime.authz

import data.lib.limits

default decision := {"allow": false, "require_approval": false, "reasons": ["nothing matched"], "obligations": {}}

decision := {"allow": false, "require_approval": false, "reasons": sort(violations), "obligations": {}} if {
	count(violations) > 0
} else := {"allow": false, "require_approval": true, "reasons": ["a human must look"], "obligations": obligations} if {
	limits.needs_review
} else := {"allow": true, "require_approval": false, "reasons": ["fine"], "obligations": obligations} if {
	input.subject.agent == "alice"
}

agent := input.subject.agent

violations contains "no shell" if input.action.tool == "shell.exec"

violations contains msg if {
	some role in input.subject.roles
	role == "banned"
	msg := sprintf("role %s is banned for %s", [role, agent])
}

obligations[key] := value if {
	some key, value in data.lib.obligations[input.action.tool]
}

too_long(text) if count(text) > 10
"""

USER_LIMITS = """\
package lib.limits

needs_review if input.risk.score > 0.5

needs_review if input.action.effect == "external"
"""

USER_DATA = '{"lib": {"obligations": {"python.run": {"timeout_s": 5}}}}'


def row(policy_dir: Path, module: str, fragment: str) -> str:
    """`module:row` of the one line of `module` that starts with `fragment`."""
    lines = (policy_dir / module).read_text().splitlines()
    rows = [number for number, line in enumerate(lines, 1) if line.startswith(fragment)]
    assert len(rows) == 1, (fragment, rows)
    return f"{module}:{rows[0]}"


def call(
    agent: str = "bob",
    tool: str = "fs.read",
    effect: str = "read",
    roles: list[str] | None = None,
    score: float = 0.0,
    args: dict[str, Any] | None = None,
    provenance: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "subject": {"agent": agent, "team": "analyst", "roles": roles or [], "tenant": "acme"},
        "action": {"tool": tool, "effect": effect, "args": args or {}},
        "provenance": {"args": provenance or {}, "untrusted_sources_seen": []},
        "context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {}},
        "risk": {"score": score},
    }


@pytest.fixture(scope="module")
def user_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user") / "rego"
    (root / "lib").mkdir(parents=True)
    (root / "authz.rego").write_text(USER_AUTHZ)
    (root / "lib" / "limits.rego").write_text(USER_LIMITS)
    (root / "data.json").write_text(USER_DATA)
    return root


@pytest.fixture(scope="module")
def user_engine(user_policy: Path) -> EmbeddedEngine:
    return EmbeddedEngine(user_policy, entrypoints=["runtime/authz/decision"])


@pytest.fixture(scope="module")
def builtin_engine() -> EmbeddedEngine:
    return EmbeddedEngine(POLICY_DIR)


def rules_of(engine: EmbeddedEngine, inp: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """(rule, location, value) of every hit after the entrypoint's own."""
    explanation = engine.explain("runtime/authz/decision", inp)
    return [(hit.rule, hit.location, hit.value) for hit in explanation.rules[1:]]


def entry_location(engine: EmbeddedEngine, inp: dict[str, Any]) -> str | None:
    return engine.explain("runtime/authz/decision", inp).rules[0].location


# ------------------------------------------------------------------ reading sources


def test_sources_are_read_into_packages_rules_branches_and_reads(user_policy: Path) -> None:
    source = PolicySource(
        {
            "authz.rego": (user_policy / "authz.rego").read_text(),
            "lib/limits.rego": (user_policy / "lib" / "limits.rego").read_text(),
        }
    )
    assert source.packages == {"runtime.authz", "lib.limits"}
    decision = next(d for d in source.rule("runtime.authz", "decision") if not d.default)
    assert [branch.row for branch in decision.branches] == [8, 10, 12]
    assert source.reads(decision, 0) == [("runtime.authz", "violations")]
    assert source.reads(decision, 1) == [
        ("runtime.authz", "obligations"),
        ("lib.limits", "needs_review"),
    ]
    assert source.reads(decision, 2) == [("runtime.authz", "obligations")]
    kinds = {
        (d.name, d.row): (d.function, d.default, d.conditional, d.multi) for d in source.definitions
    }
    assert kinds == {
        ("decision", 6): (False, True, False, False),
        ("decision", 8): (False, False, True, False),
        ("agent", 16): (False, False, False, False),
        ("violations", 18): (False, False, True, True),
        ("violations", 20): (False, False, True, True),
        ("obligations", 26): (False, False, True, True),
        ("too_long", 30): (True, False, True, False),
        ("needs_review", 3): (False, False, True, False),
        ("needs_review", 5): (False, False, True, False),
    }


def test_strings_comments_and_field_names_are_not_read_as_rules() -> None:
    source = PolicySource(
        {
            "p.rego": (
                "package p\n\n"
                "tool := input.action.tool # tool\n\n"
                'out := sprintf("tool %s", [input.tool]) if {\n'
                "\t# decided by tool\n"
                '\tx := {"tool": 1, "y": `tool`}\n'
                "\tx.tool == 1\n"
                "}\n"
            )
        }
    )
    out = source.rule("p", "out")[0]
    assert source.reads(out) == []


# ------------------------------------------------------------------ a user's policy


def test_user_policy_denial_names_each_violation_rule(
    user_engine: EmbeddedEngine, user_policy: Path
) -> None:
    inp = call(tool="shell.exec", effect="exec", roles=["banned"])
    assert entry_location(user_engine, inp) == row(user_policy, "authz.rego", "decision := {")
    assert rules_of(user_engine, inp) == [
        (
            "data.runtime.authz.violations",
            row(user_policy, "authz.rego", 'violations contains "no shell"'),
            ["no shell"],
        ),
        (
            "data.runtime.authz.violations",
            row(user_policy, "authz.rego", "violations contains msg"),
            ["role banned is banned for bob"],
        ),
    ]


def test_user_policy_approval_names_the_imported_rule_and_its_else_branch(
    user_engine: EmbeddedEngine, user_policy: Path
) -> None:
    inp = call(tool="python.run", effect="exec", score=0.9)
    assert entry_location(user_engine, inp) == row(
        user_policy, "authz.rego", '} else := {"allow": false, "require_approval": true'
    )
    assert rules_of(user_engine, inp) == [
        (
            "data.runtime.authz.obligations",
            row(user_policy, "authz.rego", "obligations[key] := value"),
            {"timeout_s": 5},
        ),
        (
            "data.lib.limits.needs_review",
            row(user_policy, "lib/limits.rego", "needs_review if input.risk"),
            True,
        ),
    ]


def test_only_the_first_definition_of_a_single_value_rule_is_listed(
    user_engine: EmbeddedEngine, user_policy: Path
) -> None:
    inp = call(tool="http.get", effect="external", score=0.9)
    assert rules_of(user_engine, inp) == [
        (
            "data.lib.limits.needs_review",
            row(user_policy, "lib/limits.rego", "needs_review if input.risk"),
            True,
        )
    ]


def test_user_policy_allow_names_the_last_branch_and_no_rule(
    user_engine: EmbeddedEngine, user_policy: Path
) -> None:
    inp = call(agent="alice")
    assert entry_location(user_engine, inp) == row(
        user_policy, "authz.rego", '} else := {"allow": true'
    )
    assert rules_of(user_engine, inp) == []


def test_user_policy_default_is_named_when_no_branch_holds(
    user_engine: EmbeddedEngine, user_policy: Path
) -> None:
    explanation = user_engine.explain("runtime/authz/decision", call())
    assert explanation.rules == [
        RuleHit(
            rule="data.runtime.authz.decision",
            location=row(user_policy, "authz.rego", "default decision"),
            value={
                "allow": False,
                "require_approval": False,
                "reasons": ["nothing matched"],
                "obligations": {},
            },
        )
    ]


# ------------------------------------------------------------------ the built-in policy


def test_builtin_denial_names_the_grant_rule(builtin_engine: EmbeddedEngine) -> None:
    inp = call(agent="planner", tool="python.run", effect="exec")
    assert entry_location(builtin_engine, inp) == row(
        POLICY_DIR, "runtime/authz/authz.rego", "decision := {"
    )
    hits = rules_of(builtin_engine, inp)
    assert hits[0] == (
        "data.runtime.authz.deny",
        row(
            POLICY_DIR, "runtime/authz/authz.rego", 'deny contains sprintf("tool %s is not granted'
        ),
        ["tool python.run is not granted to agent planner"],
    )
    assert {rule for rule, _, _ in hits} <= {
        "data.runtime.authz.deny",
        "data.runtime.authz.alternatives",
    }


def test_builtin_approval_names_each_approval_rule(builtin_engine: EmbeddedEngine) -> None:
    inp = call(
        agent="researcher",
        tool="http.get",
        effect="external",
        args={"url": "https://example.org"},
        provenance={"url": "untrusted"},
        score=0.9,
    )
    assert rules_of(builtin_engine, inp) == [
        (
            "data.runtime.authz.approval",
            row(POLICY_DIR, "runtime/authz/authz.rego", 'approval contains "the risk score'),
            ["the risk score of this call is at or above the approval threshold"],
        ),
        (
            "data.runtime.authz.approval",
            row(POLICY_DIR, "runtime/authz/authz.rego", 'approval contains concat(" ", [untrusted'),
            ["a external call with untrusted arguments (url) needs human approval"],
        ),
    ]


def test_embedded_engine_is_an_explaining_engine(builtin_engine: EmbeddedEngine) -> None:
    assert isinstance(builtin_engine, ExplainingEngine)


# ------------------------------------------------------------------ explain_decision


def test_schema_invalid_input_is_denied_and_not_explained(builtin_engine: EmbeddedEngine) -> None:
    explained = explain_decision(builtin_engine, "authz", {"subject": {"agent": "planner"}})
    assert explained == ExplainedDecision(
        entrypoint="runtime/authz/decision",
        outcome="deny",
        decision={
            "outcome": "deny",
            "allow": False,
            "require_approval": False,
            "reasons": [
                "deny (fail closed: input does not match the PolicyInput schema: "
                "subject.team: Field required)"
            ],
            "obligations": {},
            "alternatives": [],
            "policy_version": builtin_engine.policy_version,
            "decision_id": None,
            "engine": "embedded-regopy",
        },
        rules=[],
        note="the policy was not asked: input does not match the PolicyInput schema: "
        "subject.team: Field required",
    )


def test_memory_and_safety_entrypoints_are_explained(builtin_engine: EmbeddedEngine) -> None:
    memory = explain_decision(
        builtin_engine,
        "memory",
        {
            "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
            "operation": "read",
            "namespace": "acme/shared/team",
            "run_id": "r1",
        },
    )
    assert (memory.outcome, [(h.rule, h.value) for h in memory.rules[1:]]) == (
        "allow",
        [
            (
                "data.runtime.memory.allow_reasons",
                ["agent coder is granted read on shared space team"],
            )
        ],
    )
    safety = explain_decision(
        builtin_engine,
        "safety",
        {
            "findings": [
                {"type": "private_key", "detector": "secrets", "severity": "high", "location": "k"}
            ],
            "action": {"kind": "changeset", "tool": "fs.write", "trust": "trusted"},
        },
    )
    assert safety.outcome == "block"
    assert ("data.runtime.safety.block", ["a private_key was found in k"]) in [
        (h.rule, h.value) for h in safety.rules
    ]


def test_json_document_has_the_decision_and_the_rules(builtin_engine: EmbeddedEngine) -> None:
    explained = explain_decision(
        builtin_engine, "authz", call(agent="coder", args={"path": "a.txt"})
    )
    document = explained.document()
    assert list(document) == ["decision", "rules"]
    assert document["decision"]["outcome"] == "allow"
    assert [list(rule) for rule in document["rules"]] == [["rule", "location", "value"]]


def test_a_policy_the_copies_cannot_compile_is_explained_rule_by_rule(tmp_path: Path) -> None:
    policies = tmp_path / "rego"
    shutil.copytree(POLICY_DIR, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    # A default named like the first private copy (also a default): two defaults of one rule
    # do not compile, so the copies cannot be used.
    extra = "package runtime.authz\n\ndefault __explain_0_decision := 1\n"
    (policies / "clash.rego").write_text(extra)
    engine = EmbeddedEngine(policies)
    explanation = engine.explain(
        "runtime/authz/decision", call(agent="planner", tool="python.run", effect="exec")
    )
    assert explanation.rules[0].location is None
    assert (
        RuleHit(
            rule="data.runtime.authz.deny",
            value=["tool python.run is not granted to agent planner"],
        )
        in explanation.rules
    )


def test_an_entrypoint_that_names_no_rule_is_explained_as_undefined(
    builtin_engine: EmbeddedEngine,
) -> None:
    explanation = builtin_engine.explain("runtime/authz/no_such_rule", call())
    assert explanation.rules == [RuleHit(rule="data.runtime.authz.no_such_rule")]
