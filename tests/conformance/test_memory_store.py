"""The MemoryStore contract, run against every backend (add a factory to STORE_FACTORIES).

What every store promises: records stay in their namespace; a write comes back with the
provenance the store stamped (content hash, UTC time); search is nearest-first, at most k,
never creates a namespace; drop is idempotent; malformed namespaces are refused everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.errors import NamespaceError
from runtime.memory.base import MemoryStore
from runtime.memory.chroma import ChromaMemory
from runtime.memory.embedding import MiniLMEmbedding
from runtime.models import MemoryProvenance, MemoryRecord, Trust

StoreFactory = Callable[[Path], MemoryStore]

TEXTS = [
    "The quarterly sales report shows growth in the northern region.",
    "The cat sat on the mat and watched the birds.",
    "Deploy the service with docker compose up.",
    "Photosynthesis turns light into chemical energy.",
]


@pytest.fixture(scope="module")
def embedding() -> MiniLMEmbedding:
    return MiniLMEmbedding()


def chroma_factory(embedding: MiniLMEmbedding) -> StoreFactory:
    return lambda path: ChromaMemory(path / "chroma", embedding=embedding)  # type: ignore[arg-type]


STORE_FACTORIES = {"chroma": chroma_factory}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedding: MiniLMEmbedding
) -> MemoryStore:
    return STORE_FACTORIES[request.param](embedding)(tmp_path)


def provenance(trust: Trust = Trust.TRUSTED) -> MemoryProvenance:
    return MemoryProvenance(writer_agent="planner", run_id="run-7", source="tool:http", trust=trust)


def fill(store: MemoryStore, namespace: str = "acme/planner") -> list[MemoryRecord]:
    return [store.put(namespace, text, provenance()) for text in TEXTS]


def test_store_implements_the_protocol(store: MemoryStore) -> None:
    assert isinstance(store, MemoryStore)


def test_put_returns_the_record_with_stamped_provenance(store: MemoryStore) -> None:
    given = provenance(Trust.UNTRUSTED).model_copy(
        update={"content_hash": "forged", "created_at": "1970-01-01T00:00:00+00:00"}
    )
    record = store.put("acme/planner", TEXTS[0], given)
    assert record.namespace == "acme/planner"
    assert record.text == TEXTS[0]
    assert record.id
    assert record.distance is None
    assert record.provenance.model_copy(update={"created_at": ""}) == given.model_copy(
        update={"content_hash": hashlib.sha256(TEXTS[0].encode()).hexdigest(), "created_at": ""}
    )
    assert record.provenance.created_at.endswith("+00:00")
    assert record.provenance.created_at > "2000"


def test_every_put_gets_a_new_id_even_for_the_same_text(store: MemoryStore) -> None:
    first = store.put("acme/planner", TEXTS[0], provenance())
    second = store.put("acme/planner", TEXTS[0], provenance())
    assert first.id != second.id
    assert len(store.search("acme/planner", TEXTS[0], k=5)) == 2


def test_search_finds_the_exact_text_first_with_its_provenance(store: MemoryStore) -> None:
    written = fill(store)
    for record in written:
        found = store.search("acme/planner", record.text, k=1)
        assert [r.model_copy(update={"distance": None}) for r in found] == [record]


def test_search_is_nearest_first_at_most_k_and_all_when_k_exceeds_count(
    store: MemoryStore,
) -> None:
    fill(store)
    two = store.search("acme/planner", "sales figures", k=2)
    assert len(two) == 2
    everything = store.search("acme/planner", "sales figures", k=50)
    assert sorted(r.text for r in everything) == sorted(TEXTS)
    distances = [r.distance for r in everything]
    assert None not in distances
    assert distances == sorted(distances)  # type: ignore[type-var]
    assert store.search("acme/planner", "sales figures", k=0) == []


def test_search_returns_only_the_namespace_searched(store: MemoryStore) -> None:
    fill(store, "acme/planner")
    store.put("acme/shared/team", "team note", provenance())
    assert [r.namespace for r in store.search("acme/shared/team", TEXTS[0], k=10)] == [
        "acme/shared/team"
    ]
    assert store.search("acme/coder", TEXTS[0], k=10) == []


def test_reads_never_create_a_namespace(store: MemoryStore) -> None:
    assert store.search("acme/nobody", "anything") == []
    assert store.namespaces() == []


def test_namespaces_lists_each_written_namespace_once_sorted(store: MemoryStore) -> None:
    for namespace in ["globex/b", "acme/shared/x", "acme/a", "acme/a"]:
        store.put(namespace, "note", provenance())
    assert store.namespaces() == ["acme/a", "acme/shared/x", "globex/b"]


def test_drop_deletes_the_namespace_and_is_idempotent(store: MemoryStore) -> None:
    fill(store, "acme/planner")
    fill(store, "acme/coder")
    store.drop("acme/planner")
    store.drop("acme/planner")
    store.drop("acme/never-existed")
    assert store.namespaces() == ["acme/coder"]
    assert store.search("acme/planner", TEXTS[0]) == []


@pytest.mark.parametrize("bad", ["acme", "Acme/planner", "acme/shared", "a/b/c", ""])
def test_malformed_namespaces_are_refused_by_every_operation(store: MemoryStore, bad: str) -> None:
    with pytest.raises(NamespaceError):
        store.put(bad, "x", provenance())
    with pytest.raises(NamespaceError):
        store.search(bad, "x")
    with pytest.raises(NamespaceError):
        store.drop(bad)
    assert store.namespaces() == []
