"""Running a sandboxed Python tool inside the run's box.

The host never runs the tool's code: it sends the executor (`run_python`) a small shim that
carries the tool's module source and the validated arguments as JSON. In the box the shim
stands up a stand-in `runtime` module (where `@tool` returns the function unchanged, since
pydantic and the runtime are not installed there), executes the module, calls the function
and prints one line: a per-call marker followed by the JSON result. A sandboxed tool's
module may therefore import only the standard library and `runtime` (for `tool`).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from pydantic import BaseModel

from runtime.models import Effect, Trust
from runtime.toolkit.base import Tool, ToolContext, ToolOutcome
from runtime.toolkit.define import outcome_from_value

_SHIM = """
import io, json, sys, types

def _tool(function=None, /, **_declared):
    return function if function is not None else (lambda f: f)

_stub = types.ModuleType("runtime")
_stub.tool = _tool
_stub.Effect = type("Effect", (), {n.upper(): n for n in EFFECTS})
_stub.Trust = type("Trust", (), {"TRUSTED": "trusted", "UNTRUSTED": "untrusted"})
_stub.ToolContext = None
for _name in ("runtime", "runtime.toolkit", "runtime.tools"):
    sys.modules[_name] = _stub

_module = types.ModuleType(MODULE)
_module.__file__ = FILENAME
sys.modules[MODULE] = _module
_real_stdout, sys.stdout = sys.stdout, io.StringIO()
try:
    exec(compile(SOURCE, FILENAME, "exec"), _module.__dict__)
    _value = getattr(_module, FUNCTION)(**ARGS)
    _answer = {"ok": True, "value": _value, "printed": sys.stdout.getvalue()}
except BaseException as _exc:
    _answer = {"ok": False, "error": type(_exc).__name__ + ": " + str(_exc)}
sys.stdout = _real_stdout
try:
    _line = json.dumps(_answer, ensure_ascii=False)
except (TypeError, ValueError) as _exc:
    _line = json.dumps({"ok": False, "error": "the result is not JSON: " + str(_exc)})
sys.stdout.write("\\n" + MARKER + _line + "\\n")
"""


def shim(tool: Tool, args: dict[str, Any], marker: str) -> str:
    """The Python program the box runs for one call of a sandboxed tool."""
    assert tool.code is not None
    constants = {
        "MODULE": tool.code.module_name,
        "FILENAME": f"tools/{tool.code.filename}",
        "SOURCE": tool.code.source,
        "FUNCTION": tool.code.function,
        "MARKER": marker,
        "EFFECTS": [effect.value for effect in Effect],
    }
    header = "".join(f"{key} = {value!r}\n" for key, value in constants.items())
    # JSON is valid Python for these values only after json.loads: keep it a string.
    header += f"ARGS = __import__('json').loads({json.dumps(args)!r})\n"
    return header + _SHIM


def run_in_sandbox(tool: Tool, args: BaseModel, ctx: ToolContext) -> ToolOutcome:
    marker = f"@@tool-result-{secrets.token_hex(8)}@@"
    code = shim(tool, args.model_dump(mode="json"), marker)
    result = ctx.sandbox().run_python(code, timeout_s=ctx.call_timeout_s)
    # Box-level taint: code that can read the run's (untrusted) input files may carry
    # them into what it returns, whatever the tool declares.
    trust = Trust.UNTRUSTED if ctx.input_files else tool.trust
    answer = _answer(result.stdout, marker)
    if result.timed_out:
        why = f"timed out after {ctx.call_timeout_s}s"
    elif answer is None:
        why = (
            "the result was over the sandbox's output cap"
            if result.truncated
            else f"the box gave no result (exit {result.exit_code}): {result.stderr[-500:]}"
        )
    elif not answer.get("ok"):
        why = str(answer.get("error"))
    else:
        field_trust = {} if ctx.input_files else tool.field_trust
        outcome = outcome_from_value(tool.name, answer.get("value"), trust, field_trust)
        outcome.source = f"sandbox:{tool.name}"
        outcome.exec_result = result
        return outcome
    return ToolOutcome(
        result=f"tool {tool.name} failed in the sandbox: {why}",
        ok=False,
        trust=trust,
        source=f"sandbox:{tool.name}",
        exec_result=result,
    )


def _answer(stdout: str, marker: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker):
            try:
                answer = json.loads(line[len(marker) :])
            except ValueError:
                return None
            return answer if isinstance(answer, dict) else None
    return None
