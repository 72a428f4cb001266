"""Decide the suite's recorded policy inputs with the Rego sink rule on both engines.

The Python rule (`runtime.provenance.judge`) and `rego/sinks.rego` beside this file must
agree on every input: regopy in process, one query per input; OPA (if `opa` is on PATH)
in one `opa eval` over all inputs at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

RULE = Path(__file__).parent / "rego" / "sinks.rego"
QUERY = "data.runtime.sinks.decision"


def regopy_outcomes(inputs: list[dict[str, Any]]) -> list[str]:
    import regopy

    interpreter = regopy.Interpreter()
    interpreter.add_module("sinks.rego", RULE.read_text())
    outcomes = []
    for document in inputs:
        interpreter.set_input_term(json.dumps(document, ensure_ascii=False))
        result = json.loads(str(interpreter.query(QUERY)))
        outcomes.append(result["expressions"][0]["outcome"] if "expressions" in result else
                        result[0]["expressions"][0]["outcome"])  # fmt: skip
    return outcomes


def opa_outcomes(inputs: list[dict[str, Any]], opa: str | None = None) -> list[str] | None:
    opa = opa or shutil.which("opa") or str(Path.home() / "go" / "bin" / "opa")
    if not Path(opa).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "inputs.json"
        data.write_text(json.dumps({"suite_inputs": inputs}, ensure_ascii=False))
        query = f"[d | some doc in data.suite_inputs; d := {QUERY}.outcome with input as doc]"
        done = subprocess.run(
            [opa, "eval", "--format", "json", "-d", str(RULE), "-d", str(data), query],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
    result = json.loads(done.stdout)
    return list(result["result"][0]["expressions"][0]["value"])


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
