"""Finding tools: the built-ins, a project's `tools/*.py`, and tools passed as objects.

A project's tools are found the way its teams are (`runtime/agents.py`): every
`tools/*.py` not starting with `_` is imported from its file (not as a package, so a
project's `tools/` never collides with an installed one) and every `Tool` it defines at
module level is registered. A name defined twice is an error, built-ins included.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from runtime.errors import ConfigError
from runtime.toolkit.base import Tool, ToolRegistry
from runtime.toolkit.builtins import builtin_tools


def discover_tools(tools_dir: Path) -> list[Tool]:
    """The tools defined in a project's `tools/*.py`; none when the folder is absent."""
    if not tools_dir.is_dir():
        return []
    found: dict[str, Tool] = {}
    for path in sorted(tools_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for value in vars(_import_file(path)).values():
            if isinstance(value, Tool):
                if value.name in found and found[value.name] is not value:
                    raise ConfigError(f"tool {value.name!r} is defined twice ({path})")
                found[value.name] = value
    return list(found.values())


def project_registry(project_dir: Path, extra: Iterable[Tool] = ()) -> ToolRegistry:
    """Built-ins, then the project's `tools/`, then tools passed as objects."""
    registry = ToolRegistry(builtin_tools())
    return registry.with_tools([*discover_tools(project_dir / "tools"), *extra])


def _import_file(path: Path) -> object:
    # One module per file, like agents/: a project's tools/ is never imported as a package.
    module_name = f"_runtime_tools_{path.stem}_{abs(hash(str(path.resolve())))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        del sys.modules[module_name]
        raise ConfigError(f"{path}: {exc}") from exc
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module
