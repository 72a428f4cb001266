"""Budgets per run and per agent: model calls, input and output tokens, wall time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime.chat import (
    BudgetExceeded,
    Budgets,
    ChatModelAdapter,
    Limits,
    ModelOptions,
    attach,
    attach_run,
    chat_model_adapter,
)
from runtime.llm import AnswerTurn, StopTurn, ToolTurn
from runtime.tools import builtin_registry
from tests.fakes import FakeProvider, reply
from tests.fakes.team import CODER, PLANNER, TEAM, result, task


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as server:
        yield server


def team_adapters(fake: FakeProvider, budgets: Budgets) -> tuple[ChatModelAdapter, ...]:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": fake.base_url}
    adapters = tuple(
        chat_model_adapter("openai:fake-model", environ=env, options=ModelOptions(timeout_s=5))
        for _ in range(2)
    )
    attach(adapters, team=TEAM, registry=builtin_registry(), budgets=budgets)
    return adapters


def test_a_reply_over_the_token_budget_is_paid_for_but_its_calls_never_run(
    fake: FakeProvider,
) -> None:
    (coder, _) = team_adapters(fake, Budgets(run=Limits(output_tokens=100)))
    fake.script(
        reply.tool_calls("openai", [("fs__read", {"path": "a"})], tokens=(50, 60)),
        reply.tool_calls("openai", [("fs__write", {"path": "b", "content": "x"})], tokens=(50, 60)),
    )
    messages = [task("t")]
    first = coder.next_turn(CODER, messages, 0)
    messages.append(result("coder", "fs.read", "a"))

    second = coder.next_turn(CODER, messages, 1)

    assert first == ToolTurn(tool="fs.read", args={"path": "a"})
    assert second == BudgetExceeded(
        why="the run's budget of 100 output tokens is spent (120 used)",
        scope="run",
        measure="output_tokens",
        limit=100,
        used=120,
    )
    assert isinstance(second, StopTurn)  # an unwired graph still stops the agent
    assert len(fake.chat_requests) == 2


def test_a_spent_call_budget_makes_no_request(fake: FakeProvider) -> None:
    (coder, _) = team_adapters(fake, Budgets(agent=Limits(model_calls=1)))
    fake.script(reply.tool_calls("openai", [("fs__read", {"path": "a"})]))
    messages = [task("t")]
    coder.next_turn(CODER, messages, 0)
    messages.append(result("coder", "fs.read", "a"))

    turn = coder.next_turn(CODER, messages, 1)

    assert turn == BudgetExceeded(
        why="coder's budget of 1 model calls is spent (1 used)",
        scope="agent",
        measure="model_calls",
        limit=1,
        used=1,
    )
    assert len(fake.chat_requests) == 1


def test_the_run_budget_counts_every_agent_of_the_team(fake: FakeProvider) -> None:
    planner, coder = team_adapters(fake, Budgets(run=Limits(input_tokens=30)))
    fake.script(reply.text("openai", "plan", tokens=(20, 1)), reply.text("openai", "x"))

    assert planner.next_turn(PLANNER, [task("t")], 0) == AnswerTurn(answer="plan")
    turn = coder.next_turn(CODER, [task("t")], 0)

    assert isinstance(turn, BudgetExceeded)
    assert turn.why == "the run's budget of 30 input tokens is spent (31 used)"
    assert planner.ledger is coder.ledger
    assert coder.ledger.agents["planner"].input_tokens == 20


def test_wall_time_budget_ends_the_run_before_the_next_call(fake: FakeProvider) -> None:
    (coder, _) = team_adapters(fake, Budgets(run=Limits(wall_time_s=0.2)))
    fake.script(
        reply.slow(reply.tool_calls("openai", [("fs__read", {"path": "a"})]), 0.3),
    )
    messages = [task("t")]
    assert isinstance(coder.next_turn(CODER, messages, 0), BudgetExceeded)
    assert len(fake.chat_requests) == 1


def test_an_unlimited_ledger_only_counts(fake: FakeProvider) -> None:
    (coder, _) = team_adapters(fake, Budgets())
    fake.script(reply.text("openai", "ok", tokens=(5, 6)))

    coder.next_turn(CODER, [task("t")], 0)

    usage = coder.ledger.run
    assert (usage.model_calls, usage.input_tokens, usage.output_tokens) == (1, 5, 6)


def test_budgets_and_options_come_from_settings_fields() -> None:
    settings = SimpleNamespace(
        budget_run_input_tokens=1000,
        budget_agent_model_calls=5,
        model_timeout_s=12.5,
        model_max_retries=4,
    )

    assert Budgets.from_settings(settings) == Budgets(
        run=Limits(input_tokens=1000), agent=Limits(model_calls=5)
    )
    assert ModelOptions.from_settings(settings) == ModelOptions(timeout_s=12.5, max_retries=4)
    assert Budgets.from_settings(object()) == Budgets()


def test_attach_run_takes_budgets_from_settings_and_keeps_state_in_the_run_folder(
    fake: FakeProvider, tmp_path: Path
) -> None:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": fake.base_url}
    adapter = chat_model_adapter("openai:fake-model", environ=env)
    settings = SimpleNamespace(resolved_state_dir=tmp_path, budget_run_model_calls=1)
    run = SimpleNamespace(team=TEAM, run_id="r1")

    ledger = attach_run([adapter], run, builtin_registry(), settings)
    fake.script(reply.tool_calls("openai", [("fs__read", {"path": "a"})]))
    messages = [task("t")]
    adapter.next_turn(CODER, messages, 0)
    messages.append(result("coder", "fs.read", "a"))

    assert isinstance(adapter.next_turn(CODER, messages, 1), BudgetExceeded)
    assert ledger.budgets == Budgets(run=Limits(model_calls=1))
    assert sorted(p.name for p in (tmp_path / "runs" / "r1" / "chat").iterdir()) == [
        "agent-coder.json",
        "run.json",
    ]
