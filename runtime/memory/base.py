"""The memory seam: namespaced records with provenance; policy is asked by the caller."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from runtime.models import MemoryProvenance, MemoryRecord


@runtime_checkable
class MemoryStore(Protocol):
    """Namespaced vector memory. Isolation holds at the storage level: one collection per
    namespace, so no query can reach another namespace's records."""

    def put(
        self,
        namespace: str,
        text: str,
        provenance: MemoryProvenance,
        *,
        record_id: str | None = None,
    ) -> MemoryRecord:
        """Store a record; a given `record_id` makes the write idempotent (same id, one record)."""
        ...

    def search(self, namespace: str, query: str, k: int = 5) -> list[MemoryRecord]: ...

    def namespaces(self) -> list[str]: ...

    def drop(self, namespace: str) -> None: ...
