"""Concurrency benchmark: guarded tool calls per second with 1, 5 and 20 runs at once.

Run: `python bench/bench_concurrency.py [--calls N] [--levels 1,5,20] [--engine opa]`.
Prints a table, asserts nothing (a run that does not complete is reported and counted out).

A run is a scripted one-agent team making N cheap tool calls (`fs.write` of a small file,
then `fs.read` of it, alternating) through the whole pipeline: propose, authorize (the real
OPA server, or regopy with `--engine embedded`), execute in the run's own Docker box,
check, stage, commit to the run's output folder, audit, with a checkpoint after every
graph node. K runs start together on threads of one `Runtime` (the public API's shape:
one policy engine, one Docker backend, one audit log shared by every run); each gets its
own box. Figures per level:

- calls/s: guarded tool calls completed by all K runs / wall time from the first start to
  the last end (box start-up included: one cold box per run, `--pool` keeps some warm);
- per call p50/p95: wall time from one step report of a run to its next (the first from
  the run's start), i.e. everything a call costs its run: the agent turn, the five stages,
  the checkpoints, and waiting for the GIL and the 2 cores behind the other runs;
- pipeline p50: the stages' own time per call (the step report's `duration_ms`).

Before the timed levels one warm-up run starts the policy engine and the Docker backend.
Every box is released when its run ends; any box this process still owns is removed at
the end, even on error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime import Runtime
from runtime.models import StepReport
from runtime.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
TEAM = "bench"
AGENT = "coder"  # granted fs.read and fs.write by the built-in library


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def write_project(root: Path, calls: int) -> None:
    """A project with the built-in policy library and one team making `calls` calls."""
    shutil.copytree(REPO / "rego", root / "rego")
    agents = root / "agents"
    (agents / "scripts").mkdir(parents=True)
    turns: list[dict[str, object]] = []
    for index in range(calls):
        path = f"f{index // 2}.txt"
        if index % 2 == 0:
            turns.append({"tool": "fs.write", "args": {"path": path, "content": f"{index}\n"}})
        else:
            turns.append({"tool": "fs.read", "args": {"path": path}})
    turns.append({"answer": "done"})
    (agents / "scripts" / f"{TEAM}.json").write_text(json.dumps({AGENT: turns}))
    (agents / f"{TEAM}.py").write_text(
        "from runtime.agents import Agent, Team\n"
        f"worker = Agent(name={AGENT!r}, instruction='write and read', "
        f"tools=['fs.read', 'fs.write'], model='scripted:scripts/{TEAM}.json')\n"
        f"team = Team(name={TEAM!r}, agents=[worker], entry={AGENT!r})\n"
    )


@dataclass
class Level:
    runs: int
    wall_s: float = 0.0
    completed: int = 0
    calls: int = 0
    per_call_ms: list[float] = field(default_factory=list)
    pipeline_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def one_run(rt: Runtime, level: Level, lock: threading.Lock, barrier: threading.Barrier) -> None:
    intervals: list[float] = []
    stages: list[float] = []
    last = [0.0]

    def on_step(report: StepReport) -> None:
        now = time.perf_counter()
        intervals.append((now - last[0]) * 1000)
        stages.append(report.duration_ms)
        last[0] = now

    barrier.wait()
    last[0] = time.perf_counter()
    try:
        result = rt.exec("write and read", TEAM, on_step=on_step)
    except Exception as exc:  # reported in the table, never hidden
        with lock:
            level.problems.append(f"{type(exc).__name__}: {exc}")
        return
    with lock:
        if result.status != "completed":
            level.problems.append(f"{result.status}: {result.reason}")
            return
        level.completed += 1
        level.calls += len(result.steps)
        level.per_call_ms += intervals
        level.pipeline_ms += stages


def measure(rt: Runtime, runs: int) -> Level:
    level = Level(runs=runs)
    lock = threading.Lock()
    barrier = threading.Barrier(runs + 1)
    threads = [
        threading.Thread(target=one_run, args=(rt, level, lock, barrier)) for _ in range(runs)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    level.wall_s = time.perf_counter() - began
    return level


def sweep_own_containers() -> int:
    """Remove any box this process still owns (by the runtime's owner label only)."""
    import docker

    client = docker.from_env()
    removed = 0
    try:
        label = f"agent-runtime.owner-pid={os.getpid()}"
        for box in client.containers.list(all=True, filters={"label": label}):
            with contextlib.suppress(Exception):
                box.remove(force=True, v=True)
                removed += 1
    finally:
        client.close()
    return removed


def machine_line() -> str:
    model = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores, {model}, kernel {platform.release()}, "
        f"python {platform.python_version()}, load {load}; {now}"
    )


def print_table(levels: list[Level], calls: int, engine: str, pool: int) -> None:
    print(
        f"\n{calls} guarded tool calls per run (fs.write / fs.read), policy engine {engine}, "
        f"warm pool {pool}; runs on threads of one Runtime, one box each"
    )
    print(
        f"{'runs at once':>12} {'calls/s':>8} {'per call p50':>13} {'p95':>8} "
        f"{'pipeline p50':>13} {'wall s':>7} {'completed':>10}"
    )
    for level in levels:
        rate = level.calls / level.wall_s if level.wall_s else float("nan")
        print(
            f"{level.runs:>12} {rate:>8.1f} {pct(level.per_call_ms, 0.5):>10.1f} ms "
            f"{pct(level.per_call_ms, 0.95):>5.0f} ms {pct(level.pipeline_ms, 0.5):>10.1f} ms "
            f"{level.wall_s:>7.1f} {level.completed:>5}/{level.runs}"
        )
        for problem in sorted(set(level.problems)):
            print(f"{'':>12} not completed: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="tool calls per run")
    parser.add_argument("--levels", default="1,5,20", help="runs at once, comma-separated")
    parser.add_argument("--engine", default="opa", choices=["opa", "embedded"])
    parser.add_argument("--pool", type=int, default=0, help="boxes kept warm (0 to 32)")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n.strip()]

    print(machine_line())
    began = time.perf_counter()
    results: list[Level] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
            root = Path(tmp) / "project"
            write_project(root, max(1, args.calls))
            settings = load_settings(
                project_dir=root,
                state_dir=root / ".state",
                policy_engine=args.engine,
                sandbox_pool_size=args.pool,
                policy_watch_interval_s=0,
            )
            with Runtime(settings) as rt:
                warm = measure(rt, 1)
                if warm.problems:
                    print(f"warm-up run failed: {warm.problems[0]}")
                    return 1
                engine = rt.policy_engine().name
                for runs in levels:
                    results.append(measure(rt, runs))
                verified = rt.audit.verify()
    finally:
        leftovers = sweep_own_containers()
    print_table(results, args.calls, engine, args.pool)
    print(f"audit chain after all runs: {'verifies' if verified.ok else verified.problem}")
    if leftovers:
        print(f"(removed {leftovers} leftover container(s) this process had started)")
    print(f"bench time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
