"""`fs.list`: the files under a folder of /workspace, listed inside the box.

A sandboxed tool written the way a user writes one: this module is shipped into the run's
box and `list_files` runs there, so it imports only the standard library and `runtime`.
Names of files given with `--input` are untrusted (box-level taint), like their content.
"""

from __future__ import annotations

import os

from runtime.toolkit import tool

MAX_ENTRIES = 1000


@tool(name="fs.list", effect="read", where="sandbox", trust="trusted")
def list_files(path: str = ".") -> list[str]:
    """List the files under a folder of /workspace (relative paths, sorted)."""
    root = os.path.realpath(os.path.join("/workspace", path))
    if root != "/workspace" and not root.startswith("/workspace/"):
        raise ValueError(f"{path} is outside /workspace")
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(folder, name), "/workspace"))
            if len(found) >= MAX_ENTRIES:
                return [*found, f"[stopped at {MAX_ENTRIES} files]"]
    return found
