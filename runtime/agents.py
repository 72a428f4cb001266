"""Agents and teams as plain Python, and their discovery in a project's `agents/` folder.

An agent is a name, an instruction, the tools it may ask for, and a model name. A team is a
set of agents, the one that starts, and who may hand off to whom. Agents never hold tools:
what they ask for goes through the pipeline, and the policy decides.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from runtime.errors import ConfigError
from runtime.models import Frozen
from runtime.project_modules import project_modules

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Agent(Frozen):
    name: str
    instruction: str
    tools: list[str] = Field(default_factory=list)
    # A model name (`scripted:<file>`, `openai:MODEL`, ...) or, from Python, any LangChain
    # chat model object (`Agent(model=ChatOpenAI(...))`).
    model: Any
    roles: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_name(self) -> Agent:
        if not _NAME.match(self.name):
            raise ValueError(f"agent name {self.name!r} must match {_NAME.pattern}")
        if not isinstance(self.model, str):
            from langchain_core.language_models import BaseChatModel

            if not isinstance(self.model, BaseChatModel):
                raise ValueError(
                    f"agent {self.name}'s model must be a model name or a LangChain chat "
                    f"model, not {type(self.model).__name__}"
                )
        return self


class Team(Frozen):
    name: str
    agents: list[Agent]
    entry: str
    handoffs: dict[str, list[str]] = Field(default_factory=dict)
    source: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Team:
        names = [agent.name for agent in self.agents]
        if len(names) != len(set(names)):
            raise ValueError(f"team {self.name!r} names an agent twice")
        if self.entry not in names:
            raise ValueError(f"team {self.name!r} starts with unknown agent {self.entry!r}")
        for source, targets in self.handoffs.items():
            for name in [source, *targets]:
                if name not in names:
                    raise ValueError(f"team {self.name!r} hands off with unknown agent {name!r}")
        return self

    def agent(self, name: str) -> Agent:
        for agent in self.agents:
            if agent.name == name:
                return agent
        known = ", ".join(a.name for a in self.agents)
        raise ConfigError(f"team {self.name} has no agent {name!r}; its agents: {known}")

    def may_hand_off(self, source: str, target: str) -> bool:
        return target in self.handoffs.get(source, [])


def discover_teams(agents_dir: Path) -> dict[str, Team]:
    """Import every `agents/*.py` of the project and collect the Team objects they define."""
    if not agents_dir.is_dir():
        raise ConfigError(f"no agents folder at {agents_dir}: create it with a team in a .py file")
    teams: dict[str, Team] = {}
    for path, module in project_modules(agents_dir, "agents"):
        for value in vars(module).values():
            if isinstance(value, Team):
                if value.name in teams and teams[value.name].source != str(path):
                    raise ConfigError(f"team {value.name!r} is defined twice ({path})")
                teams[value.name] = value.model_copy(update={"source": str(path)})
    return teams


def load_team(agents_dir: Path, name: str) -> Team:
    teams = discover_teams(agents_dir)
    if name not in teams:
        known = ", ".join(sorted(teams)) or "none"
        raise ConfigError(f"unknown team {name!r}; teams in {agents_dir}: {known}")
    return teams[name]
