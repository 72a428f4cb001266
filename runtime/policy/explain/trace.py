"""Explaining on the OPA server: one query with `?explain=full&pretty=true` (rule bodies
that held, with `file:row`) and, only to split a multi-value rule between its bodies, one
with `?explain=full` (the JSON trace: the head's key or value among each event's locals).
The two list the same events in the same order; an Exit line is matched to its event by
position and checked by rule name."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.policy.explain.hits import Observed, entrypoint_definitions, sorted_values
from runtime.policy.explain.source import Definition, PolicySource

PRETTY_LINE = re.compile(r"^(?P<file>\S+?):(?P<row>\d+)\s+(?:\| )*(?P<op>\w+) (?P<rest>.*)$")


class TraceMismatch(Exception):
    """Internal: the JSON trace and the pretty trace do not line up."""


def term_value(term: Any, local_terms: Mapping[str, Any], depth: int = 0) -> Any:
    """A JSON value from an OPA AST term, resolving variables from the event's locals."""
    if depth > 64 or not isinstance(term, dict):
        raise ValueError("not a value")
    kind, value = term.get("type"), term.get("value")
    if kind in ("null", "boolean", "number", "string"):
        return value
    if kind == "var":
        if not isinstance(value, str) or value not in local_terms:
            raise ValueError(f"unbound {value}")
        return term_value(local_terms[value], local_terms, depth + 1)
    if kind == "array":
        return [term_value(item, local_terms, depth + 1) for item in value or []]
    if kind == "set":
        return sorted_values(term_value(item, local_terms, depth + 1) for item in value or [])
    if kind == "object":
        result: dict[str, Any] = {}
        for key, item in value or []:
            key_value = term_value(key, local_terms, depth + 1)
            label = key_value if isinstance(key_value, str) else json.dumps(key_value)
            result[label] = term_value(item, local_terms, depth + 1)
        return result
    raise ValueError(f"not a value: {kind}")


def event_value(event: Mapping[str, Any]) -> tuple[Any, Any]:
    """(key, value) of a rule Exit event's head; None where the head has none."""
    head = event.get("node", {}).get("head", {})
    local_terms = {
        item["key"]["value"]: item["value"]
        for item in event.get("locals") or []
        if isinstance(item, dict) and isinstance(item.get("key"), dict)
    }
    key = term_value(head["key"], local_terms) if "key" in head else None
    value = term_value(head["value"], local_terms) if "value" in head else None
    return key, value


def observed_from_trace(
    source: PolicySource,
    entrypoint: str,
    lines: Sequence[str],
    events: Sequence[Mapping[str, Any]] | None = None,
) -> Observed:
    """The entrypoint's branch and the definitions whose bodies held, from OPA's pretty
    trace; with the JSON trace of the same query also each definition's own value.

    Raises TraceMismatch when the JSON events do not match the lines one to one.
    """
    if events is not None and len(events) != len(lines):
        raise TraceMismatch(f"{len(events)} trace events but {len(lines)} trace lines")
    path = "data." + entrypoint.replace("/", ".")
    observed = Observed()
    pairs: dict[Definition, list[tuple[Any, Any]]] = {}
    for index, line in enumerate(lines):
        match = PRETTY_LINE.match(line)
        if match is None or match["op"] != "Exit":
            continue
        found = source.at(match["file"], int(match["row"]))
        rule_path = match["rest"].split(" ", 1)[0]
        if found is None or rule_path != found[0].path:
            continue  # a function call, a body or an expression
        definition, branch = found
        if rule_path == path:
            observed.entrypoint = observed.entrypoint or (definition, branch)
            continue
        if definition not in observed.exited:
            observed.exited.append(definition)
        if events is None:
            continue
        event = events[index]
        head = event.get("node", {}).get("head", {})
        if (
            event.get("op") != "exit"
            or event.get("type") != "rule"
            or head.get("name") != definition.name
        ):
            raise TraceMismatch(f"trace line {line!r} is not the event beside it")
        try:
            pairs.setdefault(definition, []).append(event_value(event))
        except (KeyError, ValueError):
            continue
    for definition, found_pairs in pairs.items():
        observed.values[definition] = merged_value(definition, found_pairs)
    if observed.entrypoint is None:
        defaults = [d for d in entrypoint_definitions(source, entrypoint) if d.default]
        observed.entrypoint = (defaults[0], 0) if defaults else None
    return observed


def merged_value(definition: Definition, pairs: Sequence[tuple[Any, Any]]) -> Any:
    """One definition's value from its Exit events: a set's elements, an object's items, or
    a single value."""
    if not definition.multi:
        return pairs[0][1]
    if any(value is not None for _, value in pairs):
        return {key if isinstance(key, str) else json.dumps(key): value for key, value in pairs}
    return sorted_values(key for key, _ in pairs)


def attribute_whole_rules(
    source: PolicySource, observed: Observed, evaluate: Callable[[str], Any]
) -> bool:
    """Give each rule the fired branch reads the rule's whole value, where only one of its
    definitions held (exact: no other definition added anything). False when a multi-value
    rule has several that held: only the JSON trace can split its value between them."""
    if observed.entrypoint is None:
        return True
    fired, branch = observed.entrypoint
    found: dict[tuple[str, str], Any] = {}
    for package, name in source.reads(fired, branch):
        definitions = source.rule(package, name)
        if any(d.function for d in definitions):
            continue
        held = [d for d in observed.exited if d in definitions and d.conditional]
        if not held:
            continue
        if len(held) > 1 and held[0].multi:
            return False
        found[(package, name)] = held
    for (package, name), held in found.items():
        value = evaluate(f"{package.replace('.', '/')}/{name}")
        for definition in held:
            observed.values[definition] = value
    return True
