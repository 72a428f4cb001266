"""Which rules produced a decision: the branch of the entrypoint that fired, and the rules
it reads whose conditions held, each with its `file:row` and the value it contributed.

    runtime policy eval --input call.json
    deny (opa-server, sha256:...)
      - tool python.run is not granted to agent planner
    produced by:
      data.runtime.authz.decision  authz.rego:30
      data.runtime.authz.deny  authz.rego:61  ["tool python.run is not granted to agent planner"]

What is listed, on every engine, for any policy (the built-in library or a user's):

1. the entrypoint, located at the definition or `else` branch that gave its value (the
   `default` when none did);
2. every rule that branch reads directly (by name in its package, through `data.<pkg>.<rule>`
   or an import), one entry per definition whose condition held: a definition with an `if`
   body, or a `contains` / `p[k]` rule, that is defined, not `false` and not empty. Constant
   and alias rules (`tool := input.action.tool`) and functions are not listed: they decide
   nothing. For a multi-value rule the value is what that definition added (`deny: [...]`);
   for a single-value rule only the first definition that holds is listed, as OPA stops there.

How each engine observes it (an optional capability, `ExplainingEngine.explain`):

- OPA server: one query with `?explain=full` (the trace: rule Exit events with the head's
  key or value among the locals) and one with `&pretty=true` (the same events as text lines,
  with `file:row`). The two list the same events in the same order; an Exit line is matched
  to its event by position and checked by rule name.
- embedded (regopy has no tracer): each definition of those rules is copied beside the
  original under a private name (`__explain_<n>_<name>`, same package and imports), so that
  its own value can be asked with the engine's own evaluation; an `else` chain is copied
  once per branch, cut after it, and the first cut copy that is defined is the branch that
  fired.

Where neither works (a copy does not compile, a trace does not line up, the sources are not
known) the rules read by the entrypoint are evaluated whole, without locations.

The policy sources are read with a small Rego lexer (`PolicySource`): enough to find
packages, imports, rule heads, `else` branches and the names a rule reads, not a parser. It
needs no OPA binary, so the embedded engine explains without one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from runtime.errors import AgentRuntimeError, UserError
from runtime.models import Frozen, MemoryAccessInput, PolicyInput
from runtime.policy.base import (
    AUTHZ_ENTRYPOINT,
    MEMORY_ENTRYPOINT,
    SAFETY_ENTRYPOINT,
    PolicyEngine,
)

EntrypointName = Literal["authz", "memory", "safety"]
ENTRYPOINTS: dict[str, str] = {
    "authz": AUTHZ_ENTRYPOINT,
    "memory": MEMORY_ENTRYPOINT,
    "safety": SAFETY_ENTRYPOINT,
}
SHADOW_PREFIX = "__explain_"
SHADOW_MODULE_DIR = "__explain__"

# --------------------------------------------------------------------------- results


class RuleHit(Frozen):
    """One rule definition that produced (part of) a decision."""

    rule: str
    location: str | None = None
    value: Any = None


class Explanation(Frozen):
    """What an engine observed: the entrypoint's value and the rules that produced it."""

    result: Any = None
    rules: list[RuleHit]


class ExplainedDecision(Frozen):
    """A decision as the runtime would take it, with the rules that produced it."""

    entrypoint: str
    outcome: str
    decision: dict[str, Any]
    rules: list[RuleHit]
    note: str = ""

    def document(self) -> dict[str, Any]:
        """The `--json` document: `{"decision": {...}, "rules": [...]}`."""
        return {
            "decision": self.decision,
            "rules": [hit.model_dump(mode="json") for hit in self.rules],
        }


@runtime_checkable
class ExplainingEngine(Protocol):
    """A PolicyEngine that can also say which rules produced an entrypoint's value."""

    def explain(self, entrypoint: str, input_doc: dict[str, Any]) -> Explanation: ...


# --------------------------------------------------------------------------- sources

KEYWORDS = frozenset(
    {
        "as", "contains", "data", "default", "else", "every", "false", "if", "import", "in",
        "input", "not", "null", "package", "some", "true", "with",
    }
)  # fmt: skip

