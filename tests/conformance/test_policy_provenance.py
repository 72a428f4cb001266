"""Both engines decide policy input schema 2 (argument provenance) alike, and like Python.

Hypothesis draws schema-2 inputs (each argument labelled {trust, sources, via, sink,
origin, task}) over the built-in library; OPA and the embedded engine must return the same
document, and the sink reasons in it must be exactly those `runtime.provenance.judge`
gives for the same labels. A schema-1 twin of each input (its `legacy_args`) is decided by
the old rule on both engines alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.models import PolicyInput, PolicyInputV1
from runtime.policy.base import AUTHZ_ENTRYPOINT
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine
from runtime.provenance import SINK_KINDS, ArgProvenance, CallProvenance, judge

pytestmark = pytest.mark.opa

EFFECTS = ["read", "write", "exec", "external", "egress"]
TRUST = ["trusted", "untrusted", "model", "unknown"]
SOURCES = ["task", "trusted_data.contacts", "mail.read", "web.get", "é-source"]
VIA = ["value", "email", "url", "domain", "iban", "account", "phone", "number", "text"]
NAMES = ["to", "url", "body", "amount", "path", "iban", "note"]

labels = st.builds(
    ArgProvenance,
    trust=st.sampled_from(TRUST),
    sources=st.lists(st.sampled_from(SOURCES), max_size=3, unique=True).map(sorted),
    via=st.one_of(
        st.just(["value"]), st.lists(st.sampled_from(VIA), max_size=3, unique=True).map(sorted)
    ),
    sink=st.one_of(st.none(), st.sampled_from(sorted(SINK_KINDS))),
    origin=st.sampled_from(["any", "task"]),
    task=st.booleans(),
)


@st.composite
def provenance_inputs(draw: st.DrawFn) -> tuple[dict[str, Any], CallProvenance]:
    effect = draw(st.sampled_from(EFFECTS))
    args = draw(st.dictionaries(st.sampled_from(NAMES), labels, max_size=4))
    provenance = CallProvenance(args, overflowed=draw(st.booleans()), effect=effect)
    document = PolicyInput.model_validate(
        {
            "subject": {"agent": "researcher", "team": "analyst", "tenant": "acme"},
            "action": {"tool": "http.get", "effect": effect, "args": dict.fromkeys(args, "x")},
            "provenance": provenance.to_model(draw(st.lists(st.sampled_from(SOURCES)))),
            "context": {"run_id": "r1", "step": 1, "task": "t"},
        }
    ).model_dump(mode="json")
    return document, provenance


def corpus(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@corpus(250)
@given(drawn=provenance_inputs())
def test_schema_2_decisions_agree_with_each_other_and_with_python(
    opa_engine: OpaServerEngine,
    embedded_engine: EmbeddedEngine,
    drawn: tuple[dict[str, Any], CallProvenance],
) -> None:
    document, provenance = drawn
    expected = opa_engine.evaluate(AUTHZ_ENTRYPOINT, document).result
    actual = embedded_engine.evaluate(AUTHZ_ENTRYPOINT, document).result
    assert actual == expected, f"engines disagree on {document!r}"
    sink = judge(provenance)
    if sink.outcome == "allow":
        assert expected["allow"] is True, expected
    else:
        assert expected["require_approval"] is True, expected
        assert expected["reasons"] == sorted(f"{r}: needs human approval" for r in sink.reasons)


@corpus(120)
@given(drawn=provenance_inputs())
def test_the_schema_1_twin_is_decided_by_the_old_rule_on_both(
    opa_engine: OpaServerEngine,
    embedded_engine: EmbeddedEngine,
    drawn: tuple[dict[str, Any], CallProvenance],
) -> None:
    document, provenance = drawn
    twin = PolicyInputV1.model_validate(
        {
            **document,
            "schema_version": "1",
            "provenance": {
                "args": provenance.legacy(),
                "untrusted_sources_seen": document["provenance"]["untrusted_sources_seen"],
            },
        }
    ).model_dump(mode="json")
    expected = opa_engine.evaluate(AUTHZ_ENTRYPOINT, twin).result
    assert embedded_engine.evaluate(AUTHZ_ENTRYPOINT, twin).result == expected
    tainted = sorted(n for n, label in provenance.legacy().items() if label == "untrusted")
    side_effect = document["action"]["effect"] in ("write", "exec", "external", "egress")
    if tainted and side_effect:
        phrase = f"a {document['action']['effect']} call with untrusted arguments"
        assert expected["reasons"] == [f"{phrase} ({', '.join(tainted)}) needs human approval"], (
            expected
        )
    else:
        assert expected["allow"] is True, expected
