"""The warm pool: boxes started and health-checked ahead of time, refilled in the background.

Owns: keeping up to N ready boxes, handing each out at most once (a box never serves two
runs), refilling after every take, and removing everything it started on close. It knows
nothing about Docker: it calls a factory to start a box and a discard to remove one.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
# After a take, let the taker finish its health ping before the refill thread starts
# building a container: both need the GIL, and the switch interval is 5 ms.
REFILL_DELAY_S = 0.02


class WarmPool(Generic[T]):
    """Up to `size` ready boxes; `take()` never blocks and never returns a box twice."""

    def __init__(
        self,
        factory: Callable[[], T],
        size: int,
        discard: Callable[[T], None],
        *,
        name: str = "agent-runtime-sandbox-pool",
        refill_delay_s: float = REFILL_DELAY_S,
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self._factory = factory
        self._discard = discard
        self._size = size
        self._refill_delay_s = refill_delay_s
        self._ready: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.last_error: BaseException | None = None
        self.started = 0
        self._thread = threading.Thread(target=self._refill_loop, name=name, daemon=True)
        self._thread.start()

    @property
    def size(self) -> int:
        return self._size

    def ready_count(self) -> int:
        with self._cond:
            return len(self._ready)

    def take(self) -> T | None:
        """A ready box, or None when the pool is empty (the caller cold-starts)."""
        with self._cond:
            if self._closed or not self._ready:
                self._cond.notify_all()
                return None
            box = self._ready.popleft()
            self._cond.notify_all()
            return box

    def wait_full(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._ready) < self._size and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not self._closed

    def close(self) -> None:
        """Stop refilling and remove every box still waiting in the pool."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=60)
        with self._cond:
            leftovers = list(self._ready)
            self._ready.clear()
        for box in leftovers:
            self._safe_discard(box)

    def _safe_discard(self, box: T) -> None:
        try:
            self._discard(box)
        except Exception as exc:  # keep closing the rest
            self.last_error = exc

    def _refill_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self._size:
                    self._cond.wait()
                if self._closed:
                    return
                if self._ready:  # not starved: a short pause costs nothing
                    self._cond.wait_for(lambda: self._closed, timeout=self._refill_delay_s)
                    if self._closed:
                        return
            try:
                box = self._factory()
            except Exception as exc:
                self.last_error = exc
                delay = RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)]
                failures += 1
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, timeout=delay)
                continue
            failures = 0
            with self._cond:
                if not self._closed:
                    self._ready.append(box)
                    self.started += 1
                    self._cond.notify_all()
                    continue
            self._safe_discard(box)  # closed while the box was starting
            return


__all__ = ["WarmPool"]
