"""`python.run`: run Python code in the run's sandbox, with /workspace as the working dir."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runtime.models import Effect, Trust
from runtime.toolkit.base import Tool, ToolContext, ToolOutcome


class PythonRunArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=200_000)
    timeout_s: float | None = Field(default=None, gt=0, le=600)


def run_python(args: PythonRunArgs, ctx: ToolContext) -> ToolOutcome:
    timeout = min(filter(None, (args.timeout_s, ctx.call_timeout_s)), default=None)
    result = ctx.sandbox().run_python(args.code, timeout_s=timeout)
    text = result.stdout
    if result.stderr:
        text += ("\n" if text else "") + "[stderr]\n" + result.stderr
    if result.timed_out:
        text += f"\n[timed out after {timeout}s]"
    if result.truncated:
        text += "\n[output truncated]"
    # Code that reads the run's input files carries their trust into its output.
    trust = Trust.UNTRUSTED if ctx.input_files else Trust.TRUSTED
    return ToolOutcome(
        result=text,
        ok=result.exit_code == 0 and not result.timed_out,
        trust=trust,
        source="sandbox:python.run",
        exec_result=result,
    )


PYTHON_TOOLS = [
    Tool(
        name="python.run",
        effect=Effect.EXEC,
        description="Run Python 3 code in the sandbox; files go to /workspace.",
        args_model=PythonRunArgs,
        function=run_python,
        where="sandbox",
        trust=Trust.UNTRUSTED,  # the function labels each run (box-level taint)
    )
]
