"""The scripted model replays turns per agent and rejects malformed files with a clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.agents import Agent
from runtime.errors import ConfigError, EnvironmentProblem
from runtime.llm import AnswerTurn, HandoffTurn, ScriptedModel, StopTurn, ToolTurn, resolve_model

AGENT = Agent(name="coder", instruction="x", model="scripted:s.json")


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    return path


def test_turns_replay_in_order_then_stop(tmp_path: Path) -> None:
    model = ScriptedModel(
        write(
            tmp_path,
            {
                "coder": [
                    {"tool": "fs.write", "args": {"path": "a", "content": "b"}},
                    {"handoff": "planner", "message": "done"},
                    {"answer": "ok"},
                ]
            },
        )
    )
    assert model.next_turn(AGENT, [], 0) == ToolTurn(
        tool="fs.write", args={"path": "a", "content": "b"}
    )
    assert model.next_turn(AGENT, [], 1) == HandoffTurn(handoff="planner", message="done")
    assert model.next_turn(AGENT, [], 2) == AnswerTurn(answer="ok")
    assert model.next_turn(AGENT, [], 3) == StopTurn(
        why="the scripted model has no turn 4 for coder"
    )


def test_turn_with_two_kinds_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"coder": [{"tool": "x", "answer": "y"}]})
    with pytest.raises(ConfigError) as info:
        ScriptedModel(path)
    assert (
        str(info.value)
        == f"{path}: turn 0 of 'coder' needs exactly one of 'tool', 'handoff', 'answer'"
    )


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scripted model file not found"):
        ScriptedModel(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        ScriptedModel(bad)


def test_model_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"coder": []})
    assert resolve_model("scripted:s.json", tmp_path).version.startswith("scripted:")
    with pytest.raises(ConfigError, match="unknown model 'gpt'"):
        resolve_model("gpt", tmp_path)
    # Chat models are wired (runtime/chat); without a key they fail before the run.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EnvironmentProblem, match="needs OPENAI_API_KEY in the environment"):
        resolve_model("openai:gpt-4o", tmp_path)
