"""Pipeline benchmark: per-tool-call overhead against `docker exec` and `docker run` baselines.

Run: `python bench/bench_pipeline.py [--calls N]`. Prints a table, asserts nothing.

Drives `Pipeline.propose/authorize/execute/check/commit` stage by stage (as the graph does)
for trivial sandbox calls in a warm sandbox: `fs.write` of a tiny file, `fs.read` of it and
`python.run` of `pass`, once with the managed OPA server and once with the embedded engine.
Every stage is timed here, around the call; the executor round trips are timed too (by
wrapping the box's `_call` on this instance), so the tool's own work (the one `write` /
`read` / `run_python` round trip it makes) can be taken out of each call's total:
overhead = whole call - tool's own round trip.

All series run interleaved (each round runs every series once, in a rotating order), so
load from anything else on the machine falls on the pipeline and the baselines alike.

Baselines, in the same process on the same image: the same trivial command with `docker
exec` per call (`container.exec_run`) in one running container, and with a new container
per call (`containers.run(..., remove=True)`, network none). Every container this script
starts carries a label with a per-run token and is removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runtime.core import Runtime
from runtime.models import ToolCall
from runtime.pipeline import RunContext
from runtime.settings import load_settings
from runtime.staging import StagingArea
from runtime.tools import ToolContext

REPO = Path(__file__).resolve().parents[1]
BENCH_LABEL = "agent-runtime.bench"
TOKEN = uuid.uuid4().hex[:12]
STAGES = ("propose", "authorize", "execute", "check", "commit")
TOOL_OPS = {"write", "read", "run_python"}
WARMUP = 10
SANDBOX_UID = "10001:10001"

# The same trivial work per workload: pipeline tool call, and the shell/python equivalent.
WORKLOADS: dict[str, dict[str, Any]] = {
    "fs.write": {
        "args": lambda i: {"path": "bench/a.txt", "content": f"hello {i}\n"},
        "argv": ["sh", "-c", "printf 'hello\\n' > /workspace/a.txt"],
    },
    "fs.read": {
        "args": lambda i: {"path": "bench/a.txt"},
        "argv": ["cat", "/workspace/a.txt"],
    },
    "python.run": {
        "args": lambda i: {"code": "pass"},
        "argv": ["python3", "-c", "pass"],
    },
}


# --------------------------------------------------------------------------- stats


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def fmt(samples: list[float]) -> str:
    return (
        f"{pct(samples, 0.50):8.2f} {pct(samples, 0.95):8.2f} {pct(samples, 0.99):8.2f}"
        f" {len(samples):5d}"
    )


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# --------------------------------------------------------------------------- pipeline


class RoundTrips:
    """Times every executor round trip of one box, attributed to the stage in progress."""

    def __init__(self) -> None:
        self.stage = ""
        self.tool_ms = 0.0
        self.trips = 0
        self.trip_ms = 0.0

    def reset(self) -> None:
        self.tool_ms, self.trips, self.trip_ms = 0.0, 0, 0.0

    def wrap(self, box: Any) -> None:
        inner = box._call

        def timed_call(request: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            op = request.get("op")
            start = time.perf_counter()
            try:
                return inner(request, *args, **kwargs)
            finally:
                took = ms_since(start)
                self.trips += 1
                self.trip_ms += took
                if self.stage == "execute" and op in TOOL_OPS:
                    self.tool_ms += took

        box._call = timed_call  # instance attribute: only this box, only this process


class MethodTimer:
    """Counts and times calls to one method of one object (an instance attribute wrapper)."""

    def __init__(self, obj: Any, name: str) -> None:
        self.count = 0
        self.ms = 0.0
        inner = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.ms += ms_since(start)
                self.count += 1

        setattr(obj, name, timed)

    def reset(self) -> None:
        self.count, self.ms = 0, 0.0


class EngineBench:
    """One Runtime (policy engine + Docker backend + audit) with one run and its warm box."""

    def __init__(self, engine: str, tmp: Path, stack: contextlib.ExitStack) -> None:
        settings = load_settings(
            project_dir=REPO,
            state_dir=tmp / f"state-{engine}",
            tenant="bench",
            policy_engine=engine,
        )
        rt = stack.enter_context(Runtime(settings))
        team, _ = rt.load_team("analyst")
        self.pipeline = rt.pipeline()
        self.engine_name = rt.policy_engine().name
        self.audit = MethodTimer(self.pipeline.audit, "append")
        self.decisions = MethodTimer(self.pipeline.authorizer, "authorize")
        out = tmp / f"out-{engine}"
        out.mkdir()
        self.run = RunContext(
            run_id=f"bench{engine[:3]}{TOKEN}",
            task="bench",
            team=team,
            tenant="bench",
            output_dir=out,
            staging=StagingArea(tmp / f"staged-{engine}"),
        )
        stack.callback(self.pipeline.discard_sandbox, self.run)
        self.trips = RoundTrips()
        self.ctx = ToolContext(
            run_id=self.run.run_id,
            agent="coder",
            tenant="bench",
            sandbox=self._sandbox,
            memory_search=lambda *_: [],
            input_files=frozenset(),
            call_timeout_s=10,
        )
        self.step = 0
        start = time.perf_counter()
        self._sandbox()
        self.cold_acquire_ms = ms_since(start)

    def _sandbox(self) -> Any:
        fresh = self.run.sandbox is None
        box = self.pipeline.sandbox_for(self.run)
        if fresh:
            self.trips.wrap(box)
        return box

    def call(self, tool: str) -> dict[str, float]:
        """One tool call through every stage: ms per stage, whole call, tool's own work."""
        self.step += 1
        pipeline, run, trips = self.pipeline, self.run, self.trips
        call = ToolCall(
            run_id=run.run_id,
            step=self.step,
            agent="coder",
            tool=tool,
            args=WORKLOADS[tool]["args"](self.step),
            call_id=f"c{self.step}",
        )
        times: dict[str, float] = {}
        trips.reset()
        self.decisions.reset()
        self.audit.reset()
        begin = time.perf_counter()

        trips.stage = "propose"
        start = time.perf_counter()
        pipeline.propose(run, call)
        times["propose"] = ms_since(start)

        trips.stage = "authorize"
        start = time.perf_counter()
        decision = pipeline.authorize(run, call, {})
        times["authorize"] = ms_since(start)
        if decision.outcome != "allow":
            raise RuntimeError(f"{tool} was not allowed: {decision.reasons}")

        trips.stage = "execute"
        start = time.perf_counter()
        staged = pipeline.execute(run, call, self.ctx)
        times["execute"] = ms_since(start)
        if not staged.outcome.ok:
            raise RuntimeError(f"{tool} failed: {staged.outcome.result}")

        trips.stage = "check"
        start = time.perf_counter()
        verdict = pipeline.check(run, call, staged)
        times["check"] = ms_since(start)
        if verdict.verdict != "pass":
            raise RuntimeError(f"{tool} was not passed: {verdict.verdict} {verdict.reasons}")

        trips.stage = "commit"
        start = time.perf_counter()
        pipeline.stage(run, call, staged, verdict)  # staged bytes to disk, as the graph does
        pipeline.commit(run, call, staged)
        times["commit"] = ms_since(start)

        times["total"] = ms_since(begin)
        trips.stage = ""
        run.staged.pop(self.step, None)
        times["decision"] = self.decisions.ms
        times["tool"] = trips.tool_ms
        times["overhead"] = times["total"] - trips.tool_ms
        times["trips"] = trips.trips
        times["audit_n"] = self.audit.count
        times["audit_ms"] = self.audit.ms
        return times


