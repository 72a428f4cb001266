"""Tokens per step and per run, and model turns in the live progress (issue 10).

The CLI runs in a subprocess; its model is the real openai client talking to a loopback
OpenAI server that reports the token counts each reply is given, and the calls go through
the real OPA server. The progress test gives the CLI a terminal on stderr (a pty).
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.core import Runtime
from runtime.models import StepReport
from runtime.settings import load_settings
from tests.fakes import FakeProvider, reply

pytestmark = [pytest.mark.opa]

KEY = "sk-proj-tokens-0a1b2c3d4e5f6a7b-NEVER-WRITTEN"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


@pytest.fixture
def fake(project: Path) -> Iterator[FakeProvider]:
    (project / "agents" / "team_solo.py").write_text(
        "from runtime.agents import Agent, Team\n"
        "planner = Agent(name='planner', instruction='Answer the question.',\n"
        "                tools=['python.run', 'memory.search'], model='openai:fake-model')\n"
        "solo = Team(name='solo', agents=[planner], entry='planner')\n"
    )
    with FakeProvider("openai") as server:
        yield server


def two_calls(fake: FakeProvider) -> None:
    """One reply with two tool calls (one model call for both steps), then the answer."""
    fake.script(
        reply.tool_calls(
            "openai",
            [("python__run", {"code": "print(6 * 7)"}), ("python__run", {"code": "6*7"})],
            tokens=(101, 17),
        ),
        reply.text("openai", "It is 42.", tokens=(202, 29)),
    )


def cli_env(project: Path, opa_path: Path, fake: FakeProvider) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {
        **clean,
        "RUNTIME_STATE_DIR": str(project / ".state"),
        "RUNTIME_OPA_BINARY": str(opa_path),
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": fake.base_url,
    }


def run_cli(
    project: Path, opa_path: Path, fake: FakeProvider, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=project,
        env=cli_env(project, opa_path, fake),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


TURN_1 = {
    "agent": "planner",
    "provider": "openai",
    "model": "fake-model",
    "tokens_in": 101,
    "tokens_out": 17,
}
USAGE = {"model_calls": 2, "input_tokens": 303, "output_tokens": 46}


def test_exec_json_and_runs_show_report_tokens_per_step_and_per_run(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    two_calls(fake)
    done = run_cli(project, opa_path, fake, "exec", "What is 6*7?", "--team", "solo", "--json")

    assert done.returncode == 6, done.stderr  # completed_with_blocks: both calls denied
    result = json.loads(done.stdout)
    assert [s["tool"] for s in result["steps"]] == ["python.run", "python.run"]
    first, second = result["steps"]
    assert {k: first["model_turn"][k] for k in TURN_1} == TURN_1
    assert first["model_turn"]["latency_ms"] > 0
    assert second["model_turn"] is None  # proposed by the same reply: no call of its own
    assert result["usage"] == USAGE
    assert [s["model_turn"] and s["model_turn"]["tokens_in"] for s in result["record"]] == [
        101,
        None,
    ]

    shown = run_cli(project, opa_path, fake, "runs", "show", result["run_id"], "--json")

    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["run"]["usage"] == USAGE
    turns = [s["model_turn"] for s in document["steps"]]
    assert {k: turns[0][k] for k in TURN_1} == TURN_1 and turns[1] is None
    assert len(fake.chat_requests) == 2

    text = run_cli(project, opa_path, fake, "runs", "show", result["run_id"])

    assert text.returncode == 0, text.stderr
    assert "model calls: 2; tokens: 303 in, 46 out" in text.stdout
    assert "  model openai:fake-model: 101 tokens in, 17 out (" in text.stdout
    assert KEY not in done.stdout + shown.stdout + text.stdout


def run_on_a_terminal(
    project: Path, opa_path: Path, fake: FakeProvider, *args: str
) -> tuple[int, str, str]:
    """The CLI with stderr on a pty (a terminal), stdout on a pipe: (exit, stdout, stderr)."""
    master, slave = pty.openpty()
    seen: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last holder of the terminal's other side is gone
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", *args],
            cwd=project,
            env={**cli_env(project, opa_path, fake), "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
        )
        os.close(slave)
        stdout, _ = proc.communicate(timeout=240)
        reader.join(timeout=10)
    finally:
        os.close(master)
    err = ANSI.sub("", b"".join(seen).decode(errors="replace")).replace("\r\n", "\n")
    return proc.returncode, stdout.decode(), err


def test_progress_on_a_terminal_shows_each_model_turn_next_to_the_steps(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    two_calls(fake)
    code, stdout, stderr = run_on_a_terminal(
        project, opa_path, fake, "exec", "What is 6*7?", "--team", "solo"
    )

    assert code == 6, stdout + stderr
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    turns = [i for i, line in enumerate(lines) if " model openai:fake-model: " in line]
    steps = [i for i, line in enumerate(lines) if re.match(r"#\d+ planner python\.run: ", line)]
    assert len(turns) == 2 and len(steps) == 2, lines
    # The call that proposed both steps, then the steps, then the call that answered.
    assert turns[0] < steps[0] < steps[1] < turns[1], lines
    assert re.fullmatch(
        r"planner model openai:fake-model: 101 tokens in, 17 out \(\d+ ms\)", lines[turns[0]]
    )
    assert re.fullmatch(
        r"planner model openai:fake-model: 202 tokens in, 29 out \(\d+ ms\)", lines[turns[1]]
    )
    # The result on stdout (a pipe) says what the run's calls cost.
    assert "model calls: 2; tokens: 303 in, 46 out" in stdout
    assert " model " not in stdout.split("model calls")[0]  # no progress on the pipe


def paused_write(project: Path, opa_path: Path, fake: FakeProvider) -> str:
    """A run whose model asked for fs.write (held for approval): its run id."""
    data_path = project / "rego" / "data.json"
    data = json.loads(data_path.read_text())
    data["runtime_data"]["authz"]["approval"]["tools"] = ["fs.write"]
    data_path.write_text(json.dumps(data))
    (project / "agents" / "team_writer.py").write_text(
        "from runtime.agents import Agent, Team\n"
        "coder = Agent(name='coder', instruction='Write the files asked for.',\n"
        "              tools=['fs.write', 'fs.read'], model='openai:fake-model')\n"
        "writer = Team(name='writer', agents=[coder], entry='coder')\n"
    )
    fake.script(
        reply.tool_calls(
            "openai", [("fs__write", {"path": "a.txt", "content": "one"})], tokens=(31, 4)
        ),
        reply.text("openai", "wrote a.txt", tokens=(47, 5)),
    )
    paused = run_cli(project, opa_path, fake, "exec", "write a.txt", "--team", "writer", "--json")
    result = json.loads(paused.stdout)
    assert result["status"] == "awaiting_approval", paused.stderr
    assert result["usage"] == {"model_calls": 1, "input_tokens": 31, "output_tokens": 4}
    return str(result["run_id"])


WHOLE_RUN = {"model_calls": 2, "input_tokens": 78, "output_tokens": 9}


@pytest.mark.docker
@pytest.mark.usefixtures("sandbox_image", "no_leftover_containers")
def test_approve_json_keeps_the_turn_that_proposed_the_step_and_counts_the_whole_run(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    run_id = paused_write(project, opa_path, fake)

    done = run_cli(project, opa_path, fake, "approve", run_id, "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # The step's model turn crossed the pause in the checkpoint (another process made it).
    assert [(s["tool"], s["model_turn"]["tokens_in"]) for s in result["steps"]] == [
        ("fs.write", 31)
    ]
    assert result["usage"] == WHOLE_RUN
    shown = json.loads(run_cli(project, opa_path, fake, "runs", "show", run_id, "--json").stdout)
    assert shown["run"]["usage"] == WHOLE_RUN
    assert [(s["tool"], s["model_turn"]["tokens_out"]) for s in shown["steps"]] == [("fs.write", 4)]


@pytest.mark.docker
@pytest.mark.usefixtures("sandbox_image", "no_leftover_containers")
def test_approve_on_a_terminal_shows_the_model_turn_it_pays_for(
    project: Path, opa_path: Path, fake: FakeProvider
) -> None:
    run_id = paused_write(project, opa_path, fake)

    code, stdout, stderr = run_on_a_terminal(project, opa_path, fake, "approve", run_id)

    assert code == 0, stdout + stderr
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    step = next(i for i, line in enumerate(lines) if line.startswith("#1 coder fs.write: "))
    # This process makes (and shows) only the answer's call: the paused one proposed the write.
    turn = [i for i, line in enumerate(lines) if " model openai:fake-model: " in line]
    assert len(turn) == 1 and turn[0] > step, lines
    assert re.fullmatch(
        r"coder model openai:fake-model: 47 tokens in, 5 out \(\d+ ms\)", lines[turn[0]]
    )
    assert "model calls: 2; tokens: 78 in, 9 out" in stdout  # the whole run's calls


def test_a_plain_on_step_function_sees_steps_only(
    project: Path, opa_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python API's `on_step` keeps its contract: model turns go only to a callback
    with an `on_turn` method."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    two_calls(fake)
    seen: list[object] = []
    settings = load_settings(
        project_dir=project, state_dir=project / ".state", opa_binary=str(opa_path)
    )
    with Runtime(settings) as rt:
        result = rt.exec("What is 6*7?", "solo", on_step=seen.append)

    assert [type(item) for item in seen] == [StepReport, StepReport]
    assert seen == result.steps
    assert result.steps[0].model_turn is not None and result.steps[0].model_turn.tokens_in == 101
