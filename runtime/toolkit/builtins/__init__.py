"""The built-in tools, one module per family, registered like a user's tools.

Owns: `python.run`, `fs.read`, `fs.write`, `fs.list`, `memory.put`, `memory.search`. They
live under the `runtime` namespace (not a top-level `tools` package) so the wheel never
shadows, or is shadowed by, a project's own `tools/` folder.
"""

from __future__ import annotations

from runtime.toolkit.base import Tool


def builtin_tools() -> list[Tool]:
    """Every built-in tool (imported on first use, so `runtime.tools` has no cycle)."""
    from runtime.toolkit.builtins.fs import FS_TOOLS
    from runtime.toolkit.builtins.fs_list import list_files
    from runtime.toolkit.builtins.memory import MEMORY_TOOLS
    from runtime.toolkit.builtins.python import PYTHON_TOOLS

    return [*PYTHON_TOOLS, *FS_TOOLS, list_files, *MEMORY_TOOLS]
