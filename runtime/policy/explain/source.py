"""The policy sources read with a small Rego lexer: enough to find packages, imports, rule
heads, `else` branches and the names a rule reads, not a parser. It needs no OPA binary,
so the embedded engine explains without one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
        under the bundle's path and the file's; a trace may shorten the name to its end)."""
        if file in self.modules:
            return file
        suffixes = [m for m in self.modules if file.endswith("/" + m)]
        if suffixes:
            return max(suffixes, key=len)
        # OPA's pretty trace shortens a long file name to `<start>...<end>`: match the end.
        tail = file.rsplit("...", 1)[1] if "..." in file else file
        tail = tail if tail.startswith("/") or "..." in file else "/" + tail
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
