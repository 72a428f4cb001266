"""Budgets: model calls, input and output tokens and wall time, per run and per agent.

One `Ledger` per run is shared by the adapters of every agent of the team. It is asked
before each model call (a spent budget means no call is made) and after it (a call that
pushed usage over a limit is paid for, but its tool calls are not run). Either way the
agent's turn is a `BudgetExceeded` stop that names the budget, the limit and the use.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from runtime.llm import StopTurn

Scope = Literal["run", "agent"]
Measure = Literal["model_calls", "input_tokens", "output_tokens", "wall_time_s"]

_WORDS: dict[str, str] = {
    "model_calls": "model calls",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "wall_time_s": "seconds of wall time",
}


@dataclass(frozen=True)
class Limits:
    """None means unlimited."""

    model_calls: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    wall_time_s: float | None = None


@dataclass(frozen=True)
class Budgets:
    run: Limits = field(default_factory=Limits)
    agent: Limits = field(default_factory=Limits)

    @classmethod
    def from_settings(cls, settings: object) -> Budgets:
        """From `budget_run_<measure>` and `budget_agent_<measure>` settings, where the
        settings object has them (unset or missing means unlimited)."""

        def limits(scope: str) -> Limits:
            return Limits(
                **{m: getattr(settings, f"budget_{scope}_{m}", None) for m in _WORDS}  # type: ignore[arg-type]
            )

        return cls(run=limits("run"), agent=limits("agent"))


class BudgetExceeded(StopTurn):
    """The agent stops because a budget is spent; the graph ends the run `budget_exceeded`."""

    scope: Scope
    measure: Measure
    limit: float
    used: float
    ends_run: Literal["budget_exceeded"] | None = "budget_exceeded"


@dataclass
class Usage:
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_time_s: float = 0.0


class Ledger:
    """What a run's models have used so far, and the check against its budgets.

    Run wall time runs from the first model call; an agent's wall time is the time its own
    model calls took.
    """

    def __init__(self, budgets: Budgets | None = None) -> None:
        self.budgets = budgets or Budgets()
        self.run = Usage()
        self.agents: dict[str, Usage] = {}
        self._started: float | None = None
        self._lock = threading.Lock()

    def record(self, agent: str, input_tokens: int, output_tokens: int, seconds: float) -> None:
        with self._lock:
            for usage in (self.run, self.agents.setdefault(agent, Usage())):
                usage.model_calls += 1
                usage.input_tokens += input_tokens
                usage.output_tokens += output_tokens
            self.agents[agent].wall_time_s += seconds

    def to_document(self) -> dict[str, Any]:
        with self._lock:
            elapsed = time.monotonic() - self._started if self._started is not None else None
            return {
                "run": asdict(self.run),
                "agents": {name: asdict(u) for name, u in self.agents.items()},
                "elapsed_s": elapsed,
            }

    def restore(self, doc: dict[str, Any]) -> None:
        """Usage from a saved document; the time the run spent paused does not count."""
        with self._lock:
            self.run = Usage(**doc["run"])
            self.agents = {name: Usage(**u) for name, u in doc["agents"].items()}
            elapsed = doc.get("elapsed_s")
            self._started = time.monotonic() - float(elapsed) if elapsed is not None else None

    def start_clock(self) -> None:
        with self._lock:
            if self._started is None:
                self._started = time.monotonic()

    def exceeded(self, agent: str, *, before_call: bool) -> BudgetExceeded | None:
        """The first spent budget, or None. Before a call, reaching a call or token limit
        is already spent (the next call would go over); after it, only going over is."""
        with self._lock:
            if self._started is not None:
                self.run.wall_time_s = time.monotonic() - self._started
            checks = (
                ("run", self.budgets.run, self.run),
                ("agent", self.budgets.agent, self.agents.get(agent, Usage())),
            )
            for scope, limits, usage in checks:
                for measure in ("model_calls", "input_tokens", "output_tokens", "wall_time_s"):
                    limit = getattr(limits, measure)
                    used = getattr(usage, measure)
                    if limit is None:
                        continue
                    spent = used >= limit if before_call else used > limit
                    if measure == "wall_time_s":
                        spent = used >= limit
                    if spent:
                        return _exceeded(agent, scope, measure, limit, used)  # type: ignore[arg-type]
        return None


def _exceeded(
    agent: str, scope: Scope, measure: Measure, limit: float, used: float
) -> BudgetExceeded:
    whose = "the run's" if scope == "run" else f"{agent}'s"
    shown = f"{used:.1f}" if measure == "wall_time_s" else f"{used:g}"
    why = f"{whose} budget of {limit:g} {_WORDS[measure]} is spent ({shown} used)"
    return BudgetExceeded(why=why, scope=scope, measure=measure, limit=limit, used=used)
