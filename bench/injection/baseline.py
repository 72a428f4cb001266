"""The line taint this package replaces, to measure the suite against it.

A copy of the rule `runtime/pipeline.py` applied before (`label_args` and
`_remember_untrusted`): an argument is untrusted when it contains a line (16+ characters)
of untrusted output or an `@`/`://` word of one; the built-in policy asks for approval
when a side-effecting call has an untrusted argument, and for every fetch (egress).
Structured results are rendered as indented JSON, one field per line, as a tool would
print them.
"""

from __future__ import annotations

import json
from typing import Any

MIN_FRAGMENT = 16


class LineTaint:
    def __init__(self) -> None:
        self.fragments: list[str] = []

    def add_output(self, result: Any, trust: Any) -> None:
        if trust == "trusted":
            return  # a per-field map counts as untrusted, as the old outcome had one label
        text = (
            result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, indent=1)
        )
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= MIN_FRAGMENT and line not in self.fragments:
                self.fragments.append(line)
            for word in line.split():
                if ("@" in word or "://" in word) and len(word) >= 6:
                    self.fragments.append(word.strip(".,;:'\"()<>"))

    def decide(self, effect: str, args: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        if effect == "egress":
            return "require_approval", ("every fetch needs approval",)
        if effect not in ("write", "external"):
            return "allow", ()
        tainted = sorted(
            name
            for name, value in args.items()
            if any(fragment in (value if isinstance(value, str) else repr(value))
                   for fragment in self.fragments)
        )  # fmt: skip
        if tainted:
            return "require_approval", (f"untrusted arguments ({', '.join(tainted)})",)
        return "allow", ()
