"""The documents policies read and write, as pydantic models and generated JSON Schemas.

Inputs (`PolicyInput`, `MemoryAccessInput`) are defined in `runtime.models`; the documents a
policy must produce are defined here. The authorizer validates every decision against these
models and fails closed when one does not fit. `write_schemas()` renders all of them to
`schemas/*.json`; a test keeps the committed files equal to the generated ones.

Each schema carries a `version` (major.minor): an additive change (a new optional field
with a default, which every existing policy and consumer still fits) bumps the minor
number; anything that can break one (a field removed, renamed, retyped or made required)
bumps the major number, and an input's `schema_version` property with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter

from runtime.models import AnyPolicyInput, DecisionDocument, MemoryAccessInput, VerdictKind

SCHEMA_ID_BASE = "https://agent-runtime.dev/schemas/"


class SafetyVerdictDocument(BaseModel):
    """What `data.runtime.safety.verdict` must evaluate to.

    `alternatives` are safe ways to do what a blocked or redacted action wanted (e.g. name
    a secret instead of writing its value), plain sentences, empty when none exists.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="SafetyVerdict")

    verdict: VerdictKind
    reasons: list[StrictStr] = Field(default_factory=list)
    alternatives: list[StrictStr] = Field(default_factory=list)


# The policy input is schema 2 or, for one more release, schema 1 (by `schema_version`).
SCHEMA_MODELS: dict[str, Any] = {
    "policy_input": AnyPolicyInput,
    "memory_access_input": MemoryAccessInput,
    "decision": DecisionDocument,
    "safety_verdict": SafetyVerdictDocument,
}

# 1.1: `alternatives` added to the decision and the safety verdict (additive).
# policy_input 2.0: `provenance.args[name]` is an object (trust, sources, via, sink, origin,
# task), the schema-1 labels move to `provenance.legacy_args`; schema 1 is still accepted.
SCHEMA_VERSIONS: dict[str, str] = {
    "policy_input": "2.0",
    "memory_access_input": "1.0",
    "decision": "1.1",
    "safety_verdict": "1.1",
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one document, with a stable `$id` and its `version`."""
    schema = TypeAdapter(SCHEMA_MODELS[name]).json_schema()
    if name == "policy_input":
        schema = {"title": "PolicyInput", **schema}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID_BASE}{name}.json",
        "version": SCHEMA_VERSIONS[name],
        **schema,
    }


def render_schema(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def write_schemas(directory: str | Path) -> list[Path]:
    """Write every schema to `<directory>/<name>.json`; returns the paths written."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMA_MODELS:
        path = target / f"{name}.json"
        path.write_text(render_schema(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas(Path(__file__).resolve().parents[2] / "schemas"):
        print(written_path)
