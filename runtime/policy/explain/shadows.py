"""Explaining on the embedded engine (regopy has no tracer): each definition of the rules
an entrypoint reads is copied beside the original under a private name
(`__explain_<n>_<name>`, same package and imports) so its own value can be asked with the
engine's own evaluation; an `else` chain is copied once per branch, cut after it, and the
first cut copy that is defined is the branch that fired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.policy.explain.hits import Observed, entrypoint_definitions, read_by_entrypoint
from runtime.policy.explain.source import Definition, PolicySource

SHADOW_PREFIX = "__explain_"
SHADOW_MODULE_DIR = "__explain__"


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
