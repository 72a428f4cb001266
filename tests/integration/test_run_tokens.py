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
        # One reply with two calls (one model call for both steps), then the answer.
        server.script(
            reply.tool_calls(
                "openai",
                [("python__run", {"code": "print(6 * 7)"}), ("python__run", {"code": "6*7"})],
                tokens=(101, 17),
            ),
            reply.text("openai", "It is 42.", tokens=(202, 29)),
        )
        yield server


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
