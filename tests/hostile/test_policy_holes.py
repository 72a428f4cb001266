"""Attacks on the policy layer: the managed OPA server's REST API, and crafted inputs.

The managed OPA server listens on 127.0.0.1, where any local process can reach it. Before
issue 14 it had no authentication: a `PUT /v1/data/...` granted a tool and the next call
was allowed, while the audit kept the old policy version. Now every request needs the
runtime's per-server bearer token, the bundle owns every path (no write goes in, token or
not), and each decision must carry the revision the runtime loaded.

The crafted inputs (oversized, deeply nested, wrong types, look-alike tool names, schema
edges) go through the Authorizer on both engines: each must end in a deny or a refusal that
says why, never an allow and never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from runtime.errors import PolicyUnavailable
from runtime.models import Decision
from runtime.policy.authorizer import Authorizer
from runtime.policy.base import AUTHZ_ENTRYPOINT
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine

REPO_POLICY = Path(__file__).resolve().parents[2] / "rego"


def call(
    agent: str = "planner",
    tool: str = "python.run",
    effect: str = "exec",
    args: Any = None,
    **overrides: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": "1",
        "subject": {"agent": agent, "team": "analyst", "roles": [], "tenant": "acme"},
        "action": {
            "tool": tool,
            "effect": effect,
            "args": {"code": "print(1)"} if args is None else args,
        },
        "provenance": {"args": {}, "untrusted_sources_seen": []},
        "context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {}},
        "risk": {"score": 0.0},
    }
    document.update(overrides)
    return document


DENIED_CALL = call()  # python.run is not granted to planner
GRANT_PATH = "runtime_data/authz/grants/agents/planner/tools"
FORGED_GRANT = ["fs.read", "fs.list", "memory.put", "memory.search", "python.run"]
FORGED_POLICY = """package runtime.forged

