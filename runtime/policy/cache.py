"""A bounded LRU cache of policy decisions.

Keys are the entrypoint, the policy version and the canonical JSON of the input (sorted
keys, no whitespace), so equal inputs hit whatever dict order they were built in, and a
policy change can never serve a stale decision. The authorizer also clears the cache when
the engine reports a new policy version, to free the memory of the old one.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from runtime.models import Decision


def canonical_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class DecisionCache:
    """Thread-safe LRU of Decisions; only real decisions go in, never fail-closed ones."""

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("DecisionCache maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Decision] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(entrypoint: str, policy_version: str, input_doc: Mapping[str, Any]) -> str:
        return f"{entrypoint}\0{policy_version}\0{canonical_json(input_doc)}"

    def get(self, key: str) -> Decision | None:
        with self._lock:
            decision = self._entries.get(key)
            if decision is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return decision

    def put(self, key: str, decision: Decision) -> None:
        with self._lock:
            self._entries[key] = decision
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
