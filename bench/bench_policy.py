"""Policy decision latency: embedded, OPA server and raw REST, uncached and cached.

    python bench/bench_policy.py [--n 3000]

Prints p50 / p99 in milliseconds, uncached and (through a DecisionCache) cached, for the
embedded engine, the OPA server and a bare REST request to the same server; then where the
embedded engine's time goes. The input is a `PolicyInput` instance, as the pipeline passes
it. Asserts nothing. Needs the OPA binary for the server and REST rows (skipped with a note
when it is missing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import regopy
import requests

from runtime.errors import OpaUnavailable
from runtime.models import Decision, PolicyInput
from runtime.policy.authorizer import Authorizer, input_document
from runtime.policy.base import AUTHZ_ENTRYPOINT
from runtime.policy.cache import DecisionCache
from runtime.policy.embedded import EmbeddedEngine, input_term, query_plan, set_input
from runtime.policy.opa import OpaServerEngine
from runtime.policy.schema import DecisionDocument

POLICY_DIR = Path(__file__).resolve().parents[1] / "rego"

INPUT: dict[str, Any] = {
    "schema_version": "2",
    "subject": {"agent": "coder", "team": "analyst", "roles": ["analyst"], "tenant": "acme"},
    "action": {
        "tool": "fs.write",
        "effect": "write",
        "args": {"path": "out/report.md", "content": "# Top 5 regions\n" * 20},
    },
    # What the pipeline sends (schema 2): the path named in the task, the content the model's.
    "provenance": {
        "args": {
            "path": {"trust": "trusted", "sources": ["task"], "via": ["value"], "task": True},
            "content": {"trust": "model"},
        },
        "legacy_args": {"path": "trusted", "content": "trusted"},
        "untrusted_sources_seen": [],
    },
    "context": {
        "run_id": "r1",
        "step": 7,
        "task": "Summarise sales.csv",
        "calls_so_far": {"fs.write": 2},
    },
    "risk": {"score": 0.2},
}
POLICY_INPUT = PolicyInput.model_validate(INPUT)

Samples = list[float]


def measure(call: Callable[[], Any], n: int, warmup: int = 200) -> Samples:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: Samples, q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def p50(samples: Samples) -> float:
    return percentile(samples, 0.50)


def raw_keepalive(url: str, auth: dict[str, str]) -> Callable[[], Any]:
    """The same query on one keep-alive http.client connection: the floor for a REST call."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    body = json.dumps({"input": INPUT})
    headers = {"Content-Type": "application/json", **auth}

    def call() -> Any:
        connection.request("POST", f"/v1/data/{AUTHZ_ENTRYPOINT}", body, headers)
        return json.loads(connection.getresponse().read())

    return call


def raw_session(url: str, auth: dict[str, str]) -> Callable[[], Any]:
    """The same query on a bare requests.Session (what opa-python-client uses inside)."""
    session = requests.Session()
    session.headers.update(auth)
    target = f"{url}/v1/data/{AUTHZ_ENTRYPOINT}"

    def call() -> Any:
        return session.post(target, json={"input": INPUT}, timeout=5).json()

    return call


def authorizer_rows(label: str, engine: Any, n: int) -> tuple[str, Samples, Samples | None]:
    uncached = Authorizer(engine)
    cached = Authorizer(engine, DecisionCache())
    return (
        f"{label}: Authorizer.authorize",
        measure(lambda: uncached.authorize(POLICY_INPUT), n),
        measure(lambda: cached.authorize(POLICY_INPUT), n),
    )


def embedded_breakdown(engine: EmbeddedEngine, n: int) -> str:
    """Where one uncached embedded decision spends its time, each step measured alone."""
    document = input_document(PolicyInput, POLICY_INPUT)
    interpreter = regopy.Interpreter()
    plans = engine._compiled.plans  # the engine's own compiled plans: same work as evaluate()
    set_input(interpreter, document)
    result = query_plan(interpreter, plans, AUTHZ_ENTRYPOINT)

    def decide() -> Decision:
        checked = DecisionDocument.model_validate(result)
        return Decision(**checked.model_dump(), policy_version="v", engine="e")

    steps = {
        "input validation + dump": measure(lambda: input_document(PolicyInput, POLICY_INPUT), n),
        "input into regopy (C API)": measure(lambda: set_input(interpreter, document), n),
        "Rego evaluation + result JSON": measure(
            lambda: query_plan(interpreter, plans, AUTHZ_ENTRYPOINT), n
        ),
        "decision validation": measure(decide, n),
    }
    as_term = measure(lambda: interpreter.set_input_term(input_term(document)), n)
    parts = " + ".join(f"{name} {p50(samples):.3f}" for name, samples in steps.items())
    total = sum(p50(samples) for samples in steps.values())
    return (
        f"embedded breakdown, p50 ms: {parts} = {total:.3f} "
        f"(the input as a JSON term instead: {p50(as_term):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    options = parser.parse_args()
    n = options.n
    rows: list[tuple[str, Samples, Samples | None]] = []
    notes: list[str] = []

    embedded = EmbeddedEngine(POLICY_DIR)
    rows.append(authorizer_rows("embedded", embedded, n))
    rows.append(
        (
            "embedded: engine.evaluate",
            measure(lambda: embedded.evaluate(AUTHZ_ENTRYPOINT, INPUT), n),
            None,
        )
    )
    breakdown = embedded_breakdown(embedded, n)

    server: OpaServerEngine | None = None
    try:
        server = OpaServerEngine(POLICY_DIR)
    except OpaUnavailable as exc:
        notes.append(f"OPA server and REST rows skipped: {exc}")
    if server is not None:
        try:
            engine = server
            rows.append(authorizer_rows("opa server", engine, n))
            rows.append(
                (
                    "opa server: engine.evaluate (pooled http.client)",
                    measure(lambda: engine.evaluate(AUTHZ_ENTRYPOINT, INPUT), n),
                    None,
                )
            )
            rows.append(
                (
                    "raw REST: http.client keep-alive",
                    measure(raw_keepalive(engine.url, engine.auth_headers), n),
                    None,
                )
            )
            rows.append(
                (
                    "raw REST: requests.Session",
                    measure(raw_session(engine.url, engine.auth_headers), n),
                    None,
                )
            )
        finally:
            server.close()

    width = max(len(name) for name, _, _ in rows)
    print(f"policy decision latency, n={n} per row, ms")
    print(f"{'path':<{width}}  {'uncached p50':>12}  {'p99':>7}  {'cached p50':>10}  {'p99':>7}")
    for name, uncached, cached in rows:
        cached_text = (
            f"{p50(cached):10.3f}  {percentile(cached, 0.99):7.3f}"
            if cached
            else f"{'-':>10}  {'-':>7}"
        )
        print(
            f"{name:<{width}}  {p50(uncached):12.3f}  {percentile(uncached, 0.99):7.3f}  "
            f"{cached_text}"
        )
    print(breakdown)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