# --------------------------------------------------------------------------- baselines


class DockerBench:
    """The baselines: one long-lived container for `docker exec`, and a new one per call."""

    def __init__(self, image: str, stack: contextlib.ExitStack) -> None:
        import docker

        self.client = docker.from_env()
        stack.callback(self.client.close)
        stack.callback(self._remove_all)
        self.image = image
        self.light = {
            "network_mode": "none",
            "user": SANDBOX_UID,
            "tmpfs": {"/workspace": "rw,size=16m,uid=10001,gid=10001,mode=0755"},
            "labels": {BENCH_LABEL: TOKEN},
        }
        self.box = self.client.containers.run(
            image, ["sleep", "infinity"], detach=True, **self.light
        )
        self.exec("fs.write")

    def exec(self, tool: str) -> float:
        argv = WORKLOADS[tool]["argv"]
        start = time.perf_counter()
        code, _output = self.box.exec_run(argv)
        took = ms_since(start)
        if code != 0:
            raise RuntimeError(f"docker exec {argv} exited {code}")
        return took

    def run(self, tool: str) -> float:
        argv = WORKLOADS[tool]["argv"]
        if tool == "fs.read":  # a fresh container has no file to read: write, then read
            argv = ["sh", "-c", "printf 'hello\\n' > /workspace/a.txt && cat /workspace/a.txt"]
        start = time.perf_counter()
        self.client.containers.run(self.image, argv, remove=True, **self.light)
        return ms_since(start)

    def _remove_all(self) -> None:
        found = self.client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={TOKEN}"})
        for leftover in found:
            with contextlib.suppress(Exception):
                leftover.remove(force=True, v=True)


