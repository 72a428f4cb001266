"""Tool registry: the tools a run may propose, their effect class and argument schema.

A tool is a typed description plus a function the pipeline calls *after* authorization,
with a ToolContext that hands out the run's sandbox and staging areas. Tools never commit:
they return a ToolOutcome whose staged effects the safety node sees before the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runtime.errors import ConfigError
from runtime.models import Effect, ExecResult, Trust

if TYPE_CHECKING:
    from runtime.sandbox.base import Sandbox


@dataclass
class StagedMemoryWrite:
    namespace: str
    text: str
    source: str
    trust: Trust


@dataclass
class ToolOutcome:
    """What a tool produced: text for the agent, plus staged effects awaiting the check."""

    result: str
    ok: bool = True
    trust: Trust = Trust.TRUSTED
    source: str | None = None
    exec_result: ExecResult | None = None
    memory_writes: list[StagedMemoryWrite] = field(default_factory=list)


class ToolContext:
    """What a tool may use: the run's sandbox (started on first use) and memory search."""

    def __init__(
        self,
        *,
        run_id: str,
        agent: str,
        tenant: str,
        sandbox: Callable[[], Sandbox],
        memory_search: Callable[[str, str, int], list[dict[str, Any]]],
        input_files: frozenset[str],
        call_timeout_s: float | None,
    ) -> None:
        self.run_id = run_id
        self.agent = agent
        self.tenant = tenant
        self._sandbox = sandbox
        self.memory_search = memory_search
        self.input_files = input_files
        self.call_timeout_s = call_timeout_s

    def sandbox(self) -> Sandbox:
        return self._sandbox()

    def own_namespace(self) -> str:
        return f"{self.tenant}/{self.agent}"


ToolFunction = Callable[[Any, ToolContext], ToolOutcome]


@dataclass(frozen=True)
class Tool:
    name: str
    effect: Effect
    description: str
    args_model: type[BaseModel]
    run: ToolFunction
    in_sandbox: bool

    def parse_args(self, args: dict[str, Any]) -> BaseModel:
        try:
            return self.args_model.model_validate(args)
        except ValidationError as exc:
            detail = exc.errors()[0]
            where = ".".join(str(p) for p in detail["loc"]) or "args"
            raise ConfigError(f"tool {self.name}: bad argument {where}: {detail['msg']}") from exc


class ToolRegistry:
    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def get(self, name: str) -> Tool:
        if name not in self._tools:
            known = ", ".join(sorted(self._tools))
            raise ConfigError(f"unknown tool {name!r}; known tools: {known}")
        return self._tools[name]

    def names(self) -> list[str]:
        return sorted(self._tools)


def builtin_registry() -> ToolRegistry:
    from tools.fs import FS_TOOLS
    from tools.memory import MEMORY_TOOLS
    from tools.python import PYTHON_TOOLS

    return ToolRegistry([*PYTHON_TOOLS, *FS_TOOLS, *MEMORY_TOOLS])
