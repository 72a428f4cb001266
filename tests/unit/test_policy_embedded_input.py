"""The embedded engine's fast input path (regopy's C input API, node by node) gives a policy
exactly the document the JSON-term path gives, for any JSON input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import regopy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.policy.authorizer import Authorizer
from runtime.policy.embedded import (
    EmbeddedEngine,
    NotExact,
    exact_float,
    input_node,
    input_term,
    query_plan,
    set_input,
)

# rego/ is the shipped policy library, not a project: tests of the library itself read it.
POLICY_DIR = Path(__file__).parents[2] / "rego"

# Every string, number and key of the input, and what the usual builtins make of them.
PROBE = """package probe

strings contains [s, count(s), upper(s), regex.match(`\\\\`, s), concat("|", [s, "x"]), sprintf("%s/%v", [s, s])] if {
	walk(input, [_, s])
	is_string(s)
}

numbers contains [n, n >= 0.8, n + 1, sprintf("%v", [n])] if {
	walk(input, [_, n])
	is_number(n)
}

keys contains k if {
	walk(input, [path, _])
	some k in path
}

out := {"input": input, "strings": strings, "numbers": numbers, "keys": keys}
"""


@pytest.fixture(scope="module")
def probe() -> Any:
    builder = regopy.Interpreter()
    builder.add_module("probe.rego", PROBE)
    return builder.build(None, ["probe/out"])


def outcome(action: Any) -> Any:
    """The value, or the exception's type when it raises (both paths must agree on either)."""
    try:
        return action()
    except Exception as exc:
        return type(exc).__name__


def through_term(probe: Any, document: dict[str, Any]) -> Any:
    interpreter = regopy.Interpreter()
    return outcome(
        lambda: (
            interpreter.set_input_term(input_term(document)),
            query_plan(interpreter, probe, "probe/out"),
        )[1]
    )


def through_fast_path(probe: Any, document: dict[str, Any]) -> Any:
    interpreter = regopy.Interpreter()
    return outcome(
        lambda: (set_input(interpreter, document), query_plan(interpreter, probe, "probe/out"))[1]
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=5))
def test_both_input_paths_give_the_policy_the_same_document(
    probe: Any, document: dict[str, Any]
) -> None:
    assert through_fast_path(probe, document) == through_term(probe, document)


@pytest.mark.parametrize(
    "document",
    [
        {"quote": 'a"b', "backslash": "a\\b", "newline": "a\nb", "nul": "a\x00b", "tab": "\t"},
        {"unicode": "é日本\u2028", "empty": "", "nested": {"k\n": ["x\ty", {}]}},
        {"rounded": 0.7999999, "tiny": 1e-300, "big": 2**64, "small": -(2**63)},
        {"risk": {"score": 0.8}, "list": [], "object": {}, "null": None, "flag": False},
    ],
    ids=["escapes", "unicode", "numbers", "plain"],
)
def test_edge_documents_are_the_same_on_both_paths(probe: Any, document: dict[str, Any]) -> None:
    assert through_fast_path(probe, document) == through_term(probe, document)


@pytest.mark.parametrize(
    ("value", "exact"),
    [(0.2, True), (0.8, True), (1e20, True), (0.7999999, False), (1e-7, False), (1 / 3, False)],
)
def test_floats_the_c_api_would_round_take_the_term_path(value: float, exact: bool) -> None:
    assert exact_float(value) is exact
    if not exact:
        with pytest.raises(NotExact):
            input_node({"score": value})


def test_integers_beyond_64_bits_take_the_term_path() -> None:
    with pytest.raises(NotExact):
        input_node({"n": 2**63})


def test_a_subnormal_number_fails_closed_in_the_embedded_engine() -> None:
    """regopy 1.5.2 cannot compare a subnormal float (its C++ `stod` refuses it): the
    decision is a deny that says so, never an allow (docs/policy.md, embedded gap 6)."""
    engine = EmbeddedEngine(POLICY_DIR)
    document = {
        "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
        "action": {"tool": "fs.read", "effect": "read", "args": {"path": "a.txt"}},
        "context": {"run_id": "r1", "step": 1, "task": "t"},
        "risk": {"score": 5e-324},
    }
    decision = Authorizer(engine).authorize(document)
    assert (decision.outcome, decision.reasons) == (
        "deny",
        ["deny (fail closed: embedded engine failed: rego error: stod)"],
    )