def measure(calls: int, run_every: int, tmp: Path) -> tuple[dict[str, Any], ...]:
    """Interleaved rounds: each round runs every series once, in a rotating order, so load
    from anything else on the machine lands on all series alike."""
    from runtime.sandbox.image import image_tag

    rows: dict[str, dict[str, list[float]]] = {}
    baselines: dict[str, list[float]] = {}
    infos: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        engines = {engine: EngineBench(engine, Path(tmp), stack) for engine in ("opa", "embedded")}
        docker_bench = DockerBench(image_tag(), stack)
        for engine, bench in engines.items():
            infos[engine] = {"engine": bench.engine_name, "cold_acquire_ms": bench.cold_acquire_ms}

        def series(with_run: bool) -> list[tuple[str, Any]]:
            out: list[tuple[str, Any]] = []
            for engine, bench in engines.items():
                out += [
                    (f"{engine}:{tool}", functools.partial(bench.call, tool)) for tool in WORKLOADS
                ]
            out += [
                (f"exec:{tool}", functools.partial(docker_bench.exec, tool)) for tool in WORKLOADS
            ]
            if with_run:
                out += [
                    (f"run:{tool}", functools.partial(docker_bench.run, tool)) for tool in WORKLOADS
                ]
            return out

        for _ in range(WARMUP):
            for _name, fn in series(with_run=False):
                fn()
        for _name, fn in series(with_run=True)[-len(WORKLOADS) :]:
            fn()
        gc.collect()
        for index in range(calls):
            todo = series(with_run=index % run_every == 0)
            shift = index % len(todo)
            for name, fn in todo[shift:] + todo[:shift]:
                result = fn()
                if isinstance(result, dict):
                    for key, value in result.items():
                        rows.setdefault(name, {}).setdefault(key, []).append(value)
                else:
                    baselines.setdefault(name, []).append(result)
    for name, samples in rows.items():
        engine, tool = name.split(":", 1)
        infos[engine][f"{tool}.trips"] = statistics.mean(samples["trips"])
        infos[engine][f"{tool}.audit_per_call"] = statistics.mean(samples["audit_n"])
        infos[engine][f"{tool}.audit_ms_per_call"] = statistics.mean(samples["audit_ms"])
    return rows, baselines, infos


