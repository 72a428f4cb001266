"""`@tool`: a typed Python function becomes a `Tool`.

    @tool(effect="read", trust="untrusted")
    def weather(city: str, days: int = 1) -> dict[str, Any]:
        "Today's forecast for a city."

The argument model is built from the signature (pydantic `create_model`, unknown arguments
refused) unless an explicit pydantic model is given with `args_model=`; a parameter
annotated `ToolContext` receives the run's context and is not an argument. The effect class
must be declared; trust defaults to `untrusted`, because a tool that brings in outside
content must never be mistaken for the user's own words.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, create_model

from runtime.errors import AgentRuntimeError, ConfigError
from runtime.models import Effect, Trust
from runtime.provenance.args import SinkSpec, parse_sinks
from runtime.toolkit.base import WHERE, SandboxCode, Tool, ToolContext, ToolOutcome, Where

TrustSpec = Trust | str | Mapping[str, Trust | str]


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    function: None = None,
    /,
    *,
    effect: Effect | str | None = None,
    where: Where = "host",
    trust: TrustSpec = Trust.UNTRUSTED,
    name: str | None = None,
    description: str | None = None,
    args_model: type[BaseModel] | None = None,
    sinks: Mapping[str, str | Mapping[str, str]] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    effect: Effect | str | None = None,
    where: Where = "host",
    trust: TrustSpec = Trust.UNTRUSTED,
    name: str | None = None,
    description: str | None = None,
    args_model: type[BaseModel] | None = None,
    sinks: Mapping[str, str | Mapping[str, str]] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Declare a tool: `effect` (read, write, exec, external, egress), `where` it runs
    (host, brokered, sandbox), the `trust` of what it returns (a Trust, or a mapping
    from result field to Trust for a structured result) and its `sinks` (arguments whose
    value must not come from untrusted content: `{"to": "recipient"}`)."""

    def decorate(fn: Callable[..., Any]) -> Tool:
        return make_tool(
            fn,
            effect=effect,
            where=where,
            trust=trust,
            name=name,
            description=description,
            args_model=args_model,
            sinks=sinks,
        )

    if function is not None:
        return decorate(function)
    return decorate


def make_tool(
    fn: Callable[..., Any],
    *,
    effect: Effect | str | None,
    where: Where = "host",
    trust: TrustSpec = Trust.UNTRUSTED,
    name: str | None = None,
    description: str | None = None,
    args_model: type[BaseModel] | None = None,
    sinks: Mapping[str, str | Mapping[str, str]] | None = None,
) -> Tool:
    tool_name = name or fn.__name__
    if effect is None:
        raise ConfigError(
            f'tool {tool_name}: declare its effect, e.g. @tool(effect="read") '
            f"(one of {', '.join(e.value for e in Effect)})"
        )
    try:
        declared = Effect(effect)
    except ValueError:
        raise ConfigError(
            f"tool {tool_name}: unknown effect {effect!r}; one of "
            f"{', '.join(e.value for e in Effect)}"
        ) from None
    if where not in WHERE:
        raise ConfigError(f"tool {tool_name}: where={where!r} must be one of {', '.join(WHERE)}")
    overall, per_field = _trust(tool_name, trust)
    context_param, model, explicit = _arguments(tool_name, fn, args_model)
    text = description or (inspect.getdoc(fn) or tool_name).split("\n\n")[0].strip()
    common: dict[str, Any] = {
        "sinks": _sinks(tool_name, sinks or {}, model),
        "name": tool_name,
        "effect": declared,
        "description": text,
        "args_model": model,
        "where": where,
        "trust": overall,
        "field_trust": per_field,
    }
    if where == "sandbox":
        if context_param is not None:
            raise ConfigError(
                f"tool {tool_name}: a sandboxed tool runs in the box and cannot take a "
                'ToolContext; use where="host" or drop the parameter'
            )
        return Tool(code=_sandbox_code(tool_name, fn), **common)
    adapter = _host_adapter(tool_name, fn, context_param, explicit, overall, per_field)
    return Tool(function=adapter, python_function=fn, **common)


def _trust(name: str, trust: TrustSpec) -> tuple[Trust, dict[str, Trust]]:
    try:
        if isinstance(trust, Mapping):
            per_field = {str(k): Trust(v) for k, v in trust.items()}
            # A field the mapping does not name is untrusted, so the whole may be too.
            return Trust.UNTRUSTED, per_field
        return Trust(trust), {}
    except ValueError:
        raise ConfigError(
            f"tool {name}: trust must be 'trusted', 'untrusted' or a mapping of result "
            f"fields to those, not {trust!r}"
        ) from None