allow := true
"""


@pytest.fixture(scope="module")
def managed(opa_path: Path) -> Iterator[OpaServerEngine]:
    engine = OpaServerEngine(REPO_POLICY, opa_binary=opa_path)
    try:
        yield engine
    finally:
        engine.close()


def decision(engine: OpaServerEngine | EmbeddedEngine, document: dict[str, Any]) -> Decision:
    return Authorizer(engine).authorize(document)


def comparable(d: Decision) -> dict[str, Any]:
    return d.model_dump(exclude={"decision_id"})


# ------------------------------------------------------------------ the OPA server's API


@pytest.mark.opa
def test_unauthenticated_data_push_is_refused_and_decision_unchanged(
    managed: OpaServerEngine,
) -> None:
    before = decision(managed, DENIED_CALL)
    assert before.allow is False
    response = requests.put(f"{managed.url}/v1/data/{GRANT_PATH}", json=FORGED_GRANT, timeout=5)
    assert response.status_code in (401, 403), response.text
    after = decision(managed, DENIED_CALL)
    assert comparable(after) == comparable(before)


@pytest.mark.opa
def test_unauthenticated_policy_push_is_refused(managed: OpaServerEngine) -> None:
    response = requests.put(
        f"{managed.url}/v1/policies/forged.rego", data=FORGED_POLICY.encode(), timeout=5
    )
    assert response.status_code in (401, 403), response.text
    assert managed.evaluate("runtime/forged/allow", {}).result is None


@pytest.mark.opa
def test_unauthenticated_policy_delete_is_refused(managed: OpaServerEngine) -> None:
    before = decision(managed, DENIED_CALL)
    listed = managed.evaluate("runtime/authz/decision", DENIED_CALL).result
    assert listed is not None
    for module_id in managed.bundle.modules if managed.bundle else ():
        response = requests.delete(f"{managed.url}/v1/policies/{module_id}", timeout=5)
        assert response.status_code in (401, 403), response.text
    assert comparable(decision(managed, DENIED_CALL)) == comparable(before)


@pytest.mark.opa
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/data"),
        ("GET", "/v1/data/runtime_data/authz/grants"),
        ("GET", "/v1/policies"),
        ("POST", "/v1/data/runtime/authz/decision"),
        ("POST", "/v1/query"),
        ("GET", "/v1/config"),
    ],
)
def test_request_without_token_reads_nothing(
    managed: OpaServerEngine, method: str, path: str
) -> None:
    body = {"input": DENIED_CALL} if method == "POST" else None
    if path == "/v1/query":
        body = {"query": "data.runtime_data = x"}
    response = requests.request(method, f"{managed.url}{path}", json=body, timeout=5)
    assert response.status_code in (401, 403), response.text
    assert "grants" not in response.text and "runtime_data" not in response.text


@pytest.mark.opa
@pytest.mark.parametrize(
    "authorization",
    ["Bearer ", "Bearer wrong-token", "Basic cnVudGltZTpydW50aW1l", "Bearer null"],
)
def test_a_wrong_token_is_refused(managed: OpaServerEngine, authorization: str) -> None:
    response = requests.get(
        f"{managed.url}/v1/data", headers={"Authorization": authorization}, timeout=5
    )
    assert response.status_code in (401, 403), response.text


@pytest.mark.opa
def test_even_the_token_cannot_write_the_loaded_policy(managed: OpaServerEngine) -> None:
    """A process that somehow got the token still cannot change what decides."""
    before = decision(managed, DENIED_CALL)
    headers = managed.auth_headers
    data = requests.put(
        f"{managed.url}/v1/data/{GRANT_PATH}", json=FORGED_GRANT, headers=headers, timeout=5
    )
    policy = requests.put(
        f"{managed.url}/v1/policies/forged.rego",
        data=FORGED_POLICY.encode(),
        headers=headers,
        timeout=5,
    )
    assert (data.status_code, policy.status_code) == (400, 400), (data.text, policy.text)
    assert comparable(decision(managed, DENIED_CALL)) == comparable(before)


@pytest.mark.opa
def test_token_is_not_on_the_command_line_environment_or_log(managed: OpaServerEngine) -> None:
    pid = managed.managed_pid
    assert pid is not None
    token = managed.auth_headers["Authorization"].removeprefix("Bearer ")
    assert len(token) >= 32
    for name in ("cmdline", "environ"):
        assert token.encode() not in Path(f"/proc/{pid}/{name}").read_bytes()
    link = managed._link  # the supervisor's own log tail: what an error message would show
    assert link.process is not None
    assert all(token not in line for line in link.process.log_tail)


@pytest.mark.opa
def test_a_decision_from_another_revision_is_refused(managed: OpaServerEngine) -> None:
    """The server answers with the revision it loaded; one the runtime did not load (the
    policy changed behind its back) is no decision at all: fail closed."""
    link = managed._link
    loaded = link.version
    link.version = "sha256:" + "0" * 64
    try:
        with pytest.raises(PolicyUnavailable) as caught:
            managed.evaluate(AUTHZ_ENTRYPOINT, DENIED_CALL)
        assert str(caught.value) == (
            f"policy engine answered from policy revision {loaded}, not the loaded "
            f"{link.version}: the policy was changed outside the runtime"
        )
        refused = decision(managed, DENIED_CALL)
        assert refused.allow is False
        assert refused.reasons[0].startswith("deny (fail closed: policy engine answered from")
    finally:
        link.version = loaded


# ------------------------------------------------------------------ crafted inputs


@pytest.fixture(scope="module", params=["embedded", "opa"])
def engine(request: pytest.FixtureRequest) -> Iterator[OpaServerEngine | EmbeddedEngine]:
    if request.param == "embedded":
        embedded = EmbeddedEngine(REPO_POLICY)
        try:
            yield embedded
        finally:
            embedded.close()
        return
    opa_path: Path = request.getfixturevalue("opa_path")
    server = OpaServerEngine(REPO_POLICY, opa_binary=opa_path)
    try:
        yield server
    finally:
        server.close()


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def denied(d: Decision, reason: str | None = None) -> None:
    assert d.allow is False and d.require_approval is False, d
    if reason is not None:
        assert d.reasons == [reason], d.reasons


LOOKALIKE_TOOLS = [
    "fs.read\u200b",  # zero-width space
    "fs.re\u0430d",  # Cyrillic a
    "\u202efs.read",  # right-to-left override
    "FS.READ",
    "fs.read ",
    " fs.read",
    "fs.read\x00",
    "fs\u2024read",  # one dot leader
    "\uff46\uff53.read",  # fullwidth
    "fs.read\ufe0f",
]


@pytest.mark.parametrize("tool", LOOKALIKE_TOOLS)
def test_lookalike_tool_names_are_not_the_granted_tool(
    engine: OpaServerEngine | EmbeddedEngine, tool: str
) -> None:
    d = decision(engine, call(tool=tool, effect="read", args={"path": "data/a.csv"}))
    denied(d)
    assert d.reasons[0] == f"tool {tool} is not granted to agent planner"


@pytest.mark.parametrize(
    "agent", ["planner\u200b", "plann\u0435r", "PLANNER", "planner\x00", "*", ".*"]
)
def test_lookalike_agent_names_get_no_grant(
    engine: OpaServerEngine | EmbeddedEngine, agent: str
) -> None:
    d = decision(engine, call(agent=agent, tool="fs.read", effect="read", args={"path": "a"}))
    denied(d, f"tool fs.read is not granted to agent {agent}")


def test_oversized_argument_fails_closed(engine: OpaServerEngine | EmbeddedEngine) -> None:
    content = "A" * (4 * 1024 * 1024)
    d = decision(
        engine,
        call(
            agent="coder", tool="fs.write", effect="write", args={"path": "a", "content": content}
        ),
    )
    denied(d, f"content for fs.write is {len(content)} characters, over the cap of 1048576")


def test_many_arguments_fail_closed_or_decide(engine: OpaServerEngine | EmbeddedEngine) -> None:
    args = {f"k{i}": "v" * 64 for i in range(20000)}
    d = decision(engine, call(tool="python.run", args=args))
    denied(d, "tool python.run is not granted to agent planner")


@pytest.mark.parametrize("depth", [64, 5000])
def test_deeply_nested_arguments_fail_closed(
    engine: OpaServerEngine | EmbeddedEngine, depth: int
) -> None:
    d = decision(engine, call(tool="python.run", args={"code": nested(depth)}))
    denied(d)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tool", 1),
        ("tool", None),
        ("tool", ["fs.read"]),
        ("tool", {"name": "fs.read"}),
        ("effect", "teleport"),
        ("args", ["path", "a"]),
        ("args", "path=a"),
    ],
)
def test_wrong_types_in_the_action_fail_closed(
    engine: OpaServerEngine | EmbeddedEngine, field: str, value: Any
) -> None:
    document = call(tool="fs.read", effect="read", args={"path": "a"})
    document["action"][field] = value
    d = decision(engine, document)
    denied(d)
    assert d.reasons[0].startswith(
        "deny (fail closed: input does not match the PolicyInput schema: action."
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema_version",), "3"),
        (("subject", "agent"), 7),
        (("subject", "roles"), "admin"),
        (("context", "step"), "one"),
        (("context", "calls_so_far"), {"fs.read": "many"}),
        (("risk", "score"), "low"),
        (("provenance", "args"), {"path": "sorta-trusted"}),
    ],
)
def test_schema_edges_fail_closed(
    engine: OpaServerEngine | EmbeddedEngine, path: tuple[str, ...], value: Any
) -> None:
    document = json.loads(json.dumps(call(tool="fs.read", effect="read", args={"path": "a"})))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    d = decision(engine, document)
    denied(d)
    assert d.reasons[0].startswith(
        "deny (fail closed: input does not match the PolicyInput schema: "
    ), d.reasons


@pytest.mark.parametrize("missing", ["subject", "action", "context"])
def test_missing_sections_fail_closed(
    engine: OpaServerEngine | EmbeddedEngine, missing: str
) -> None:
    document = call(tool="fs.read", effect="read", args={"path": "a"})
    del document[missing]
    d = decision(engine, document)
    denied(
        d,
        f"deny (fail closed: input does not match the PolicyInput schema: {missing}: Field required)",
    )


def test_extra_top_level_fields_cannot_grant(engine: OpaServerEngine | EmbeddedEngine) -> None:
    """Data-shaped keys smuggled into the input do not reach the grants."""
    document = call()
    document["runtime_data"] = {
        "authz": {"grants": {"agents": {"planner": {"tools": ["python.run"]}}}}
    }
    document["subject"] = {**document["subject"], "tools": ["python.run"]}
    denied(decision(engine, document))


@pytest.mark.parametrize("score", [float("nan"), float("inf"), -1e308])
def test_non_finite_or_extreme_risk_scores_do_not_skip_approval(
    engine: OpaServerEngine | EmbeddedEngine, score: float
) -> None:
    # A call that needs approval by its provenance (untrusted url on a side effect).
    document = call(agent="researcher", tool="http.get", effect="external", args={"url": "x"})
    document["provenance"] = {"args": {"url": "untrusted"}, "untrusted_sources_seen": []}
    document["risk"] = {"score": score}
    d = decision(engine, document)
    assert d.allow is False, d


@pytest.mark.parametrize(
    "namespace",
    ["acme/coder\u200b", "acme/c\u043eder", "acme/coder/../planner", "ACME/coder", "acme//coder"],
)
def test_lookalike_memory_namespaces_are_not_the_agents_own(
    engine: OpaServerEngine | EmbeddedEngine, namespace: str
) -> None:
    document = {
        "schema_version": "1",
        "subject": {"agent": "coder", "team": "analyst", "roles": [], "tenant": "acme"},
        "operation": "read",
        "namespace": namespace,
        "run_id": "r1",
    }
    denied(Authorizer(engine).authorize_memory(document))
