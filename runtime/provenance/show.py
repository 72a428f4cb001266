"""Argument provenance as lines a person reads (`runtime policy eval`, `runtime runs show`).

Takes `input.provenance` in either policy input schema: schema 2 (`args[name]` is an
object with trust, sources, via, sink) or schema 1 (`args[name]` is a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["provenance_lines"]


def provenance_lines(provenance: Any) -> list[str]:
    """One line per argument: `to: untrusted, recipient sink, from tool:mail.inbox (value)`."""
    if not isinstance(provenance, Mapping):
        return []
    args = provenance.get("args")
    lines: list[str] = []
    for name, label in sorted(args.items()) if isinstance(args, Mapping) else []:
        if isinstance(label, Mapping):
            parts = [str(label.get("trust", "?"))]
            if label.get("sink"):
                task_only = ", the task must name it" if label.get("origin") == "task" else ""
                parts.append(f"{label['sink']} sink{task_only}")
            sources = label.get("sources") or []
            if sources:
                via = label.get("via") or []
                found = f" ({', '.join(str(v) for v in via)})" if via else ""
                parts.append(f"from {', '.join(str(s) for s in sources)}{found}")
            if label.get("task"):
                parts.append("named in the task")
            lines.append(f"{name}: {', '.join(parts)}")
        else:
            lines.append(f"{name}: {label}")
    if provenance.get("overflowed"):
        lines.append("(the run's label store forgot untrusted labels: unseen values are unknown)")
    return lines