def _sinks(
    name: str, declared: Mapping[str, str | Mapping[str, str]], model: type[BaseModel]
) -> dict[str, SinkSpec]:
    unknown = sorted(set(declared) - set(model.model_fields))
    if unknown:
        raise ConfigError(f"tool {name}: sink {unknown[0]!r} is not one of its arguments")
    try:
        return parse_sinks(declared)
    except ValueError as exc:
        raise ConfigError(f"tool {name}: {exc}") from exc


def _arguments(
    name: str, fn: Callable[..., Any], args_model: type[BaseModel] | None
) -> tuple[str | None, type[BaseModel], bool]:
    """(the ToolContext parameter's name, the argument model, whether it was explicit)."""
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        if args_model is None:
            raise ConfigError(f"tool {name}: cannot read its type hints: {exc}") from exc
        hints = {}  # the model gives the arguments; only the context parameter is looked for
    context_param: str | None = None
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool {name}: *args and **kwargs cannot be tool arguments")
        annotation = hints.get(param.name, param.annotation)
        if annotation in (ToolContext, "ToolContext"):
            context_param = param.name
            continue
        if annotation is inspect.Parameter.empty:
            raise ConfigError(f"tool {name}: argument {param.name!r} needs a type annotation")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    if args_model is not None:
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise ConfigError(f"tool {name}: args_model must be a pydantic model class")
        if len(fields) != 1:
            raise ConfigError(
                f"tool {name}: with args_model=, the function takes one argument (the model)"
            )
        return context_param, args_model, True
    model = create_model(  # type: ignore[call-overload]
        _model_name(name), __config__=ConfigDict(extra="forbid"), **fields
    )
    return context_param, model, False


def _model_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Args"


def _host_adapter(
    name: str,
    fn: Callable[..., Any],
    context_param: str | None,
    explicit: bool,
    trust: Trust,
    field_trust: dict[str, Trust],
) -> Callable[[Any, ToolContext], ToolOutcome]:
    def run(args: BaseModel, ctx: ToolContext) -> ToolOutcome:
        kwargs: dict[str, Any]
        if explicit:
            kwargs = {next(iter(_params(fn, context_param))): args}
        else:
            kwargs = {field: getattr(args, field) for field in type(args).model_fields}
        if context_param is not None:
            kwargs[context_param] = ctx
        try:
            value = fn(**kwargs)
        except AgentRuntimeError:
            raise
        except Exception as exc:
            # The agent gets the failure as the tool's answer and can try another way.
            return ToolOutcome(
                result=f"tool {name} failed: {type(exc).__name__}: {exc}",
                ok=False,
                trust=trust,
                source=f"tool:{name}",
            )
        return outcome_from_value(name, value, trust, field_trust)

    return run


def _params(fn: Callable[..., Any], skip: str | None) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != skip]


def outcome_from_value(
    name: str, value: Any, trust: Trust, field_trust: Mapping[str, Trust]
) -> ToolOutcome:
    """A tool function's return value as the agent sees it, labelled with its trust."""
    if isinstance(value, ToolOutcome):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    labels: dict[str, Trust] = {}
    overall = trust
    if field_trust and isinstance(value, dict):
        labels = {key: field_trust.get(key, Trust.UNTRUSTED) for key in value}
        overall = Trust.UNTRUSTED if Trust.UNTRUSTED in labels.values() else Trust.TRUSTED
    return ToolOutcome(
        result=text, trust=overall, source=f"tool:{name}", value=value, field_trust=labels
    )


def _sandbox_code(name: str, fn: Callable[..., Any]) -> SandboxCode:
    """The module that defines `fn`, read from its file: what the box will run."""
    module = sys.modules.get(fn.__module__)
    filename = inspect.getsourcefile(fn) or getattr(module, "__file__", None)
    if not filename or not Path(filename).is_file():
        raise ConfigError(
            f"tool {name}: a sandboxed tool must be defined in a .py file (its module is "
            "shipped into the box); put it in the project's tools/ folder"
        )
    if fn.__qualname__ != fn.__name__:
        raise ConfigError(f"tool {name}: a sandboxed tool must be a module-level function")
    return SandboxCode(
        module_name=fn.__module__,
        filename=Path(filename).name,
        source=Path(filename).read_text(encoding="utf-8"),
        function=fn.__name__,
    )