TOKEN = re.compile(
    r"""
    (?P<newline>\n)
  | (?P<space>[ \t\r\f]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>\d[\w.]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    offset: int
    row: int
    depth: int
    starts_line: bool

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


def tokenize(source: str) -> list[Token]:
    """Tokens without spaces and comments, each with its row and bracket depth."""
    tokens: list[Token] = []
    row, depth, starts_line = 1, 0, True
    for match in TOKEN.finditer(source):
        kind, text = match.lastgroup or "op", match.group()
        if kind == "newline":
            row, starts_line = row + 1, True
            continue
        if kind in ("space", "comment"):
            continue
        if kind == "op" and text in "}])":
            depth = max(0, depth - 1)
        tokens.append(Token(kind, text, match.start(), row, depth, starts_line))
        if kind == "op" and text in "{[(":
            depth += 1
        row += text.count("\n")
        starts_line = False
    return tokens


@dataclass(frozen=True)
class Branch:
    """One body of a definition: the first, or an `else` (offsets relative to the text)."""

    row: int
    start: int
    end: int


@dataclass(frozen=True)
class Definition:
    """One rule definition (`name ... if { ... } else ...`) in one module."""

    package: str
    name: str
    module: str
    row: int
    text: str
    name_offset: int
    branches: tuple[Branch, ...]
    tokens: tuple[Token, ...] = field(repr=False, compare=False)
    function: bool = False
    default: bool = False
    conditional: bool = False
    multi: bool = False

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"

    @property
    def location(self) -> str:
        return f"{self.module}:{self.row}"

    def branch_location(self, index: int) -> str:
        return f"{self.module}:{self.branches[index].row}"

    def renamed(self, name: str, upto: int | None = None) -> str:
        """The definition's text under another rule name, cut before `upto` when given."""
        text = self.text if upto is None else self.text[:upto].rstrip()
        return text[: self.name_offset] + name + text[self.name_offset + len(self.name) :]


@dataclass(frozen=True)
class Module:
    id: str
    package: str
    header: str
    imports: Mapping[str, tuple[str, ...]]


def statements(tokens: Sequence[Token]) -> list[list[Token]]:
    """Top-level statements: a name at depth 0 that starts a line (not `else`) opens one."""
    result: list[list[Token]] = []
    for token in tokens:
        opens = (
            token.depth == 0 and token.starts_line and token.kind == "name" and token.text != "else"
        )
        if opens or not result:
            result.append([token])
        else:
            result[-1].append(token)
    return result


def dotted(tokens: Sequence[Token], start: int) -> tuple[list[str], int]:
    """The names of `a.b.c` from `start`, and the index after them."""
    names = [tokens[start].text]
    index = start + 1
    while (
        index + 1 < len(tokens) and tokens[index].text == "." and tokens[index + 1].kind == "name"
    ):
        names.append(tokens[index + 1].text)
        index += 2
    return names, index


class PolicySource:
    """Packages, imports and rule definitions of a set of Rego modules."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self.modules: dict[str, Module] = {}
        self.definitions: list[Definition] = []
        for module_id, source in sorted(modules.items()):
            self._read(module_id, source)
        self.packages = frozenset(module.package for module in self.modules.values())
        self._by_rule: dict[tuple[str, str], list[Definition]] = {}
        for definition in self.definitions:
            key = (definition.package, definition.name)
            self._by_rule.setdefault(key, []).append(definition)

    def rule(self, package: str, name: str) -> list[Definition]:
        return self._by_rule.get((package, name), [])

    def rule_at(self, path: str) -> list[Definition]:
        """The definitions of `data.a.b.rule` (or `a/b/rule`)."""
        parts = path.removeprefix("data.").replace("/", ".").split(".")
        return self.rule(".".join(parts[:-1]), parts[-1])

    def module_id(self, file: str) -> str | None:
        """The module a file name stands for: its id, or the longest id it ends with (a
        server that loaded the bundle from files names them by their full path), or the
        shortest id that ends with it (a server that loaded a bundle lists its modules
        under the bundle's path and the file's)."""
        if file in self.modules:
            return file
        suffixes = [m for m in self.modules if file.endswith("/" + m)]
        if suffixes:
            return max(suffixes, key=len)
        tail = file if file.startswith("/") else "/" + file
        longer = [m for m in self.modules if m.endswith(tail)]
        return min(longer, key=len) if longer else None

    def at(self, file: str, row: int) -> tuple[Definition, int] | None:
        """The definition whose head or `else` branch starts at `file:row`, and which."""
        module = self.module_id(file)
        for definition in self.definitions:
            if definition.module != module:
                continue
            for index, branch in enumerate(definition.branches):
                if branch.row == row:
                    return definition, index
        return None

    def reads(self, definition: Definition, branch: int | None = None) -> list[tuple[str, str]]:
        """The rules (package, name) that a definition, or one of its branches, names."""
        if branch is None:
            lower, upper = 0, len(definition.text)
        else:
            lower, upper = definition.branches[branch].start, definition.branches[branch].end
        module = self.modules[definition.module]
        tokens = definition.tokens
        found: list[tuple[str, str]] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            inside = lower <= token.offset < upper
            follows_dot = index > 0 and tokens[index - 1].text == "."
            if token.kind != "name" or follows_dot or not inside:
                index += 1
                continue
            names, after = dotted(tokens, index)
            target = self._resolve(module, definition, names, index)
            if target is not None and target not in found:
                found.append(target)
            index = after if names[0] == "data" or names[0] in module.imports else index + 1
        return found

    # ------------------------------------------------------------------ internals

    def _resolve(
        self, module: Module, definition: Definition, names: list[str], index: int
    ) -> tuple[str, str] | None:
        head = names[0]
        if head == "data":
            return self._resolve_data(names[1:])
        if head in module.imports:
            return self._resolve_data([*module.imports[head], *names[1:]])
        if head in KEYWORDS or index == self._name_index(definition):
            return None
        if self.rule(definition.package, head):
            return definition.package, head
        return None

    def _resolve_data(self, parts: Sequence[str]) -> tuple[str, str] | None:
        for cut in range(len(parts) - 1, 0, -1):
            package = ".".join(parts[:cut])
            if package in self.packages and self.rule(package, parts[cut]):
                return package, parts[cut]
        return None

    @staticmethod
    def _name_index(definition: Definition) -> int:
        return 1 if definition.default else 0

    def _read(self, module_id: str, source: str) -> None:
        tokens = tokenize(source)
        package = ""
        header: list[str] = []
        imports: dict[str, tuple[str, ...]] = {}
        rules: list[list[Token]] = []
        for statement in statements(tokens):
            first = statement[0]
            text = source[first.offset : statement[-1].end]
            if first.text == "package" and len(statement) > 1:
                package = ".".join(dotted(statement, 1)[0])
                header.append(text)
            elif first.text == "import" and len(statement) > 1:
                header.append(text)
                path, after = dotted(statement, 1)
                alias = path[-1]
                if after + 1 < len(statement) and statement[after].text == "as":
                    alias = statement[after + 1].text
                if path[0] == "data" and len(path) > 1:
                    imports[alias] = tuple(path[1:])
            elif first.kind == "name" and package:
                rules.append(statement)
        self.modules[module_id] = Module(module_id, package, "\n".join(header), imports)
        for statement in rules:
            definition = self._definition(module_id, package, source, statement)
            if definition is not None:
                self.definitions.append(definition)

    @staticmethod
    def _definition(
        module_id: str, package: str, source: str, statement: list[Token]
    ) -> Definition | None:
        default = statement[0].text == "default"
        name_index = 1 if default else 0
        if name_index >= len(statement) or statement[name_index].kind != "name":
            return None
        name_token = statement[name_index]
        after_name = statement[name_index + 1].text if name_index + 1 < len(statement) else ""
        start = statement[0].offset
        text = source[start : statement[-1].end]
        else_tokens = [t for t in statement if t.depth == 0 and t.text == "else"]
        starts = [0, *(t.offset - start for t in else_tokens)]
        ends = [*starts[1:], len(text)]
        rows = [statement[0].row, *(t.row for t in else_tokens)]
        branches = tuple(
            Branch(row, lo, hi) for row, lo, hi in zip(rows, starts, ends, strict=True)
        )
        multi = after_name in ("contains", "[")
        has_body = any(t.depth == 0 and t.text in ("if", "else") for t in statement)
        return Definition(
            package=package,
            name=name_token.text,
            module=module_id,
            row=statement[0].row,
            text=text,
            name_offset=name_token.offset - start,
            branches=branches,
            tokens=tuple(
                Token(t.kind, t.text, t.offset - start, t.row, t.depth, t.starts_line)
                for t in statement
            ),
            function=after_name == "(",
            default=default,
            conditional=(has_body or multi) and not default,
            multi=multi,
        )


# --------------------------------------------------------------------------- observations


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


# --------------------------------------------------------------------------- embedded: copies


@dataclass(frozen=True)
class Shadow:
    """A private copy of one definition (or of an `else` chain cut after one branch)."""

    definition: Definition
    branch: int | None
    name: str

    @property
    def entrypoint(self) -> str:
        return f"{self.definition.package.replace('.', '/')}/{self.name}"


def shadow_copies(source: PolicySource, entrypoint: str) -> tuple[dict[str, str], list[Shadow]]:
    """Modules holding a copy of the entrypoint's branches and of every definition of the
    rules it reads, each under its own name; and what each copy stands for."""
    shadows: list[Shadow] = []
    texts: dict[str, list[str]] = {}

    def add(definition: Definition, branch: int | None) -> None:
        name = f"{SHADOW_PREFIX}{len(shadows)}_{definition.name}"
        upto = None if branch is None else definition.branches[branch].end
        shadows.append(Shadow(definition, branch, name))
        texts.setdefault(definition.module, []).append(definition.renamed(name, upto))

    for definition in entrypoint_definitions(source, entrypoint):
        for index in range(len(definition.branches)):
            add(definition, index)
    for package, name in read_by_entrypoint(source, entrypoint):
        definitions = source.rule(package, name)
        if any(d.function for d in definitions):
            continue
        for definition in definitions:
            if definition.conditional:
                add(definition, None)
    modules = {
        f"{SHADOW_MODULE_DIR}/{module_id}": source.modules[module_id].header
        + "\n\n"
        + "\n\n".join(rules)
        + "\n"
        for module_id, rules in texts.items()
    }
    return modules, shadows


def observed_from_shadows(
    source: PolicySource, entrypoint: str, shadows: Sequence[Shadow], values: Mapping[str, Any]
) -> Observed:
    """Read the copies' values: the first branch copy defined is the branch that fired."""
    observed = Observed()
    fallback: tuple[Definition, int] | None = None
    for shadow in shadows:
        value = values.get(shadow.name)
        if shadow.branch is None:
            if value is not None:
                observed.values[shadow.definition] = value
            continue
        if shadow.definition.default:
            fallback = fallback or (shadow.definition, 0)
        elif value is not None and observed.entrypoint is None:
            observed.entrypoint = (shadow.definition, shadow.branch)
    if observed.entrypoint is None:
        observed.entrypoint = fallback
    return observed


# --------------------------------------------------------------------------- OPA: trace


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


# --------------------------------------------------------------------------- the command


INPUT_MODELS: dict[str, type[BaseModel]] = {"authz": PolicyInput, "memory": MemoryAccessInput}


def explain_decision(
    engine: PolicyEngine, name: str, document: Mapping[str, Any]
) -> ExplainedDecision:
    """The decision the runtime would take for `document`, and the rules that produced it.

    The decision goes through the `Authorizer` (schema validation, fail-closed); the rules
    come from the engine's `explain` when it has one and the policy was asked at all.
    """
    from runtime.policy.authorizer import Authorizer, DecisionFailure, input_document

    if name not in ENTRYPOINTS:
        raise UserError(f"unknown entrypoint {name!r}: use one of {', '.join(ENTRYPOINTS)}")
    entrypoint = ENTRYPOINTS[name]
    authorizer = Authorizer(engine)
    model = INPUT_MODELS.get(name)
    decision: dict[str, Any]
    if model is None:
        decision = authorizer.safety_verdict(document)
        outcome = str(decision["verdict"])
        input_doc = dict(document)
    else:
        taken = authorizer.decide(entrypoint, model, document)
        outcome = taken.outcome
        decision = {"outcome": outcome, **taken.model_dump(mode="json")}
        try:
            input_doc = input_document(model, document)
        except DecisionFailure as failure:
            return ExplainedDecision(
                entrypoint=entrypoint,
                outcome=outcome,
                decision=decision,
                rules=[],
                note=f"the policy was not asked: {failure}",
            )
    if not isinstance(engine, ExplainingEngine):
        note = f"the {engine.name} engine cannot explain decisions"
        return ExplainedDecision(
            entrypoint=entrypoint, outcome=outcome, decision=decision, rules=[], note=note
        )
    try:
        explanation = engine.explain(entrypoint, input_doc)
    except AgentRuntimeError as exc:
        return ExplainedDecision(
            entrypoint=entrypoint,
            outcome=outcome,
            decision=decision,
            rules=[],
            note=f"no explanation: {exc}",
        )
    return ExplainedDecision(
        entrypoint=entrypoint, outcome=outcome, decision=decision, rules=explanation.rules
    )
