"""Stages built on first use: Docker only when a sandboxed call is allowed, Chroma only when
memory is used.

The pipeline is handed these stand-ins instead of the real backend and store, so a run
whose tools are all host-side never connects to the Docker engine (and runs on a machine
without one), and a run that never touches memory never opens Chroma. Each stand-in
meets its stage's Protocol and builds the real part through the Runtime's own factory
(which also registers it for `close`), once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from runtime.memory.base import MemoryStore
from runtime.models import MemoryProvenance, MemoryRecord
from runtime.sandbox.base import Sandbox, SandboxBackend

T = TypeVar("T")


class _Once(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
        return self._value

    @property
    def built(self) -> bool:
        return self._value is not None


class LazySandboxBackend:
    """A SandboxBackend that starts the real one on the first `acquire`."""

    def __init__(self, factory: Callable[[], SandboxBackend]) -> None:
        self._backend = _Once(factory)

    def acquire(self, run_id: str) -> Sandbox:
        return self._backend.get().acquire(run_id)

    def release(self, sandbox: Sandbox) -> None:
        self._backend.get().release(sandbox)

    def prune(self) -> int:
        return self._backend.get().prune() if self._backend.built else 0

    def isolation(self) -> str:
        return self._backend.get().isolation()

    def close(self) -> None:
        if self._backend.built:
            self._backend.get().close()


class LazyMemory:
    """A MemoryStore that opens the real one on first use."""

    def __init__(self, factory: Callable[[], MemoryStore]) -> None:
        self._store = _Once(factory)

    def put(
        self,
        namespace: str,
        text: str,
        provenance: MemoryProvenance,
        *,
        record_id: str | None = None,
    ) -> MemoryRecord:
        return self._store.get().put(namespace, text, provenance, record_id=record_id)

    def search(self, namespace: str, query: str, k: int = 5) -> list[MemoryRecord]:
        return self._store.get().search(namespace, query, k)

    def namespaces(self) -> list[str]:
        return self._store.get().namespaces()

    def drop(self, namespace: str) -> None:
        self._store.get().drop(namespace)
