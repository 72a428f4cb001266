"""Both policy engines give the same answer for the same input.

A corpus of inputs (hypothesis-generated over the built-in policies, plus hand-written
edges) goes through the OPA server and the embedded regopy engine; the raw documents they
return must be equal. Any difference is a bug in one engine or a policy construct outside
the common subset (see docs/policy.md, "Engines").
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.models import MemoryAccessInput, PolicyInputV1
from runtime.policy.base import (
    AUTHZ_ENTRYPOINT,
    MEMORY_ENTRYPOINT,
    SAFETY_ENTRYPOINT,
    PolicyEngine,
)
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine

pytestmark = pytest.mark.opa


def corpus(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


AGENTS = ["planner", "coder", "reviewer", "researcher", "mallory", ""]
TEAMS = ["analyst", "rogue", "other"]
TENANTS = ["acme", "globex"]
TOOLS = [
    "fs.read",
    "fs.list",
    "fs.write",
    "python.run",
    "memory.put",
    "memory.search",
    "http.get",
    "shell.exec",
]
EFFECTS = ["read", "write", "exec", "external", "egress"]
SEGMENTS = [
    "a",
    "out",
    "data",
    "..",
    ".",
    "",
    "~",
    "C:",
    "é",
    "日本",
    "..b",
    "x..y",
    "*",
    "report.md",
]
EDGE_PATHS = [
    "",
    "/",
    "/etc/passwd",
    "a/../b",
    "../x",
    "..",
    "./a",
    "a//b",
    "~/x",
    "C:x",
    "out/",
    "é/ü.md",
]
CAP = 1048576
# Characters JSON must escape. regopy sees such strings in escaped form (docs/policy.md,
# "Engines"), so they are kept out of the equality corpus and tested for "never more
# permissive than OPA" instead.
ESCAPED = ['"', "\\", "\n", "\t", "\x00", "\x01", "\x1f"]


def plain_text(max_size: int) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_characters='"\\', exclude_categories=("Cc", "Cs"))
    return st.text(alphabet=alphabet, max_size=max_size)


def compare(
    opa: PolicyEngine, embedded: PolicyEngine, entrypoint: str, document: dict[str, Any]
) -> None:
    expected = opa.evaluate(entrypoint, document).result
    actual = embedded.evaluate(entrypoint, document).result
    assert actual == expected, f"engines disagree on {document!r}"


paths = st.one_of(
    st.sampled_from(EDGE_PATHS),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map("/".join),
    plain_text(12),
    st.integers(),
    st.none(),
)
contents = st.one_of(
    st.sampled_from([0, 1, CAP - 1, CAP, CAP + 1]).map(lambda n: "x" * n),
    plain_text(40),
    st.integers(),
)
args = st.fixed_dictionaries(
    {},
    optional={
        "path": paths,
        "content": contents,
        "code": plain_text(20),
        "url": st.sampled_from(["https://example.org", "http://127.0.0.1"]),
        "namespace": st.sampled_from(["acme/coder", "acme/shared/team"]),
    },
)
trust = st.sampled_from(["trusted", "untrusted"])
counts = st.sampled_from([0, 1, 9, 10, 24, 25, 26, 49, 50, 51])


@st.composite
def policy_inputs(draw: st.DrawFn) -> dict[str, Any]:
    tool = draw(st.sampled_from(TOOLS))
    call_args = draw(args)
    # Most fs calls carry their arguments, so the path and size rules get exercised.
    if tool.startswith("fs.") and draw(st.integers(0, 9)) > 0:
        call_args["path"] = draw(paths)
        if tool == "fs.write":
            call_args["content"] = draw(contents)
    document = {
        "subject": {
            "agent": draw(st.sampled_from(AGENTS)),
            "team": draw(st.sampled_from(TEAMS)),
            "roles": draw(st.lists(st.sampled_from(["analyst", "admin"]), max_size=2)),
            "tenant": draw(st.sampled_from(TENANTS)),
        },
        "action": {"tool": tool, "effect": draw(st.sampled_from(EFFECTS)), "args": call_args},
        "provenance": {
            "args": draw(
                st.dictionaries(st.sampled_from([*call_args, "other"]), trust, max_size=3)
            ),
            "untrusted_sources_seen": draw(
                st.lists(st.sampled_from(["web:example.org", "file:a"]), max_size=2)
            ),
        },
        "context": {
            "run_id": "r1",
            "step": draw(st.integers(0, 100)),
            "task": draw(plain_text(20)),
            "calls_so_far": draw(
                st.dictionaries(st.sampled_from([tool, *TOOLS]), counts, max_size=3)
            ),
        },
        "risk": {
            # Floats up to the smallest normal one are a documented gap (docs/policy.md,
            # embedded gap 6): the embedded engine fails closed on them, tested in
            # tests/unit/test_policy_embedded_input.py.
            "score": draw(
                st.one_of(
                    st.sampled_from([0.0, 0.79, 0.8, 0.81, 1.0]),
                    st.floats(0, 1).filter(lambda score: score == 0 or score > sys.float_info.min),
                )
            )
        },
    }
    return PolicyInputV1.model_validate(document).model_dump(mode="json")


@st.composite
def memory_inputs(draw: st.DrawFn) -> dict[str, Any]:
    tenant = draw(st.sampled_from(TENANTS))
    agent = draw(st.sampled_from(AGENTS))
    namespace = draw(
        st.one_of(
            st.sampled_from(
                [
                    f"{tenant}/{agent}",
                    f"{tenant}/shared/team",
                    f"{tenant}/shared/secret",
                    "globex/shared/team",
                    f"{tenant}/{agent}/sub",
                    f"{tenant}/shared/team/x",
                    "",
                    "/",
                ]
            ),
            st.lists(st.sampled_from(["acme", "shared", "team", "coder", ""]), max_size=4).map(
                "/".join
            ),
        )
    )
    document = {
        "subject": {"agent": agent, "team": draw(st.sampled_from(TEAMS)), "tenant": tenant},
        "operation": draw(st.sampled_from(["read", "write"])),
        "namespace": namespace,
        "run_id": "r1",
    }
    return MemoryAccessInput.model_validate(document).model_dump(mode="json")


FINDING_TYPES = [
    "private_key",
    "api_key",
    "github_token",
    "email",
    "phone",
    "payment_card",
    "injection",
    "instruction_override",
    "weather",
]
DETECTORS = ["secrets", "pii", "injection", "custom"]

findings = st.fixed_dictionaries(
    {
        "type": st.sampled_from(FINDING_TYPES),
        "severity": st.sampled_from(["low", "medium", "high", "critical"]),
    },
    optional={
        "detector": st.sampled_from(DETECTORS),
        "location": st.sampled_from(["out/a.md", "message", "é.txt"]),
    },
)
safety_inputs = st.fixed_dictionaries(
    {
        "findings": st.lists(findings, max_size=4),
        "action": st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["changeset", "memory_write", "message", "answer"]),
                "tool": st.sampled_from(TOOLS),
                "trust": trust,
            }
        ),
    }
)


@corpus(300)
@given(document=policy_inputs())
def test_authz_decisions_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    compare(opa_engine, embedded_engine, AUTHZ_ENTRYPOINT, document)


@corpus(150)
@given(document=memory_inputs())
def test_memory_decisions_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    compare(opa_engine, embedded_engine, MEMORY_ENTRYPOINT, document)


@corpus(150)
@given(document=safety_inputs)
def test_safety_verdicts_agree(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    compare(opa_engine, embedded_engine, SAFETY_ENTRYPOINT, document)


def authz_edge(
    agent: str, tool: str, effect: str, call_args: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "subject": {"agent": agent, "team": "analyst", "tenant": "acme"},
        "action": {"tool": tool, "effect": effect, "args": call_args},
        "context": {"run_id": "r1", "step": 1, "task": "t"},
    }
    document.update(extra)
    return document


HAND_WRITTEN: list[tuple[str, dict[str, Any]]] = [
    (AUTHZ_ENTRYPOINT, {}),
    (AUTHZ_ENTRYPOINT, {"subject": {}, "action": {}}),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.write", "write", {"path": "out/a.md"})),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge("coder", "fs.write", "write", {"path": "out/a.md", "content": "é" * (CAP + 1)}),
    ),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge("coder", "fs.write", "write", {"path": "out/a.md", "content": "😀" * CAP}),
    ),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": ["a"]})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": {"nested": "a"}})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": "a/../../../etc/passwd"})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": "/abs/../x"})),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge(
            "researcher",
            "http.get",
            "external",
            {"url": "x"},
            provenance={"args": {"url": "untrusted"}},
        ),
    ),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge(
            "coder",
            "python.run",
            "exec",
            {"code": "x"},
            provenance={"args": {"code": "untrusted", "b": "untrusted", "a": "untrusted"}},
        ),
    ),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge(
            "coder",
            "python.run",
            "exec",
            {},
            context={"run_id": "r", "step": 1, "task": "t", "calls_so_far": {"python.run": 25}},
        ),
    ),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "python.run", "exec", {}, risk={"score": 0.8000000001})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "python.run", "exec", {}, risk={"score": 1e-300})),
    (MEMORY_ENTRYPOINT, {}),
    (
        MEMORY_ENTRYPOINT,
        {
            "subject": {"agent": "coder", "tenant": "acme"},
            "operation": "delete",
            "namespace": "acme/coder",
        },
    ),
    (SAFETY_ENTRYPOINT, {}),
    (SAFETY_ENTRYPOINT, {"findings": [{"type": "email"}]}),
    (
        SAFETY_ENTRYPOINT,
        {
            "findings": [{"type": "injection", "severity": "high"}],
            "action": {"kind": "message", "trust": "untrusted"},
        },
    ),
    (
        SAFETY_ENTRYPOINT,
        {"findings": [{"type": "private_key", "severity": "critical", "location": 3}]},
    ),
    ("runtime/authz/no_such_rule", {}),
]


@pytest.mark.parametrize(("entrypoint", "document"), HAND_WRITTEN)
def test_hand_written_edges_agree(
    opa_engine: OpaServerEngine,
    embedded_engine: EmbeddedEngine,
    entrypoint: str,
    document: dict[str, Any],
) -> None:
    compare(opa_engine, embedded_engine, entrypoint, document)


def test_engines_report_the_same_policy_version(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine
) -> None:
    assert opa_engine.policy_version == embedded_engine.policy_version != ""


# --------------------------------------------------------------------------- escaped strings

PERMISSIVENESS = {
    "deny": 0,
    "require_approval": 1,
    "allow": 2,
    "block": 0,
    "escalate": 1,
    "redact": 2,
    "pass": 3,
}


def permissiveness(result: dict[str, Any]) -> int:
    if "verdict" in result:
        return PERMISSIVENESS[result["verdict"]]
    if result["require_approval"]:
        return PERMISSIVENESS["require_approval"]
    return PERMISSIVENESS["allow" if result["allow"] else "deny"]


def never_more_permissive(
    opa: PolicyEngine, embedded: PolicyEngine, entrypoint: str, document: dict[str, Any]
) -> None:
    expected = opa.evaluate(entrypoint, document).result
    actual = embedded.evaluate(entrypoint, document).result
    assert permissiveness(actual) <= permissiveness(expected), (
        f"embedded engine is more permissive than OPA on {document!r}: {actual!r} vs {expected!r}"
    )


@st.composite
def tainted(draw: st.DrawFn, text: str) -> str:
    position = draw(st.integers(0, len(text)))
    return text[:position] + draw(st.sampled_from(ESCAPED)) + text[position:]


@st.composite
def escaped_policy_inputs(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(policy_inputs())
    call_args = document["action"]["args"]
    for name in ("path", "content", "code"):
        if isinstance(call_args.get(name), str) and len(call_args[name]) < 4096:
            call_args[name] = draw(tainted(call_args[name]))
    document["context"]["task"] = draw(tainted(document["context"]["task"]))
    if draw(st.booleans()):
        document["subject"]["agent"] = draw(tainted(document["subject"]["agent"]))
    return document


@corpus(150)
@given(document=escaped_policy_inputs())
def test_escaped_strings_never_make_embedded_more_permissive(
    opa_engine: OpaServerEngine, embedded_engine: EmbeddedEngine, document: dict[str, Any]
) -> None:
    never_more_permissive(opa_engine, embedded_engine, AUTHZ_ENTRYPOINT, document)


ESCAPED_EDGES: list[tuple[str, dict[str, Any]]] = [
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": '/a"b\\c\n\u0001'})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": 'a"b'})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": "a\\b"})),
    (AUTHZ_ENTRYPOINT, authz_edge("coder", "fs.read", "read", {"path": "a\x00b"})),
    (AUTHZ_ENTRYPOINT, authz_edge('co"der', "fs\\read", "read", {"path": "a"})),
    (
        AUTHZ_ENTRYPOINT,
        authz_edge("coder", "fs.write", "write", {"path": "a", "content": "\n" * (CAP - 1)}),
    ),
    (
        MEMORY_ENTRYPOINT,
        {
            "subject": {"agent": 'c"', "team": "a", "tenant": "acme"},
            "operation": "read",
            "namespace": 'acme/c"',
            "run_id": "r",
        },
    ),
    (
        SAFETY_ENTRYPOINT,
        {"findings": [{"type": "email", "severity": "low", "location": 'a"\\b'}], "action": {}},
    ),
]


@pytest.mark.parametrize(("entrypoint", "document"), ESCAPED_EDGES)
def test_escaped_edges_never_make_embedded_more_permissive(
    opa_engine: OpaServerEngine,
    embedded_engine: EmbeddedEngine,
    entrypoint: str,
    document: dict[str, Any],
) -> None:
    never_more_permissive(opa_engine, embedded_engine, entrypoint, document)