def sweep_own_containers() -> int:
    """Belt and braces: remove any container this process started (by our labels only)."""
    import docker

    client = docker.from_env()
    removed = 0
    try:
        for flt in (f"{BENCH_LABEL}={TOKEN}", f"agent-runtime.owner-pid={os.getpid()}"):
            for box in client.containers.list(all=True, filters={"label": flt}):
                with contextlib.suppress(Exception):
                    box.remove(force=True, v=True)
                    removed += 1
    finally:
        client.close()
    return removed


# --------------------------------------------------------------------------- report


def machine_line() -> str:
    model = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    docker_version = "?"
    with contextlib.suppress(Exception):
        import docker

        client = docker.from_env()
        docker_version = client.version().get("Version", "?")
        client.close()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"machine: nproc {os.cpu_count()}, {model}, kernel {platform.release()}, "
        f"docker {docker_version}, python {platform.python_version()}; {now}"
    )


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    print(f"\n{title}", flush=True)
    yield


def print_table(
    rows: dict[str, dict[str, list[float]]],
    baselines: dict[str, list[float]],
    infos: dict[str, dict[str, Any]],
) -> None:
    header = f"{'series':<38} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'n':>5}"
    with section("pipeline per tool call, warm sandbox (stages timed around each call)"):
        print(header)
        for name, samples in rows.items():
            engine, tool = name.split(":", 1)
            info = infos[engine]
            print(f"{engine + ' / ' + tool:<38} {fmt(samples['total'])}   <- whole call")
            for stage in STAGES:
                print(f"  {stage:<36} {fmt(samples[stage])}")
                if stage == "authorize":
                    print(f"  {'  of which Authorizer.authorize':<36} {fmt(samples['decision'])}")
            print(f"  {'tool own work (1 executor trip)':<36} {fmt(samples['tool'])}")
            print(f"  {'OVERHEAD (whole - tool own work)':<36} {fmt(samples['overhead'])}")
            print(
                f"  executor trips/call {info[f'{tool}.trips']:.0f}, audit appends/call "
                f"{info[f'{tool}.audit_per_call']:.0f} ({info[f'{tool}.audit_ms_per_call']:.2f} ms)"
            )
    with section("baselines, same image, same trivial command"):
        print(header)
        for name, samples in baselines.items():
            kind, tool = name.split(":", 1)
            label = "docker exec per call" if kind == "exec" else "new container per call"
            print(f"{label + ' / ' + tool:<38} {fmt(samples)}")
    with section(
        "ratios of p50 (pipeline whole call / baseline; < 1 means the pipeline is faster)"
    ):
        print(f"{'series':<38} {'vs exec':>8} {'vs run':>8} {'overhead p50':>13}")
        for name, samples in rows.items():
            engine, tool = name.split(":", 1)
            whole = pct(samples["total"], 0.5)
            vs_exec = whole / pct(baselines[f"exec:{tool}"], 0.5)
            vs_run = whole / pct(baselines[f"run:{tool}"], 0.5)
            overhead = pct(samples["overhead"], 0.5)
            print(f"{engine + ' / ' + tool:<38} {vs_exec:8.3f} {vs_run:8.3f} {overhead:10.2f} ms")
    for engine, info in infos.items():
        print(
            f"{engine}: engine {info['engine']}, cold sandbox acquire {info['cold_acquire_ms']:.0f} ms"
        )
    print("target (DESIGN.md): pipeline overhead p50 < 10 ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per series")
    parser.add_argument(
        "--run-calls",
        type=int,
        default=0,
        help="timed new-container calls per series (default: calls/10, at least 10)",
    )
    args = parser.parse_args(argv)
    calls = max(1, args.calls)
    run_calls = args.run_calls or max(10, calls // 10)

    print(machine_line())
    print(f"calls per series: {calls} (new container per call: {run_calls}); warm-up {WARMUP}")
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            rows, baselines, infos = measure(calls, max(1, calls // run_calls), Path(tmp))
    finally:
        leftovers = sweep_own_containers()
    print_table(rows, baselines, infos)
    if leftovers:
        print(f"(removed {leftovers} leftover container(s) this run had started)")
    print(f"bench time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
