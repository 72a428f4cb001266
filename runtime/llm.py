"""Models: what an agent node asks for its next turn.

A model sees the agent, the conversation so far and how many turns the agent has taken, and
answers with one Turn: propose a tool call, hand off to another agent, give the final
answer, or stop. `scripted:<file>` replays turns from a JSON file, deterministically (the
turn index comes from the graph state, so a resumed run replays the same turn).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, TypeAdapter, ValidationError

from runtime.agents import Agent
from runtime.errors import ConfigError
from runtime.models import Frozen


class ToolTurn(Frozen):
    type: Literal["tool"] = "tool"
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class HandoffTurn(Frozen):
    type: Literal["handoff"] = "handoff"
    handoff: str
    message: str = ""


class AnswerTurn(Frozen):
    type: Literal["answer"] = "answer"
    answer: str


class StopTurn(Frozen):
    """The model has nothing more to say (a scripted file ran out)."""

    type: Literal["stop"] = "stop"
    why: str
    # Set when stopping ends the whole run with a status of its own (a spent budget).
    ends_run: Literal["budget_exceeded"] | None = None


Turn = Annotated[ToolTurn | HandoffTurn | AnswerTurn | StopTurn, Field(discriminator="type")]


class Model(Protocol):
    @property
    def version(self) -> str: ...

    def next_turn(self, agent: Agent, messages: list[dict[str, Any]], turn_index: int) -> Turn: ...


class ScriptedModel:
    """Replays a file of turns per agent: `{"planner": [{"tool": ..., "args": ...}, ...]}`.

    Each entry is one of `{"tool", "args"}`, `{"handoff", "message"}`, `{"answer"}`.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"scripted model file not found: {path}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"scripted model file {path} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"scripted model file {path} must map agent names to turn lists")
        self._turns: dict[str, list[Turn]] = {}
        for agent_name, entries in raw.items():
            if not isinstance(entries, list):
                raise ConfigError(f"{path}: turns of {agent_name!r} must be a list")
            self._turns[agent_name] = [self._parse(agent_name, i, e) for i, e in enumerate(entries)]
        import hashlib

        self._version = "scripted:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    @property
    def version(self) -> str:
        return self._version

    def _parse(self, agent: str, index: int, entry: Any) -> Turn:
        if isinstance(entry, dict) and "type" not in entry:
            kinds = [k for k in ("tool", "handoff", "answer") if k in entry]
            if len(kinds) != 1:
                raise ConfigError(
                    f"{self._path}: turn {index} of {agent!r} needs exactly one of "
                    "'tool', 'handoff', 'answer'"
                )
            entry = {"type": kinds[0], **entry}
        try:
            return _TURN.validate_python(entry)
        except ValidationError as exc:
            detail = exc.errors()[0]["msg"]
            raise ConfigError(
                f"{self._path}: turn {index} of {agent!r} is invalid: {detail}"
            ) from exc

    def next_turn(self, agent: Agent, messages: list[dict[str, Any]], turn_index: int) -> Turn:
        turns = self._turns.get(agent.name, [])
        if turn_index < len(turns):
            return turns[turn_index]
        return StopTurn(why=f"the scripted model has no turn {turn_index + 1} for {agent.name}")


_TURN: TypeAdapter[Turn] = TypeAdapter(Turn)


def resolve_model(name: object, base_dir: Path) -> Model:
    """Turn a model name (or a LangChain chat model object) into a Model. Relative
    scripted paths resolve against base_dir."""
    if not isinstance(name, str):
        from runtime.chat import chat_model_adapter

        return chat_model_adapter(name)
    provider, _, rest = name.partition(":")
    if provider == "scripted" and rest:
        path = Path(rest)
        return ScriptedModel(path if path.is_absolute() else (base_dir / path).resolve())
    if provider in {"openai", "anthropic", "ollama", "openai-compatible"}:
        # LangChain chat models (runtime/chat): the extra, the key and the endpoint are
        # checked here, before any tool runs.
        from runtime.chat import chat_model_adapter

        return chat_model_adapter(name)
    raise ConfigError(
        f"unknown model {name!r}: expected scripted:<file>, openai:MODEL, anthropic:MODEL, "
        "ollama:MODEL or openai-compatible:MODEL@BASE_URL"
    )
