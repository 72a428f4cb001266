"""`fs.read` and `fs.write`: files in the run's /workspace, staged inside the sandbox.

Writes land in the box only; the pipeline copies them to the output folder on commit, after
the safety check. Files supplied with `--input` are untrusted content when read back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runtime.models import Effect, Trust
from runtime.toolkit.base import Tool, ToolContext, ToolOutcome

MAX_READ_BYTES = 256 * 1024


class ReadArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=1024)


class WriteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=1024)
    content: str = Field(max_length=8 * 1024 * 1024)


def read_file(args: ReadArgs, ctx: ToolContext) -> ToolOutcome:
    data = ctx.sandbox().read_file(args.path)
    text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_READ_BYTES:
        text += f"\n[truncated: {len(data)} bytes]"
    normalized = args.path.removeprefix("./")
    from_input = normalized in ctx.input_files
    return ToolOutcome(
        result=text,
        trust=Trust.UNTRUSTED if from_input else Trust.TRUSTED,
        source=f"input:{normalized}" if from_input else f"workspace:{normalized}",
    )


def write_file(args: WriteArgs, ctx: ToolContext) -> ToolOutcome:
    data = args.content.encode()
    ctx.sandbox().write_file(args.path, data)
    return ToolOutcome(result=f"staged {len(data)} bytes to {args.path}")


FS_TOOLS = [
    Tool(
        name="fs.read",
        effect=Effect.READ,
        description="Read a text file from /workspace.",
        args_model=ReadArgs,
        function=read_file,
        where="sandbox",
        trust=Trust.UNTRUSTED,  # files from --input are; the function labels each read
    ),
    Tool(
        name="fs.write",
        effect=Effect.WRITE,
        description="Write a text file to /workspace; it reaches the output folder on commit.",
        args_model=WriteArgs,
        function=write_file,
        where="sandbox",
        trust=Trust.TRUSTED,
    ),
]
