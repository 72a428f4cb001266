"""Sandbox latency figures, side by side: `python bench/bench_sandbox.py`.

Prints a table and asserts nothing. Measures: acquiring a box from the warm pool vs a cold
start; one trivial call through the in-box executor vs `docker exec` vs a new container per
call; and 20 concurrent runs (threads) with latency percentiles.
Targets (docs/sandbox.md): pool acquire p50 < 5 ms; executor round trip p50 < 5 ms and at
least 20x faster than `docker exec`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.sandbox.base import SandboxLimits, SandboxSpec
from runtime.sandbox.docker import DockerBackend, connect
from runtime.sandbox.image import ensure_image

LIMITS = SandboxLimits(memory_mb=256, pids=128, call_timeout_s=30)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


Row = tuple[str, list[float]]


def bench_acquire(client: Any, image: str, repeat: int) -> list[Row]:
    spec = SandboxSpec(image=image, limits=LIMITS)
    cold: list[float] = []
    with DockerBackend(client, spec) as backend:
        for index in range(repeat):
            start = time.perf_counter()
            box = backend.acquire(f"bench-cold-{index}")
            cold.append((time.perf_counter() - start) * 1000)
            backend.release(box)
    warm: list[float] = []
    with DockerBackend(client, spec, pool_size=2) as backend:
        for index in range(repeat):
            backend.wait_for_pool(60)
            start = time.perf_counter()
            box = backend.acquire(f"bench-warm-{index}")
            warm.append((time.perf_counter() - start) * 1000)
            backend.release(box)
    return [("acquire: warm pool (incl. health ping)", warm), ("acquire: cold start", cold)]


def bench_calls(client: Any, image: str, repeat: int) -> list[Row]:
    spec = SandboxSpec(image=image, limits=LIMITS)
    with DockerBackend(client, spec) as backend:
        box = backend.acquire("bench-calls")
        box.ping()
        ping = timed(box.ping, repeat * 10)
        run_true = timed(lambda: box.run_command(["true"]), repeat)
        python = timed(lambda: box.run_python("pass"), max(5, repeat // 4))
        container = client.containers.get(box.id)
        exec_true = timed(lambda: container.exec_run(["true"]), max(5, repeat // 2))
        backend.release(box)
    options = backend.container_options("bench-run-rm")
    host_config = options["host_config"]

    def new_container() -> None:
        created = client.api.create_container(
            image,
            command=["true"],
            user=options["user"],
            labels=options["labels"],
            host_config=host_config,
        )
        client.api.start(created["Id"])
        client.api.wait(created["Id"])
        client.api.remove_container(created["Id"], force=True)

    run_rm = timed(new_container, max(3, repeat // 10))
    return [
        ("call: executor ping (round trip)", ping),
        ("call: executor run ['true']", run_true),
        ("call: executor run_python 'pass'", python),
        ("call: docker exec ['true']", exec_true),
        ("call: docker run --rm ['true']", run_rm),
    ]


def bench_concurrent(client: Any, image: str, runs: int, calls: int) -> tuple[list[Row], int]:
    spec = SandboxSpec(image=image, limits=SandboxLimits(memory_mb=128, pids=64))
    call_ms: list[float] = []
    acquire_ms: list[float] = []
    run_ms: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    with DockerBackend(client, spec, pool_size=4) as backend:
        backend.wait_for_pool(60)

        def one_run(index: int) -> None:
            try:
                begin = time.perf_counter()
                box = backend.acquire(f"bench-concurrent-{index}")
                acquired = time.perf_counter()
                local = []
                try:
                    for _ in range(calls):
                        start = time.perf_counter()
                        result = box.run_command(["true"])
                        local.append((time.perf_counter() - start) * 1000)
                        if result.exit_code != 0:
                            raise RuntimeError(f"exit {result.exit_code}")
                finally:
                    backend.release(box)
                with lock:
                    acquire_ms.append((acquired - begin) * 1000)
                    call_ms.extend(local)
                    run_ms.append((time.perf_counter() - begin) * 1000)
            except BaseException as exc:
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=one_run, args=(i,)) for i in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    rows = [
        (f"{runs} concurrent: acquire", acquire_ms),
        (f"{runs} concurrent: executor call", call_ms),
        (f"{runs} concurrent: whole run ({calls} calls)", run_ms),
    ]
    return rows, len(errors)


def print_table(rows: list[Row]) -> None:
    print(f"{'measure':46} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
    for name, samples in rows:
        if not samples:
            print(f"{name:46} {0:>5} {'-':>9} {'-':>9} {'-':>9} {'-':>9}")
            continue
        print(
            f"{name:46} {len(samples):>5} {percentile(samples, 0.5):>9.2f} "
            f"{percentile(samples, 0.95):>9.2f} {percentile(samples, 0.99):>9.2f} "
            f"{statistics.fmean(samples):>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    client = connect()
    image = ensure_image(client, lambda message: print(f"[image] {message}"))
    rows = bench_acquire(client, image, max(10, args.repeat // 2))
    rows += bench_calls(client, image, args.repeat)
    concurrent, errors = bench_concurrent(client, image, args.runs, args.calls)
    rows += concurrent
    print()
    print_table(rows)
    medians = {name: percentile(samples, 0.5) for name, samples in rows if samples}
    ping = medians["call: executor ping (round trip)"]
    run_true = medians["call: executor run ['true']"]
    docker_exec = medians["call: docker exec ['true']"]
    run_rm = medians["call: docker run --rm ['true']"]
    print()
    print("ratios of p50 (higher = the executor is faster):")
    print(f"  docker exec ['true'] / executor ping         {docker_exec / ping:8.1f}x")
    print(f"  docker exec ['true'] / executor run ['true'] {docker_exec / run_true:8.1f}x")
    print(f"  docker run --rm      / executor ping         {run_rm / ping:8.1f}x")
    print(f"  docker run --rm      / executor run ['true'] {run_rm / run_true:8.1f}x")
    warm = medians["acquire: warm pool (incl. health ping)"]
    cold = medians["acquire: cold start"]
    print(f"  cold start / warm pool acquire               {cold / warm:8.1f}x")
    print(f"concurrent runs with errors: {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
