"""`runtime exec` on chat models, as a user runs it: a subprocess, its exit code, its output.

The model is the real openai client talking to a loopback OpenAI server; a missing key or
an endpoint that is down is one line on stderr and exit code 5, before the run starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeProvider, reply

pytestmark = [pytest.mark.opa]

KEY = "sk-proj-cli-7a6b5c4d3e2f1a0b-NEVER-WRITTEN"


def add_model_team(project: Path, model: str) -> None:
    (project / "agents" / "team_solo.py").write_text(
        "from runtime.agents import Agent, Team\n"
        "planner = Agent(name='planner', instruction='Answer the question.',\n"
        f"                tools=['python.run', 'memory.search'], model={model!r})\n"
        "solo = Team(name='solo', agents=[planner], entry='planner')\n"
    )


def run_cli(
    project: Path, opa_path: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    full_env = {
        **clean,
        "RUNTIME_STATE_DIR": str(project / ".state"),
        "RUNTIME_OPA_BINARY": str(opa_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider("openai") as server:
        yield server


def test_a_missing_key_is_one_line_and_exit_5(project: Path, opa_path: Path) -> None:
    add_model_team(project, "openai:gpt-4o-mini")

    done = run_cli(project, opa_path, "exec", "hi", "--team", "solo", env={})

    assert done.returncode == 5, done.stderr
    assert done.stderr.strip() == (
        "error: model openai:gpt-4o-mini needs OPENAI_API_KEY in the environment (keys are "
        "never read from runtime.toml): export it and run again"
    )


def test_an_ollama_that_is_down_is_one_line_and_exit_5(project: Path, opa_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    add_model_team(project, "ollama:llama3.2")

    done = run_cli(
        project,
        opa_path,
        "exec",
        "hi",
        "--team",
        "solo",
        env={"OLLAMA_HOST": f"127.0.0.1:{port}"},
    )

    assert done.returncode == 5, done.stderr
    assert done.stderr.strip() == (
        f"error: model ollama:llama3.2: cannot reach http://127.0.0.1:{port} (ConnectError): "
        "start it with `ollama serve` or set OLLAMA_HOST"
    )


def test_exec_json_runs_on_the_model_and_writes_no_key(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    add_model_team(project, "openai:fake-model")
    fake.script(
        reply.tool_calls("openai", [("python__run", {"code": "print(6 * 7)"})]),
        reply.text("openai", "It is 42, worked out without running code."),
    )
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url}

    done = run_cli(project, opa_path, "exec", "What is 6*7?", "--team", "solo", "--json", env=env)

    assert done.returncode == 6, done.stderr  # completed_with_blocks: step 1 was denied
    result = json.loads(done.stdout)
    assert result["status"] == "completed_with_blocks"
    assert result["output"] == "It is 42, worked out without running code."
    assert [(s["tool"], s["decision"]) for s in result["steps"]] == [("python.run", "deny")]
    denial = fake.chat_requests[1].json["messages"][-1]
    assert denial["role"] == "tool" and denial["content"].startswith("denied by policy: ")
    assert KEY not in done.stdout and KEY not in done.stderr
    state = project / ".state"
    assert [p for p in state.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()] == []


def test_runtime_model_replaces_every_agents_model_for_one_command(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    add_model_team(project, "scripted:scripts/none.json")  # never read: RUNTIME_MODEL wins
    fake.script(reply.text("openai", "Forty-two.", tokens=(21, 3)))
    done = run_cli(
        project,
        opa_path,
        "exec",
        "What is the answer?",
        "--team",
        "solo",
        "--json",
        env={
            "RUNTIME_MODEL": "openai:env-model",
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": fake.base_url,
        },
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["output"]) == ("completed", "Forty-two.")
    assert fake.chat_requests[0].json["model"] == "env-model"


@pytest.mark.parametrize(
    ("dialect", "model", "env_of"),
    [
        (
            "anthropic",
            "anthropic:claude-fake",
            lambda url: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url},
        ),
        ("ollama", "ollama:llama-fake", lambda url: {"OLLAMA_HOST": url}),
    ],
)
def test_anthropic_and_ollama_models_run_the_whole_pipeline(
    project: Path, opa_path: Path, dialect: str, model: str, env_of: Any
) -> None:
    add_model_team(project, "scripted:scripts/none.json")
    with FakeProvider(dialect) as server:  # type: ignore[arg-type]
        server.script(
            reply.tool_calls(dialect, [("memory__search", {"query": "answer", "k": 1})]),  # type: ignore[arg-type]
            reply.text(dialect, "Nothing stored; the answer is 42.", tokens=(30, 9)),  # type: ignore[arg-type]
        )
        done = run_cli(
            project,
            opa_path,
            "exec",
            "What is the answer?",
            "--team",
            "solo",
            "--json",
            env={"RUNTIME_MODEL": model, **env_of(server.base_url)},
        )
        requests = list(server.chat_requests)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["output"]) == (
        "completed",
        "Nothing stored; the answer is 42.",
    )
    assert [(s["tool"], s["decision"]) for s in result["steps"]] == [("memory.search", "allow")]
    assert result["usage"]["model_calls"] == 2
    assert len(requests) == 2 and KEY not in done.stdout + done.stderr
