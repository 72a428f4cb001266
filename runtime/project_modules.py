"""A project's own Python files (`agents/*.py`, `tools/*.py`), each imported as a module.

Each file not starting with `_` is imported from its path under a private module name, not
as a package, so a project's `agents/` or `tools/` never collides with an installed package
of that name; importing it again returns the module already loaded. An error inside a file
is one `ConfigError` naming it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from pydantic import ValidationError

from runtime.errors import ConfigError

# A module is in sys.modules before its code has run: without the lock, a second thread
# (several runs at once) could take a half-executed module and find no team in it.
_IMPORTING = threading.RLock()


def project_modules(folder: Path, kind: str) -> Iterator[tuple[Path, ModuleType]]:
    """Each `folder/*.py` not starting with `_`, sorted, with its module; `kind` ("agents",
    "tools") keeps the module names of the two folders apart."""
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            yield path, import_file(path, kind)


def import_file(path: Path, kind: str) -> ModuleType:
    with _IMPORTING:
        return _import_file(path, kind)


def _import_file(path: Path, kind: str) -> ModuleType:
    module_name = f"_runtime_{kind}_{path.stem}_{abs(hash(str(path.resolve())))}"
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        del sys.modules[module_name]
        if str(path) in str(exc):
            raise
        raise ConfigError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        del sys.modules[module_name]
        detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: {detail}") from exc
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module
