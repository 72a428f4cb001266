"""Retries, timeouts and the failure after the last try, on each provider's real client.

openai and anthropic retry inside their SDKs (`max_retries`); ollama's client has no retry
and gets the adapter's own loop. The fake servers count the requests that arrived.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.chat import (
    ChatModelAdapter,
    ModelCallFailed,
    ModelOptions,
    attach,
    chat_model_adapter,
)
from runtime.llm import AnswerTurn
from tests.fakes import FakeProvider, reply
from tests.fakes.server import Dialect
from tests.fakes.team import CODER, task

DIALECTS: list[Dialect] = ["openai", "anthropic", "ollama"]
KEY = "test-key-SECRET-abc"


@pytest.fixture(params=DIALECTS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeProvider]:
    with FakeProvider(request.param) as server:
        yield server


def adapter_for(fake: FakeProvider, **options: float) -> ChatModelAdapter:
    env = {
        "openai": {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url},
        "anthropic": {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.base_url},
        "ollama": {"OLLAMA_HOST": fake.base_url},
    }[fake.dialect]
    opts = ModelOptions(**options)  # type: ignore[arg-type]
    adapter = chat_model_adapter(f"{fake.dialect}:fake-model", environ=env, options=opts)
    adapter.backoff_s = 0.01
    return adapter


def test_a_429_then_success_is_retried(fake: FakeProvider) -> None:
    adapter = adapter_for(fake, max_retries=2, timeout_s=5)
    fake.script(reply.error(fake.dialect, 429), reply.text(fake.dialect, "after the wait"))

    turn = adapter.next_turn(CODER, [task("x")], 0)

    assert turn == AnswerTurn(answer="after the wait")
    assert len(fake.chat_requests) == 2
    assert len(adapter.drain_records()) == 1


def test_a_500_until_the_retries_run_out_is_one_clear_failure(fake: FakeProvider) -> None:
    adapter = adapter_for(fake, max_retries=2, timeout_s=5)
    fake.script(*[reply.error(fake.dialect, 500) for _ in range(3)])
    fake.fallback = reply.text(fake.dialect, "too late")  # a 4th try would succeed

    with pytest.raises(ModelCallFailed) as caught:
        adapter.next_turn(CODER, [task("x")], 0)

    assert len(fake.chat_requests) == 3
    name = str(caught.value).split("(HTTP 500 (")[1].split(")")[0]
    assert str(caught.value) == (
        f"model {fake.dialect}:fake-model failed after 3 tries (HTTP 500 ({name})): check the "
        "provider, or raise its timeout or retries"
    )
    assert caught.value.exit_code == 5
    assert KEY not in str(caught.value)
    assert adapter.ledger.run.model_calls == 0  # nothing was paid for


def test_a_slow_answer_past_the_timeout_fails_after_its_tries(fake: FakeProvider) -> None:
    adapter = adapter_for(fake, max_retries=1, timeout_s=0.5)
    slow = reply.slow(reply.text(fake.dialect, "too slow"), 2.0)
    fake.script(slow, slow)

    with pytest.raises(ModelCallFailed) as caught:
        adapter.next_turn(CODER, [task("x")], 0)

    message = str(caught.value)
    assert message.startswith(f"model {fake.dialect}:fake-model failed after 2 tries (no answer ")
    assert message.endswith("): check the provider, or raise its timeout or retries")
    assert len(fake.chat_requests) == 2


def test_a_bad_request_is_not_retried(fake: FakeProvider) -> None:
    adapter = adapter_for(fake, max_retries=3, timeout_s=5)
    fake.script(reply.error(fake.dialect, 400))

    with pytest.raises(ModelCallFailed) as caught:
        adapter.next_turn(CODER, [task("x")], 0)

    assert str(caught.value).startswith(f"model {fake.dialect}:fake-model refused the request")
    assert len(fake.chat_requests) == 1


def test_run_options_replace_those_a_named_model_was_built_with(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("OLLAMA_HOST", fake.base_url)
    adapter = adapter_for(fake, max_retries=0, timeout_s=5)
    attach([adapter], options=ModelOptions(max_retries=1, timeout_s=5))
    fake.script(reply.error(fake.dialect, 503), reply.text(fake.dialect, "second try"))

    assert adapter.next_turn(CODER, [task("x")], 0) == AnswerTurn(answer="second try")
    assert adapter.drain_records()[0]["params"] == {"timeout_s": 5, "max_retries": 1}
