"""Memory namespaces: the grammar, the parsed form, and the storage name each maps to.

A namespace is `tenant/agent` (an agent's private memory) or `tenant/shared/<name>` (a space
several agents may be granted). Every segment matches `[a-z0-9][a-z0-9_-]{0,62}`; `shared`
is reserved as an agent name so the two forms can never be confused. Owns parsing and the
namespace -> collection-name mapping; never authorizes (that is the `runtime.memory` policy).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from runtime.errors import NamespaceError

__all__ = [
    "SEGMENT_PATTERN",
    "SHARED",
    "Namespace",
    "collection_name",
    "namespace_from_collection",
    "parse_namespace",
]

SEGMENT_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
SHARED = "shared"
_SEGMENT = re.compile(SEGMENT_PATTERN)
# Collection names join the parts with ".", which no segment can contain, so the mapping is
# injective; the "ns." prefix keeps memory collections apart from anything else stored in
# the same Chroma directory, and the ".m" suffix ends every name with an alphanumeric as
# Chroma requires (a segment may end in "_" or "-").
_PREFIX = "ns."
_SUFFIX = ".m"
_PRIVATE_TAG = "a"
_SHARED_TAG = "s"
_SEPARATOR = "."


class Namespace(BaseModel):
    """A parsed, valid namespace. `name` is None for a private `tenant/agent` space."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str
    agent: str | None = None
    name: str | None = None

    @property
    def shared(self) -> bool:
        return self.name is not None

    def __str__(self) -> str:
        if self.name is not None:
            return f"{self.tenant}/{SHARED}/{self.name}"
        return f"{self.tenant}/{self.agent}"


def _check_segment(segment: str, role: str, text: str) -> None:
    if not _SEGMENT.fullmatch(segment):
        raise NamespaceError(
            f"Invalid memory namespace {text!r}: the {role} {segment!r} must be 1-63 "
            "characters of lowercase letters, digits, '_' or '-', starting with a letter "
            "or digit."
        )


def parse_namespace(text: str) -> Namespace:
    """Parse `tenant/agent` or `tenant/shared/<name>`; raise NamespaceError otherwise."""
    if not isinstance(text, str):
        raise NamespaceError(f"Invalid memory namespace {text!r}: a namespace is a string.")
    parts = text.split("/")
    if len(parts) == 2:
        tenant, agent = parts
        _check_segment(tenant, "tenant", text)
        _check_segment(agent, "agent", text)
        if agent == SHARED:
            raise NamespaceError(
                f"Invalid memory namespace {text!r}: 'shared' is reserved; name a shared "
                "space as 'tenant/shared/<name>'."
            )
        return Namespace(tenant=tenant, agent=agent)
    if len(parts) == 3 and parts[1] == SHARED:
        tenant, _, name = parts
        _check_segment(tenant, "tenant", text)
        _check_segment(name, "shared space name", text)
        return Namespace(tenant=tenant, name=name)
    raise NamespaceError(
        f"Invalid memory namespace {text!r}: expected 'tenant/agent' or 'tenant/shared/<name>'."
    )


def collection_name(namespace: Namespace | str) -> str:
    """The Chroma collection that stores `namespace`: valid, and distinct per namespace.

    `ns.a.<tenant>.<agent>.m` or `ns.s.<tenant>.<name>.m`: at most 136 characters of
    [a-z0-9._-], starting and ending with an alphanumeric (Chroma allows 3-512).
    """
    ns = parse_namespace(namespace) if isinstance(namespace, str) else namespace
    if ns.name is not None:
        parts = [_SHARED_TAG, ns.tenant, ns.name]
    else:
        parts = [_PRIVATE_TAG, ns.tenant, str(ns.agent)]
    return _PREFIX + _SEPARATOR.join(parts) + _SUFFIX


def namespace_from_collection(name: str) -> Namespace | None:
    """The namespace a collection stores, or None if it is not a memory collection."""
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    parts = name[len(_PREFIX) : -len(_SUFFIX)].split(_SEPARATOR)
    if len(parts) != 3:
        return None
    tag, tenant, last = parts
    if tag not in (_PRIVATE_TAG, _SHARED_TAG):
        return None
    text = f"{tenant}/{SHARED}/{last}" if tag == _SHARED_TAG else f"{tenant}/{last}"
    try:
        return parse_namespace(text)
    except NamespaceError:
        return None
