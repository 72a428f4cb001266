"""Model names, the preflight, and models passed as objects.

Every refusal here is one line that names the fix, is an EnvironmentProblem (exit 5) or a
ConfigError (exit 2), and never contains the key.
"""

from __future__ import annotations

import socket
import sys

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from runtime.chat import ModelOptions, ModelUnavailable, chat_model_adapter
from runtime.chat.providers import ModelSpec, parse_spec
from runtime.errors import ConfigError
from runtime.llm import AnswerTurn
from tests.fakes import FakeProvider, reply
from tests.fakes.team import CODER, task

KEY = "sk-ant-test-SECRET-123"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_names_parse_into_provider_model_and_endpoint() -> None:
    env = {"OLLAMA_HOST": "127.0.0.1:9999", "ANTHROPIC_BASE_URL": "http://127.0.0.1:8/"}
    assert parse_spec("openai:gpt-4o-mini", {}) == ModelSpec(
        "openai", "gpt-4o-mini", "https://api.openai.com/v1", "OPENAI_API_KEY", "openai:gpt-4o-mini"
    )
    assert parse_spec("anthropic:claude-x", env).base_url == "http://127.0.0.1:8"
    assert parse_spec("ollama:llama3.2", env).base_url == "http://127.0.0.1:9999"
    spec = parse_spec("openai-compatible:qwen2.5@http://u:pw@127.0.0.1:8000/v1/", {})
    assert (spec.model, spec.base_url) == ("qwen2.5", "http://u:pw@127.0.0.1:8000/v1")
    assert spec.version == "openai-compatible:qwen2.5@http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "gpt-4o",
            "unknown model 'gpt-4o': expected scripted:<file>, openai:MODEL, anthropic:MODEL, "
            "ollama:MODEL or openai-compatible:MODEL@BASE_URL",
        ),
        (
            "openai-compatible:llama",
            "model 'openai-compatible:llama': write openai-compatible:MODEL@BASE_URL, "
            "e.g. openai-compatible:llama3@http://127.0.0.1:8000/v1",
        ),
    ],
)
def test_a_malformed_name_is_a_config_error(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec(name, {})
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "var"),
    [("openai:gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic:c", "ANTHROPIC_API_KEY")],
)
def test_a_missing_key_fails_before_the_run_with_exit_5(name: str, var: str) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        chat_model_adapter(name, environ={})
    assert str(caught.value) == (
        f"model {name} needs {var} in the environment (keys are never read from "
        "runtime.toml): export it and run again"
    )
    assert caught.value.exit_code == 5


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_anthropic", None)
    with pytest.raises(ModelUnavailable) as caught:
        chat_model_adapter("anthropic:claude-x", environ={"ANTHROPIC_API_KEY": KEY})
    assert str(caught.value) == (
        "model anthropic:claude-x needs the anthropic extra: pip install 'agent-runtime[anthropic]'"
    )


@pytest.mark.parametrize(
    ("name", "env", "fix"),
    [
        (
            "ollama:llama3.2",
            "OLLAMA_HOST",
            "start it with `ollama serve` or set OLLAMA_HOST",
        ),
        ("openai:gpt-4o-mini", "OPENAI_BASE_URL", "check the network or set OPENAI_BASE_URL"),
    ],
)
def test_an_unreachable_endpoint_fails_the_preflight(name: str, env: str, fix: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ModelUnavailable) as caught:
        chat_model_adapter(name, environ={env: url, "OPENAI_API_KEY": KEY})
    assert str(caught.value) == f"model {name}: cannot reach {url} (ConnectError): {fix}"
    assert caught.value.exit_code == 5


def test_an_unreachable_compatible_server_names_the_url_to_fix() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(ModelUnavailable) as caught:
        chat_model_adapter(f"openai-compatible:llama@{url}", environ={})
    assert str(caught.value) == (
        f"model openai-compatible:llama@{url}: cannot reach {url} (ConnectError): start the "
        "server or fix the URL after '@' in the model name"
    )


def test_a_refused_key_fails_the_preflight_without_showing_it() -> None:
    with FakeProvider("anthropic") as fake:
        fake.list_status = 401
        env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.base_url}
        with pytest.raises(ModelUnavailable) as caught:
            chat_model_adapter("anthropic:claude-x", environ=env)
        assert fake.requests[0].headers["x-api-key"] == KEY
    assert str(caught.value) == (
        f"model anthropic:claude-x: {fake.base_url} refused the key in ANTHROPIC_API_KEY "
        "(HTTP 401): set a valid key in the environment"
    )
    assert fake.chat_requests == []


def test_the_preflight_costs_no_model_call() -> None:
    with FakeProvider("ollama") as fake:
        chat_model_adapter("ollama:llama3.2", environ={"OLLAMA_HOST": fake.base_url})
        assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/tags")]


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "ollama"])
def test_any_langchain_chat_model_object_drives_an_agent(dialect: str) -> None:
    with FakeProvider(dialect) as fake:  # type: ignore[arg-type]
        chat = {
            "openai": lambda: ChatOpenAI(model="m1", api_key=KEY, base_url=fake.base_url),
            "anthropic": lambda: ChatAnthropic(model="m1", api_key=KEY, base_url=fake.base_url),
            "ollama": lambda: ChatOllama(model="m1", base_url=fake.base_url),
        }[dialect]()
        adapter = chat_model_adapter(chat, options=ModelOptions())
        fake.script(reply.text(dialect, "hello"))  # type: ignore[arg-type]

        assert adapter.next_turn(CODER, [task("hi")], 0) == AnswerTurn(answer="hello")
        assert adapter.version == f"{dialect}:m1"
        assert [r["provider"] for r in adapter.drain_records()] == [dialect]
