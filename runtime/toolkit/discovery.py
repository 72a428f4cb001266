"""Finding tools: the built-ins, a project's `tools/*.py`, and tools passed as objects.

A project's tools are found the way its teams are (`runtime/agents.py`): every
`tools/*.py` not starting with `_` is imported from its file (not as a package, so a
project's `tools/` never collides with an installed one) and every `Tool` it defines at
module level is registered. A name defined twice is an error, built-ins included.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from runtime.errors import ConfigError
from runtime.project_modules import project_modules
from runtime.toolkit.base import Tool, ToolRegistry
from runtime.toolkit.builtins import builtin_tools


def discover_tools(tools_dir: Path) -> list[Tool]:
    """The tools defined in a project's `tools/*.py`; none when the folder is absent."""
    if not tools_dir.is_dir():
        return []
    found: dict[str, Tool] = {}
    for path, module in project_modules(tools_dir, "tools"):
        for value in vars(module).values():
            if isinstance(value, Tool):
                if value.name in found and found[value.name] is not value:
                    raise ConfigError(f"tool {value.name!r} is defined twice ({path})")
                found[value.name] = value
    return list(found.values())


def project_registry(project_dir: Path, extra: Iterable[Tool] = ()) -> ToolRegistry:
    """Built-ins, then the project's `tools/`, then tools passed as objects."""
    registry = ToolRegistry(builtin_tools())
    return registry.with_tools([*discover_tools(project_dir / "tools"), *extra])
