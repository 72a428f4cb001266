"""`memory.put` and `memory.search`: namespaced memory, brokered host-side.

The store lives on the host (Chroma on disk), so these tools do not enter the sandbox; the
pipeline authorizes the namespace with `runtime.memory`, and a put is staged for the safety
check and written only on commit.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runtime.models import Effect, Trust
from runtime.toolkit.base import StagedMemoryWrite, Tool, ToolContext, ToolOutcome


class PutArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=64 * 1024)
    namespace: str | None = None
    source: str = "agent"


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4096)
    namespace: str | None = None
    k: int = Field(default=5, ge=1, le=50)


def put(args: PutArgs, ctx: ToolContext) -> ToolOutcome:
    namespace = args.namespace or ctx.own_namespace()
    staged = StagedMemoryWrite(
        namespace=namespace, text=args.text, source=args.source, trust=Trust.TRUSTED
    )
    return ToolOutcome(result=f"staged a memory in {namespace}", memory_writes=[staged])


def search(args: SearchArgs, ctx: ToolContext) -> ToolOutcome:
    namespace = args.namespace or ctx.own_namespace()
    hits = ctx.memory_search(namespace, args.query, args.k)
    lines = [f"[{h['trust']} from {h['writer_agent']}] {h['text']}" for h in hits]
    untrusted = any(h["trust"] == Trust.UNTRUSTED for h in hits)
    return ToolOutcome(
        result="\n".join(lines) if lines else "no memories found",
        trust=Trust.UNTRUSTED if untrusted else Trust.TRUSTED,
        source=f"memory:{namespace}",
    )


MEMORY_TOOLS = [
    Tool(
        name="memory.put",
        effect=Effect.WRITE,
        description="Remember a piece of text in your memory namespace.",
        args_model=PutArgs,
        function=put,
        where="brokered",
        trust=Trust.TRUSTED,
    ),
    Tool(
        name="memory.search",
        effect=Effect.READ,
        description="Search your memory namespace for related text.",
        args_model=SearchArgs,
        function=search,
        where="brokered",
        trust=Trust.UNTRUSTED,  # a recall keeps the label it was written with
    ),
]
