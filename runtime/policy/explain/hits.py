"""From what an engine observed to the list of rules shown: which definitions held, and
the value each added (the same listing for every engine)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.policy.explain.results import RuleHit
from runtime.policy.explain.source import Definition, PolicySource


def contributes(value: Any) -> bool:
    """A value that decided something: defined, not false, not empty."""
    return value is not None and value is not False and value not in ({}, [], "")


def sorted_values(values: Iterable[Any]) -> list[Any]:
    """A set's elements in a stable order (strings by code point, as Rego orders them),
    without duplicates."""
    unique = {json.dumps(value, sort_keys=True, ensure_ascii=False): value for value in values}
    return [unique[key] for key in sorted(unique)]


@dataclass
class Observed:
    """What an engine saw for one input: the entrypoint's firing branch, each definition's
    own value (absent when the definition was not observed or did not hold) and, from a
    trace, the definitions whose bodies held."""

    entrypoint: tuple[Definition, int] | None = None
    values: dict[Definition, Any] = field(default_factory=dict)
    exited: list[Definition] = field(default_factory=list)


def entrypoint_definitions(source: PolicySource, entrypoint: str) -> list[Definition]:
    return [d for d in source.rule_at(entrypoint) if not d.function]


def read_by_entrypoint(source: PolicySource, entrypoint: str) -> list[tuple[str, str]]:
    """Every rule any definition or branch of the entrypoint names (what may be listed)."""
    found: list[tuple[str, str]] = []
    for definition in entrypoint_definitions(source, entrypoint):
        for target in source.reads(definition):
            if target not in found:
                found.append(target)
    return found


def hits_from(
    source: PolicySource, entrypoint: str, observed: Observed, result: Any
) -> list[RuleHit]:
    """The rules to list for what was observed (see the module docstring)."""
    path = "data." + entrypoint.replace("/", ".")
    if observed.entrypoint is None:
        return [RuleHit(rule=path, value=result)]
    fired, branch = observed.entrypoint
    hits = [RuleHit(rule=path, location=fired.branch_location(branch), value=result)]
    for package, name in source.reads(fired, branch):
        definitions = source.rule(package, name)
        if any(d.function for d in definitions):
            continue
        held = [
            d
            for d in definitions
            if d.conditional and d in observed.values and contributes(observed.values[d])
        ]
        if held and not held[0].multi:
            held = held[:1]
        hits.extend(
            RuleHit(rule=d.path, location=d.location, value=canonical(d, observed.values[d]))
            for d in held
        )
    return hits


def canonical(definition: Definition, value: Any) -> Any:
    """A multi-value definition's elements in one order, whichever engine listed them."""
    return sorted_values(value) if definition.multi and isinstance(value, list) else value


def whole_rule_hits(
    source: PolicySource,
    entrypoint: str,
    result: Any,
    evaluate: Callable[[str], Any],
) -> list[RuleHit]:
    """The fallback: each rule the entrypoint reads, evaluated whole, without locations."""
    hits = [RuleHit(rule="data." + entrypoint.replace("/", "."), value=result)]
    for package, name in read_by_entrypoint(source, entrypoint):
        definitions = source.rule(package, name)
        if not any(d.conditional for d in definitions) or any(d.function for d in definitions):
            continue
        value = evaluate(f"{package.replace('.', '/')}/{name}")
        if contributes(value):
            hits.append(RuleHit(rule=f"data.{package}.{name}", value=value))
    return hits
