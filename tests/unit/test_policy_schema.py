"""The JSON Schemas users write policies against are generated, and the repo copy is current."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runtime.policy.schema import SCHEMA_MODELS, json_schema, render_schema

SCHEMAS = Path(__file__).parents[2] / "schemas"

DESIGN_EXAMPLE = {
    "subject": {"agent": "coder", "team": "analyst", "roles": ["analyst"], "tenant": "acme"},
    "action": {"tool": "fs.write", "effect": "write", "args": {"path": "out/report.md"}},
    "provenance": {"args": {"path": "trusted"}, "untrusted_sources_seen": ["web:example.org"]},
    "context": {"run_id": "r1", "step": 7, "task": "t", "calls_so_far": {"fs.write": 2}},
    "risk": {"score": 0.2},
}


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_committed_schema_matches_the_models(name: str) -> None:
    committed = (SCHEMAS / f"{name}.json").read_text()
    assert committed == render_schema(name), (
        f"schemas/{name}.json is stale: run `python -m runtime.policy.schema`"
    )


def test_no_stray_schema_files() -> None:
    assert sorted(path.stem for path in SCHEMAS.glob("*.json")) == sorted(SCHEMA_MODELS)


def test_design_example_input_fits_the_schema() -> None:
    jsonschema.validate(DESIGN_EXAMPLE, json_schema("policy_input"))


SCHEMA_2_EXAMPLE = {
    **DESIGN_EXAMPLE,
    "schema_version": "2",
    "action": {"tool": "mail.send", "effect": "external", "args": {"to": "a@b.example"}},
    "provenance": {
        "args": {
            "to": {
                "trust": "untrusted",
                "sources": ["mail.read"],
                "via": ["email"],
                "sink": "recipient",
                "origin": "any",
                "task": False,
            }
        },
        "legacy_args": {"to": "untrusted"},
        "untrusted_sources_seen": ["mail.read"],
        "overflowed": False,
    },
}


def test_schema_2_input_fits_the_schema() -> None:
    jsonschema.validate(SCHEMA_2_EXAMPLE, json_schema("policy_input"))


def test_schema_2_with_schema_1_labels_breaks_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**SCHEMA_2_EXAMPLE, "provenance": DESIGN_EXAMPLE["provenance"]},
            json_schema("policy_input"),
        )


def test_schema_1_with_schema_2_labels_breaks_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**SCHEMA_2_EXAMPLE, "schema_version": "1"}, json_schema("policy_input")
        )


def test_input_with_unknown_field_breaks_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**DESIGN_EXAMPLE, "admin": True}, json_schema("policy_input"))


def test_default_deny_decision_fits_the_decision_schema() -> None:
    jsonschema.validate(
        {"allow": False, "require_approval": False, "reasons": ["no"], "obligations": {}},
        json_schema("decision"),
    )


def test_refusal_with_alternatives_fits_the_decision_schema() -> None:
    jsonschema.validate(
        {
            "allow": False,
            "reasons": ["tool python.run is not granted to agent planner"],
            "alternatives": ["use a tool granted to agent planner instead: fs.read"],
        },
        json_schema("decision"),
    )


@pytest.mark.parametrize("name", ["decision", "safety_verdict"])
@pytest.mark.parametrize("alternatives", ["use fs.read", [1], [None], {"a": "b"}])
def test_alternatives_must_be_a_list_of_strings(name: str, alternatives: object) -> None:
    document = {"allow": False} if name == "decision" else {"verdict": "block"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "alternatives": alternatives}, json_schema(name))


def test_alternatives_are_an_additive_minor_version() -> None:
    assert {name: json_schema(name)["version"] for name in SCHEMA_MODELS} == {
        "policy_input": "2.0",
        "memory_access_input": "1.0",
        "decision": "1.1",
        "safety_verdict": "1.1",
    }
    assert "alternatives" not in json_schema("decision")["required"]
    assert "alternatives" not in json_schema("safety_verdict")["required"]


def test_schemas_are_valid_draft_2020_12() -> None:
    for name in SCHEMA_MODELS:
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
