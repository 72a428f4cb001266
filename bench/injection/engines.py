"""Decide the suite's recorded policy inputs with the Rego sink rule on both engines.

The Python rule (`runtime.provenance.judge`) and the built-in library's sink rule
(`untrusted_sinks` in rego/runtime/authz/authz.rego) must agree on every input: regopy in
process, one query per input; OPA (if `opa` is on PATH) in one `opa eval` over all inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

RULE_DIR = Path(__file__).resolve().parents[2] / "rego" / "runtime" / "authz"
RULES = (RULE_DIR / "authz.rego", RULE_DIR / "authz_alternatives.rego")
QUERY = "data.runtime.authz.untrusted_sinks"


def _outcome(untrusted_sinks: list[str]) -> str:
    return "untrusted_sink" if untrusted_sinks else "allow"


def regopy_outcomes(inputs: list[dict[str, Any]]) -> list[str]:
    import regopy

    interpreter = regopy.Interpreter()
    for rule in RULES:
        interpreter.add_module(rule.name, rule.read_text())
    outcomes = []
    for document in inputs:
        interpreter.set_input_term(json.dumps(document, ensure_ascii=False))
        result = json.loads(str(interpreter.query(QUERY)))
        value = (result["expressions"][0] if "expressions" in result else
                 result[0]["expressions"][0])  # fmt: skip
        outcomes.append(_outcome(value))
    return outcomes


def opa_outcomes(inputs: list[dict[str, Any]], opa: str | None = None) -> list[str] | None:
    opa = opa or shutil.which("opa") or str(Path.home() / "go" / "bin" / "opa")
    if not Path(opa).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "inputs.json"
        data.write_text(json.dumps({"suite_inputs": inputs}, ensure_ascii=False))
        query = f"[d | some doc in data.suite_inputs; d := {QUERY} with input as doc]"
        rules = [arg for rule in RULES for arg in ("-d", str(rule))]
        done = subprocess.run(
            [opa, "eval", "--format", "json", *rules, "-d", str(data), query],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
    result = json.loads(done.stdout)
    return [_outcome(sinks) for sinks in result["result"][0]["expressions"][0]["value"]]


def check_engines(recorded: list[tuple[dict[str, Any], str]]) -> bool:
    inputs = [document for document, _ in recorded]
    expected = [outcome for _, outcome in recorded]
    engines: dict[str, list[str] | None] = {
        "regopy": regopy_outcomes(inputs),
        "opa": opa_outcomes(inputs),
    }
    agree = True
    for name, outcomes in engines.items():
        if outcomes is None:
            print(f"{name}: not found, skipped")
            continue
        differ = [i for i, (a, b) in enumerate(zip(expected, outcomes, strict=True)) if a != b]
        print(f"{name}: {len(outcomes) - len(differ)}/{len(outcomes)} decisions equal to Python")
        for index in differ[:5]:
            print(
                f"  differs: {json.dumps(inputs[index])} python={expected[index]} {name}={outcomes[index]}"
            )
        agree = agree and not differ
    return agree
