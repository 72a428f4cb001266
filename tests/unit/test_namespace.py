"""Namespace grammar: what parses, what is refused, and the collection each maps to."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.errors import NamespaceError
from runtime.memory.namespace import (
    SEGMENT_PATTERN,
    Namespace,
    collection_name,
    namespace_from_collection,
    parse_namespace,
)

segments = st.from_regex(rf"\A{SEGMENT_PATTERN}\Z", fullmatch=True)
private_namespaces = st.tuples(segments, segments.filter(lambda s: s != "shared")).map(
    lambda parts: f"{parts[0]}/{parts[1]}"
)
shared_namespaces = st.tuples(segments, segments).map(lambda parts: f"{parts[0]}/shared/{parts[1]}")
namespaces = st.one_of(private_namespaces, shared_namespaces)

VALID = re.compile(
    rf"{SEGMENT_PATTERN}/(?!shared\Z){SEGMENT_PATTERN}|{SEGMENT_PATTERN}/shared/{SEGMENT_PATTERN}"
)
CHROMA_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


@given(namespaces)
def test_parsed_namespace_prints_back_to_its_text(text: str) -> None:
    assert str(parse_namespace(text)) == text


@given(namespaces)
def test_collection_name_is_valid_for_chroma_and_maps_back(text: str) -> None:
    ns = parse_namespace(text)
    name = collection_name(ns)
    assert CHROMA_NAME.fullmatch(name)
    assert ".." not in name
    assert namespace_from_collection(name) == ns
    assert collection_name(text) == name


@given(namespaces, namespaces)
def test_no_two_namespaces_share_a_collection(first: str, second: str) -> None:
    assume(first != second)
    assert collection_name(first) != collection_name(second)


@given(st.text(max_size=80))
def test_anything_outside_the_grammar_is_rejected(text: str) -> None:
    assume(not VALID.fullmatch(text))
    with pytest.raises(NamespaceError):
        parse_namespace(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "acme",
        "acme/",
        "/planner",
        "Acme/planner",
        "acme/plan ner",
        "acme/-planner",
        "acme/planner/x",
        "acme/shared",
        "acme/shared/",
        "acme/shared/a/b",
        "acme/../planner",
        "a" * 64 + "/planner",
        "acme/planner\n",
        "acme\\planner",
        "acme/plänner",
    ],
)
def test_malformed_namespaces_are_rejected(text: str) -> None:
    with pytest.raises(NamespaceError):
        parse_namespace(text)


def test_private_and_shared_forms_parse_to_their_parts() -> None:
    assert parse_namespace("acme/planner") == Namespace(tenant="acme", agent="planner")
    assert parse_namespace("acme/shared/notes") == Namespace(tenant="acme", name="notes")
    assert parse_namespace("acme/shared/notes").shared
    assert not parse_namespace("acme/planner").shared


def test_error_messages_say_what_is_wrong() -> None:
    with pytest.raises(NamespaceError) as bad_segment:
        parse_namespace("Acme/planner")
    assert str(bad_segment.value) == (
        "Invalid memory namespace 'Acme/planner': the tenant 'Acme' must be 1-63 characters "
        "of lowercase letters, digits, '_' or '-', starting with a letter or digit."
    )
    with pytest.raises(NamespaceError) as bad_shape:
        parse_namespace("acme")
    assert str(bad_shape.value) == (
        "Invalid memory namespace 'acme': expected 'tenant/agent' or 'tenant/shared/<name>'."
    )
    with pytest.raises(NamespaceError) as reserved:
        parse_namespace("acme/shared")
    assert str(reserved.value) == (
        "Invalid memory namespace 'acme/shared': 'shared' is reserved; name a shared space "
        "as 'tenant/shared/<name>'."
    )


def test_collection_names_of_a_private_and_a_shared_space() -> None:
    assert collection_name("acme/planner") == "ns.a.acme.planner.m"
    assert collection_name("acme/shared/notes") == "ns.s.acme.notes.m"


@pytest.mark.parametrize(
    "name", ["notes", "ns.x.acme.planner.m", "ns.a.acme.m", "ns.a.Acme.planner.m", "ns.a.a.b.c.m"]
)
def test_foreign_collections_are_not_namespaces(name: str) -> None:
    assert namespace_from_collection(name) is None
