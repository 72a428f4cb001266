"""Tool registry: the tools a run may propose, their effect class and argument schema.

The definitions live in `runtime/toolkit/` (the `Tool` object, `@tool`, discovery, the
sandbox shim, obligations, the built-ins); this module is the stable import path the
pipeline, graph and staging use. Tools never commit: they return a ToolOutcome whose
staged effects the safety node sees before the commit.
"""

from __future__ import annotations

from runtime.toolkit.base import (
    HostFunction,
    StagedMemoryWrite,
    Tool,
    ToolContext,
    ToolOutcome,
    ToolRegistry,
    Where,
)
from runtime.toolkit.builtins import builtin_tools
from runtime.toolkit.define import tool
from runtime.toolkit.discovery import discover_tools, project_registry

ToolFunction = HostFunction


def builtin_registry() -> ToolRegistry:
    """The built-in tools only (a project's `tools/` is added by `project_registry`)."""
    return ToolRegistry(builtin_tools())


__all__ = [
    "StagedMemoryWrite",
    "Tool",
    "ToolContext",
    "ToolFunction",
    "ToolOutcome",
    "ToolRegistry",
    "Where",
    "builtin_registry",
    "builtin_tools",
    "discover_tools",
    "project_registry",
    "tool",
]
