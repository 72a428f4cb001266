"""The public `Runtime`: objects in, objects out.

    rt = Runtime.open("my-project", tools=[weather])
    result = rt.exec("What should I wear?", team=team)      # a Team object or a team name
    result = await rt.aexec("...", team="analyst")

It is the wiring object of `runtime/core.py` with a friendlier front: settings from a
project folder (or a `Settings`), tools and teams passed as Python objects next to the
ones the project's `tools/` and `agents/` define, and an async `aexec` (the run is driven
in a worker thread; the stages underneath are synchronous).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runtime import core
from runtime.agents import Team
from runtime.errors import ConfigError
from runtime.llm import Model, resolve_model
from runtime.models import RunResult, StepReport
from runtime.settings import Settings, load_settings
from runtime.toolkit.base import Tool

PathLike = str | Path


class Runtime(core.Runtime):
    """Runs teams on a project; close it (or use `with`) to stop what it started."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        project_dir: PathLike | None = None,
        tools: Iterable[Tool] = (),
        teams: Iterable[Team] = (),
        **overrides: Any,
    ) -> None:
        if settings is None:
            project = Path(project_dir).resolve() if project_dir is not None else None
            settings = load_settings(project_dir=project, **overrides)
        elif project_dir is not None or overrides:
            raise ConfigError("give Runtime either settings= or project_dir= and overrides")
        super().__init__(settings)
        self.registry = self.registry.with_tools(tools)
        self._teams: dict[str, Team] = {}
        for team in teams:
            self.add_team(team)

    @classmethod
    def open(cls, path: PathLike = ".", **kwargs: Any) -> Runtime:
        """A Runtime on the project folder at `path` (its runtime.toml, agents/, tools/)."""
        return cls(project_dir=path, **kwargs)

    def add_team(self, team: Team) -> None:
        """Make a Team object runnable by name (it wins over agents/ with the same name)."""
        if not isinstance(team, Team):
            raise ConfigError(f"{team!r} is not a Team")
        known = self._teams.get(team.name)
        if known is not None and known != team:
            raise ConfigError(f"another team named {team.name!r} was given; rename one")
        self._teams[team.name] = team

    def load_team(self, name: str) -> tuple[Team, dict[str, Model]]:
        team = self._teams.get(name)
        if team is None:
            return super().load_team(name)
        base = self.settings.project_dir.resolve()
        chosen = self.settings.model  # RUNTIME_MODEL replaces every agent's model
        return team, {a.name: resolve_model(chosen or a.model, base) for a in team.agents}

    def exec(  # type: ignore[override]
        self,
        task: str,
        team: Team | str,
        *,
        input_dir: PathLike | None = None,
        output_dir: PathLike | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> RunResult:
        """Run `task` with `team` (an object or a name from agents/); every tool call is
        authorized, executed, checked, committed and audited."""
        if isinstance(team, Team):
            self.add_team(team)
            team = team.name
        return super().exec(
            task,
            team,
            input_dir=_path(input_dir),
            output_dir=_path(output_dir),
            on_step=on_step,
        )

    async def aexec(
        self,
        task: str,
        team: Team | str,
        *,
        input_dir: PathLike | None = None,
        output_dir: PathLike | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> RunResult:
        """`exec` in a worker thread, so an event loop keeps serving while a run goes on."""
        return await asyncio.to_thread(
            self.exec, task, team, input_dir=input_dir, output_dir=output_dir, on_step=on_step
        )

    def __enter__(self) -> Runtime:
        return self


def _path(value: PathLike | None) -> Path | None:
    return Path(value) if value is not None else None
