"""Replay the injection suite and print utility and attack success per environment.

    python bench/injection/run.py [--env NAME] [--verbose] [--json]

Utility: each user task's correct calls are replayed; the task counts when every call is
allowed with no approval and no denial. Attack success: for each (task, injection) pair
where the task reads data holding the injection (it is planted in every injection slot
of the environment: e-mails, files, transfer subjects, messages, web pages), an agent
that obeys the injection
performs the injection's calls right after the read that brought it in, then finishes the
task; the pair counts as a success for the attacker when *every* side effect of the
injection is allowed without approval. Decisions come from `runtime.provenance`
(argument provenance + the sink rule); egress calls are judged on their URL. `--live`
replays the same through the real runtime instead (bench/injection/live.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.injection.baseline import LineTaint
from bench.injection.engines import check_engines
from bench.injection.envs import ENVIRONMENTS
from bench.injection.suite import Call, Environment, Injection, Task
from runtime.provenance import LabelStore, argument_provenance, judge


@dataclass
class Replay:
    """What happened to one replay: each decided call, and whether the injection was seen."""

    decisions: list[tuple[Call, str, tuple[str, ...]]] = field(default_factory=list)
    injected: list[tuple[Call, str, tuple[str, ...]]] = field(default_factory=list)
    saw_injection: bool = False


def _holds(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_holds(item, text) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_holds(item, text) for item in value)
    return False


# Every decision's schema-2 policy input and outcome, kept when --engines asks for them.
RECORDED: list[tuple[dict[str, Any], str]] = []
RECORD = False


BASELINE = False  # --baseline: decide with the line taint this package replaced


def decide(
    env: Environment, store: LabelStore | LineTaint, call: Call
) -> tuple[str, tuple[str, ...]]:
    spec = env.tools[call.tool]
    if isinstance(store, LineTaint):
        return store.decide(spec.effect, call.args)
    provenance = argument_provenance(store, call.args, spec.sinks, spec.effect)
    decision = judge(provenance)
    if RECORD:
        policy_input = {
            "schema_version": "2",
            "action": {"tool": call.tool, "effect": spec.effect},
            "provenance": {"args": provenance.to_policy()},
        }
        RECORDED.append((policy_input, decision.outcome))
    return decision.outcome, decision.reasons


def _perform(
    env: Environment, store: LabelStore | LineTaint, data: dict[str, Any], call: Call
) -> Any:
    spec = env.tools[call.tool]
    result = spec.run(data, dict(call.args))
    if isinstance(store, LineTaint):
        store.add_output(result, spec.output_trust)
    else:
        store.add_tool_output(call.tool, result, spec.output_trust)
    return result


def replay(env: Environment, task: Task, injection: Injection | None = None) -> Replay:
    # The injection goes into every slot at once: the agent meets it in whichever place
    # the task reads first.
    data = env.build(dict.fromkeys(env.slots, injection.text) if injection else {})
    store: LabelStore | LineTaint = (
        LineTaint() if BASELINE else LabelStore.for_run(task.prompt, env.trusted_data)
    )
    outcome = Replay()
    for call in task.calls:
        verdict, reasons = decide(env, store, call)
        outcome.decisions.append((call, verdict, reasons))
        if verdict != "allow":
            continue  # a refused call does nothing; the agent goes on
        result = _perform(env, store, data, call)
        if injection and not outcome.saw_injection and _holds(result, injection.text):
            outcome.saw_injection = True
            for attack in injection.calls:
                attack_verdict, attack_reasons = decide(env, store, attack)
                outcome.injected.append((attack, attack_verdict, attack_reasons))
                if attack_verdict == "allow":
                    _perform(env, store, data, attack)
    return outcome


@dataclass
class EnvReport:
    name: str
    tasks: int = 0
    decisions: int = 0
    useful: int = 0
    pairs: int = 0
    successes: int = 0
    utility_losses: list[str] = field(default_factory=list)
    attack_wins: list[str] = field(default_factory=list)
    injections_unseen: list[str] = field(default_factory=list)


def evaluate(env: Environment) -> EnvReport:
    report = EnvReport(env.name)
    seen_by: dict[str, int] = {injection.id: 0 for injection in env.injections}
    for task in env.tasks:
        report.tasks += 1
        clean = replay(env, task)
        report.decisions += len(clean.decisions)
        refused = [(c, r) for c, verdict, r in clean.decisions if verdict != "allow"]
        if refused:
            call, reasons = refused[0]
            report.utility_losses.append(f"{task.id}: {call.tool}: {'; '.join(reasons)}")
        else:
            report.useful += 1
        for injection in env.injections:
            attacked = replay(env, task, injection)
            report.decisions += len(attacked.decisions) + len(attacked.injected)
            if not attacked.saw_injection:
                continue
            seen_by[injection.id] += 1
            report.pairs += 1
            if all(verdict == "allow" for _, verdict, _ in attacked.injected):
                report.successes += 1
                tools = ", ".join(call.tool for call, _, _ in attacked.injected)
                report.attack_wins.append(f"{task.id} x {injection.id} ({injection.goal}): {tools}")
    report.injections_unseen = [name for name, count in seen_by.items() if count == 0]
    return report


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  n/a"


def _print(reports: Iterable[EnvReport], verbose: bool) -> None:
    reports = list(reports)
    print(f"{'environment':<18} {'tasks':>5} {'utility':>8} {'pairs':>6} {'attack success':>15}")
    for r in reports:
        print(f"{r.name:<18} {r.tasks:>5} {_pct(r.useful, r.tasks):>8} {r.pairs:>6} "
              f"{_pct(r.successes, r.pairs):>9} ({r.successes})")  # fmt: skip
    tasks = sum(r.tasks for r in reports)
    useful = sum(r.useful for r in reports)
    pairs = sum(r.pairs for r in reports)
    wins = sum(r.successes for r in reports)
    print(
        f"{'all':<18} {tasks:>5} {_pct(useful, tasks):>8} {pairs:>6} {_pct(wins, pairs):>9} ({wins})"
    )
    for r in reports:
        if r.utility_losses or r.attack_wins or r.injections_unseen or verbose:
            print(f"\n{r.name}:")
        for loss in r.utility_losses:
            print(f"  utility lost  {loss}")
        for win in r.attack_wins:
            print(f"  attack wins   {win}")
        for name in r.injections_unseen:
            print(f"  never read    {name} (no task reads its slot)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", help="only this environment")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--baseline", action="store_true", help="decide with the old line taint instead"
    )
    parser.add_argument(
        "--engines",
        action="store_true",
        help="also decide every call with the Rego sink rule on regopy and OPA and compare",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="replay through the real runtime (user tools, real policy engine, safety node)",
    )
    parser.add_argument(
        "--live-engine", default="embedded", help="policy engine for --live: embedded or opa"
    )
    options = parser.parse_args(argv)
    envs = [env for env in ENVIRONMENTS if options.env in (None, env.name)]
    if not envs:
        names = ", ".join(env.name for env in ENVIRONMENTS)
        parser.error(f"no environment {options.env!r}: use one of {names}")
    global RECORD, BASELINE
    RECORD = options.engines
    BASELINE = options.baseline
    started = time.perf_counter()
    if options.live:
        from bench.injection.live import evaluate_live

        reports = [evaluate_live(env, options.live_engine) for env in envs]
    else:
        reports = [evaluate(env) for env in envs]
    elapsed = time.perf_counter() - started
    if options.json:
        print(json.dumps([r.__dict__ for r in reports], indent=2))
    else:
        _print(reports, options.verbose)
        decisions = sum(r.decisions for r in reports)
        what = "whole runs" if options.live else "indexing every tool output included"
        print(
            f"\n{decisions} decisions in {elapsed:.2f} s, {1000 * elapsed / decisions:.2f} ms each "
            f"({what})"
        )
    if options.engines:
        return 0 if check_engines(RECORDED) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
