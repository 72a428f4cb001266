"""Both engines over a copy of rego/ whose data differs from the shipped data.

The conformance suites use it to check that the engines (and the Python safety rules)
also agree under the other settings a user may choose, not only the shipped ones.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine


@contextmanager
def patched_engines(
    policy_dir: Path,
    target: Path,
    opa_binary: Path,
    patch: Callable[[dict[str, Any]], None],
) -> Iterator[tuple[OpaServerEngine, EmbeddedEngine]]:
    """An OPA server and an embedded engine over `target`, a copy of `policy_dir` whose
    `runtime_data` was changed by `patch`; both closed on exit."""
    shutil.copytree(policy_dir, target, ignore=shutil.ignore_patterns("*_test.rego"))
    data = json.loads((target / "data.json").read_text(encoding="utf-8"))
    patch(data["runtime_data"])
    (target / "data.json").write_text(json.dumps(data), encoding="utf-8")
    opa = OpaServerEngine(target, opa_binary=opa_binary)
    try:
        embedded = EmbeddedEngine(target)
        try:
            yield opa, embedded
        finally:
            embedded.close()
    finally:
        opa.close()
