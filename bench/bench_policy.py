"""Policy decision latency: OPA server (through the engine and raw), embedded, cached or not.

    python bench/bench_policy.py [--n 2000]

Prints a table of p50 / p99 / mean in milliseconds; asserts nothing. Needs the OPA binary
for the server rows (they are skipped with a note when it is missing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from runtime.errors import OpaUnavailable
from runtime.policy.authorizer import Authorizer
from runtime.policy.base import AUTHZ_ENTRYPOINT
from runtime.policy.cache import DecisionCache
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine

POLICY_DIR = Path(__file__).resolve().parents[1] / "rego"

INPUT: dict[str, Any] = {
    "schema_version": "1",
    "subject": {"agent": "coder", "team": "analyst", "roles": ["analyst"], "tenant": "acme"},
    "action": {
        "tool": "fs.write",
        "effect": "write",
        "args": {"path": "out/report.md", "content": "# Top 5 regions\n" * 20},
    },
    "provenance": {"args": {"path": "trusted", "content": "trusted"}, "untrusted_sources_seen": []},
    "context": {
        "run_id": "r1",
        "step": 7,
        "task": "Summarise sales.csv",
        "calls_so_far": {"fs.write": 2},
    },
    "risk": {"score": 0.2},
}


def measure(call: Callable[[], Any], n: int, warmup: int = 100) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_keepalive(url: str) -> Callable[[], Any]:
    """The same query on one keep-alive http.client connection: the floor for a REST call."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    body = json.dumps({"input": INPUT})
    headers = {"Content-Type": "application/json"}

    def call() -> Any:
        connection.request("POST", f"/v1/data/{AUTHZ_ENTRYPOINT}", body, headers)
        return json.loads(connection.getresponse().read())

    return call


def raw_session(url: str) -> Callable[[], Any]:
    """The same query on a bare requests.Session (what opa-python-client uses inside)."""
    session = requests.Session()
    target = f"{url}/v1/data/{AUTHZ_ENTRYPOINT}"

    def call() -> Any:
        return session.post(target, json={"input": INPUT}, timeout=5).json()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    options = parser.parse_args()
    rows: list[tuple[str, list[float]]] = []
    notes: list[str] = []

    embedded = EmbeddedEngine(POLICY_DIR)
    rows.append(
        (
            "embedded: engine.evaluate",
            measure(lambda: embedded.evaluate(AUTHZ_ENTRYPOINT, INPUT), options.n),
        )
    )
    uncached = Authorizer(embedded)
    rows.append(
        ("embedded: authorize, no cache", measure(lambda: uncached.authorize(INPUT), options.n))
    )
    cached = Authorizer(embedded, DecisionCache())
    rows.append(
        ("embedded: authorize, cache hit", measure(lambda: cached.authorize(INPUT), options.n))
    )

    server: OpaServerEngine | None = None
    try:
        server = OpaServerEngine(POLICY_DIR)
    except OpaUnavailable as exc:
        notes.append(f"OPA server rows skipped: {exc}")
    if server is not None:
        try:
            engine = server
            rows.append(
                ("opa: raw http.client keep-alive", measure(raw_keepalive(engine.url), options.n))
            )
            rows.append(("opa: raw requests.Session", measure(raw_session(engine.url), options.n)))
            rows.append(
                (
                    "opa: engine.evaluate (pooled http.client)",
                    measure(lambda: engine.evaluate(AUTHZ_ENTRYPOINT, INPUT), options.n),
                )
            )
            via_client = OpaServerEngine(url=engine.url, query_client="opa_client")
            try:
                rows.append(
                    (
                        "opa: engine.evaluate (opa_client)",
                        measure(lambda: via_client.evaluate(AUTHZ_ENTRYPOINT, INPUT), options.n),
                    )
                )
            finally:
                via_client.close()
            server_uncached = Authorizer(engine)
            rows.append(
                (
                    "opa: authorize, no cache",
                    measure(lambda: server_uncached.authorize(INPUT), options.n),
                )
            )
            server_cached = Authorizer(engine, DecisionCache())
            rows.append(
                (
                    "opa: authorize, cache hit",
                    measure(lambda: server_cached.authorize(INPUT), options.n),
                )
            )
        finally:
            server.close()

    width = max(len(name) for name, _ in rows)
    print(f"policy decision latency, n={options.n} per row (ms)")
    print(f"{'path':<{width}}  {'p50':>8}  {'p99':>8}  {'mean':>8}")
    for name, samples in rows:
        print(
            f"{name:<{width}}  {percentile(samples, 0.50):8.3f}  {percentile(samples, 0.99):8.3f}"
            f"  {statistics.fmean(samples):8.3f}"
        )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
