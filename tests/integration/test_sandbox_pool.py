"""The warm pool's promises, with a fake factory (no Docker needed)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from runtime.sandbox.pool import WarmPool


class Boxes:
    """A factory that numbers its boxes and records which were discarded."""

    def __init__(self, fail_first: int = 0) -> None:
        self.counter = itertools.count(1)
        self.discarded: list[int] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def start(self) -> int:
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                raise OSError("engine hiccup")
            return next(self.counter)

    def discard(self, box: int) -> None:
        with self.lock:
            self.discarded.append(box)


def test_pool_fills_to_size_and_refills_after_each_take() -> None:
    boxes = Boxes()
    pool = WarmPool(boxes.start, 3, boxes.discard, refill_delay_s=0)
    try:
        assert pool.wait_full(5)
        taken = [pool.take() for _ in range(3)]
        assert taken == [1, 2, 3]
        assert pool.wait_full(5)
        assert pool.ready_count() == 3
    finally:
        pool.close()


def test_a_box_is_never_handed_out_twice() -> None:
    boxes = Boxes()
    pool = WarmPool(boxes.start, 2, boxes.discard, refill_delay_s=0)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 5
        while len(seen) < 20 and time.monotonic() < deadline:
            box = pool.take()
            if box is not None:
                seen.append(box)
        assert len(seen) == 20
        assert len(set(seen)) == len(seen)
    finally:
        pool.close()


def test_empty_pool_returns_none_instead_of_blocking() -> None:
    release = threading.Event()
    pool: WarmPool[int] = WarmPool(lambda: release.wait(5) and 1, 1, lambda box: None)
    try:
        start = time.monotonic()
        assert pool.take() is None
        assert time.monotonic() - start < 0.1
    finally:
        release.set()
        pool.close()


def test_close_discards_every_ready_box() -> None:
    boxes = Boxes()
    pool = WarmPool(boxes.start, 3, boxes.discard)
    assert pool.wait_full(5)
    pool.close()
    assert sorted(boxes.discarded) == [1, 2, 3]
    assert pool.take() is None


def test_factory_failures_are_retried_and_recorded() -> None:
    boxes = Boxes(fail_first=1)
    pool = WarmPool(boxes.start, 1, boxes.discard)
    try:
        assert pool.wait_full(5)
        assert isinstance(pool.last_error, OSError)
    finally:
        pool.close()


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pool size must be at least 1"):
        WarmPool(lambda: 1, 0, lambda box: None)
