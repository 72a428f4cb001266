"""Tools: what an agent may propose, described as typed objects the pipeline can gate.

Owns: the `Tool` object (name, effect class, where it runs, output trust, argument model),
the `@tool` decorator over a typed function, the registry a run uses, the discovery of a
project's `tools/*.py`, shipping a sandboxed tool's module into the box, and the policy
obligations that shape a tool's output. The built-in tools live in `builtins/` and are
registered through the same path as a user's. Never authorizes, checks or commits: a tool
returns a `ToolOutcome` whose staged effects the pipeline gates.
"""

from runtime.toolkit.base import (
    StagedMemoryWrite,
    Tool,
    ToolContext,
    ToolOutcome,
    ToolRegistry,
    Where,
)
from runtime.toolkit.define import tool

__all__ = [
    "StagedMemoryWrite",
    "Tool",
    "ToolContext",
    "ToolOutcome",
    "ToolRegistry",
    "Where",
    "tool",
]
