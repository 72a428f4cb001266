"""The tool seam: `Tool`, what a tool may use (`ToolContext`), what it returns (`ToolOutcome`).

A tool is a typed description plus the code the pipeline runs *after* authorization. Where
the code runs is part of the description: `host` (a function in the runtime's process),
`brokered` (host-side, reaching a resource only through the services the `ToolContext`
hands out, like memory) or `sandbox` (the tool's module is shipped into the run's box and
called there; the host object carries only metadata and source).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from runtime.errors import ConfigError
from runtime.models import Effect, ExecResult, Trust
from runtime.provenance.args import SinkSpec

if TYPE_CHECKING:
    from runtime.sandbox.base import Sandbox

Where = Literal["host", "brokered", "sandbox"]
WHERE: tuple[Where, ...] = ("host", "brokered", "sandbox")

# Dotted lower-case names (`fs.read`, `weather.today`): what grants and budgets key on.
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){0,3}$")


@dataclass
class StagedMemoryWrite:
    namespace: str
    text: str
    source: str
    trust: Trust


@dataclass
class ToolOutcome:
    """What a tool produced: text for the agent, plus staged effects awaiting the check.

    `field_trust` labels the fields of a structured result one by one (`trust` is then the
    least trusted of them); `value` is that structured result as JSON data.
    """

    result: str
    ok: bool = True
    trust: Trust = Trust.TRUSTED
    source: str | None = None
    exec_result: ExecResult | None = None
    memory_writes: list[StagedMemoryWrite] = field(default_factory=list)
    value: Any = None
    field_trust: dict[str, Trust] = field(default_factory=dict)

    def untrusted_text(self) -> list[str]:
        """The parts of the result that came from untrusted content (for taint tracking)."""
        if self.field_trust and isinstance(self.value, dict):
            return [
                _as_text(self.value[name])
                for name, trust in self.field_trust.items()
                if trust == Trust.UNTRUSTED and name in self.value
            ]
        return [self.result] if self.trust == Trust.UNTRUSTED else []


def _as_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ToolContext:
    """What a tool may use: the run's sandbox (started on first use), memory search, and
    the obligations of the decision that allowed the call."""

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
        obligations: Mapping[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.agent = agent
        self.tenant = tenant
        self._sandbox = sandbox
        self.memory_search = memory_search
        self.input_files = input_files
        self.call_timeout_s = call_timeout_s
        self.obligations: Mapping[str, Any] = dict(obligations or {})

    def sandbox(self) -> Sandbox:
        return self._sandbox()

    def own_namespace(self) -> str:
        return f"{self.tenant}/{self.agent}"


HostFunction = Callable[[Any, ToolContext], ToolOutcome]


@dataclass(frozen=True)
class SandboxCode:
    """A sandboxed tool as the host keeps it: the module's source and the function's name."""

    module_name: str
    filename: str
    source: str
    function: str


@dataclass(frozen=True, eq=False)
class Tool:
    """One tool the pipeline can gate: what it does (`effect`), where it runs (`where`) and
    how far what it returns can be trusted (`trust`, or `field_trust` per result field).

    Host and brokered tools carry `function(args, ctx) -> ToolOutcome`. A sandboxed tool
    carries either `code` (a user's module, shipped into the box and called there) or, for
    the built-ins, a `function` that only drives the box through `ctx.sandbox()` (the
    executor's own operations: run_python, read, write).
    """

    name: str
    effect: Effect
    description: str
    args_model: type[BaseModel]
    function: HostFunction | None = None
    where: Where = "host"
    trust: Trust = Trust.UNTRUSTED
    field_trust: Mapping[str, Trust] = field(default_factory=dict)
    code: SandboxCode | None = None
    # The undecorated Python function, for calling a host tool directly (e.g. in tests).
    python_function: Callable[..., Any] | None = None
    # Sensitive arguments (recipients, accounts, URLs, ...): argument -> SinkSpec, see
    # runtime/provenance/args.py; `@tool(sinks=...)` parses and checks them.
    sinks: Mapping[str, SinkSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ConfigError(
                f"tool name {self.name!r} must be lower-case words joined by dots "
                f"(pattern {TOOL_NAME.pattern})"
            )
        if self.where not in WHERE:
            raise ConfigError(
                f"tool {self.name}: where={self.where!r} must be one of {', '.join(WHERE)}"
            )
        if (self.code is None) == (self.function is None):
            raise ConfigError(f"tool {self.name}: give it either a function or sandbox code")
        if self.code is not None and self.where != "sandbox":
            raise ConfigError(f'tool {self.name}: shipped code runs only where="sandbox"')

    @property
    def in_sandbox(self) -> bool:
        return self.where == "sandbox"

    @property
    def output_trust(self) -> str | dict[str, str]:
        """The declared trust of what it returns: one label, or one per result field."""
        if self.field_trust:
            return {name: trust.value for name, trust in self.field_trust.items()}
        return self.trust.value

    def parse_args(self, args: dict[str, Any]) -> BaseModel:
        try:
            return self.args_model.model_validate(args)
        except ValidationError as exc:
            detail = exc.errors()[0]
            where = ".".join(str(p) for p in detail["loc"]) or "args"
            raise ConfigError(f"tool {self.name}: bad argument {where}: {detail['msg']}") from exc

    def json_schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema, as a model is offered the tool."""
        return self.args_model.model_json_schema()

    def spec(self) -> dict[str, Any]:
        """Name, description and parameters: the shape chat models take tool offers in."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.json_schema(),
        }

    def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutcome:
        """Run the tool on validated args under the decision's obligations."""
        from runtime.toolkit.obligations import apply_obligations, obligation_problems

        problems = obligation_problems(ctx.obligations)
        if problems:
            # Fail closed: the policy asked for something nobody would enforce.
            return ToolOutcome(
                result=f"not run: the decision's obligations cannot be honoured: "
                f"{'; '.join(problems)} (fix authz.obligations in the policy data)",
                ok=False,
            )
        if self.code is not None:
            from runtime.toolkit.sandboxed import run_in_sandbox

            outcome = run_in_sandbox(self, args, ctx)
        else:
            assert self.function is not None
            outcome = self.function(args, ctx)
        return apply_obligations(outcome, ctx.obligations)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call a decorated host tool's own function, outside any run (a sandboxed tool's
        code runs only in the box)."""
        if self.python_function is None:
            if self.where == "sandbox":
                raise ConfigError(
                    f"tool {self.name} runs in the sandbox and cannot be called directly"
                )
            raise ConfigError(
                f"tool {self.name} has no plain function to call; run it through a Runtime"
            )
        return self.python_function(*args, **kwargs)


class ToolRegistry:
    """The tools a run may propose, by name; a name is defined once."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self._add(tool)

    def _add(self, tool: Tool) -> None:
        if not isinstance(tool, Tool):
            raise ConfigError(f"{tool!r} is not a Tool: decorate the function with @tool")
        if tool.name in self._tools and self._tools[tool.name] is not tool:
            raise ConfigError(
                f"tool {tool.name!r} is defined twice; rename one (name=... in @tool)"
            )
        self._tools[tool.name] = tool

    def with_tools(self, tools: Iterable[Tool]) -> ToolRegistry:
        """A new registry with these tools added (a name clash is an error)."""
        registry = ToolRegistry(self._tools.values())
        for tool in tools:
            registry._add(tool)
        return registry

    def get(self, name: str) -> Tool:
        if name not in self._tools:
            known = ", ".join(sorted(self._tools))
            raise ConfigError(f"unknown tool {name!r}; known tools: {known}")
        return self._tools[name]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter([self._tools[name] for name in sorted(self._tools)])
