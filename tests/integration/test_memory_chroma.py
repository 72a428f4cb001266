"""ChromaMemory against a real Chroma directory on disk: isolation, persistence, provenance.

Chroma must never reach the network or fall back to its default embedding function (which
downloads an ONNX model): both are made to fail loudly for every test in this module.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime.memory.chroma import ChromaMemory
from runtime.memory.embedding import MiniLMEmbedding
from runtime.models import MemoryProvenance, Trust

SALES = "The quarterly sales report shows growth in the northern region."
CAT = "The cat sat on the mat and watched the birds."


@pytest.fixture(scope="module")
def embedding() -> MiniLMEmbedding:
    return MiniLMEmbedding()


@pytest.fixture(autouse=True)
def offline_and_no_default_embedding(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from chromadb.api import types as chroma_types
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    # Chroma attaches an (idle) default instance to listed collections; calling it or
    # building its ONNX model is what downloads, so those are what must never happen.
    # Same signature as the protocol: Chroma checks it when a collection is built.
    def refuse_call(self: object, input: Any) -> Any:
        raise AssertionError("Chroma's default (downloading) embedding function was called")

    def refuse_init(self: object, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("Chroma's ONNX MiniLM (downloads a model) was instantiated")

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__init__", refuse_init)
    monkeypatch.setattr(chroma_types.DefaultEmbeddingFunction, "__call__", refuse_call)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield


@pytest.fixture
def store(tmp_path: Path, embedding: MiniLMEmbedding) -> ChromaMemory:
    return ChromaMemory(tmp_path / "chroma", embedding=embedding)  # type: ignore[arg-type]


def provenance(agent: str = "planner", trust: Trust = Trust.TRUSTED) -> MemoryProvenance:
    return MemoryProvenance(writer_agent=agent, run_id="run-1", source="user", trust=trust)


def test_a_record_is_invisible_from_another_agents_namespace_even_by_exact_text(
    store: ChromaMemory,
) -> None:
    store.put("acme/planner", SALES, provenance())
    assert store.search("acme/coder", SALES) == []
    store.put("acme/coder", CAT, provenance("coder"))
    assert [r.text for r in store.search("acme/coder", SALES, k=10)] == [CAT]


def test_tenants_and_shared_spaces_are_isolated_from_each_other(store: ChromaMemory) -> None:
    store.put("acme/planner", "acme private", provenance())
    store.put("globex/planner", "globex private", provenance())
    store.put("acme/shared/notes", "acme shared", provenance())
    store.put("acme/notes", "agent called notes", provenance("notes"))
    assert {
        ns: [r.text for r in store.search(ns, "private shared notes", k=10)]
        for ns in ("acme/planner", "globex/planner", "acme/shared/notes", "acme/notes")
    } == {
        "acme/planner": ["acme private"],
        "globex/planner": ["globex private"],
        "acme/shared/notes": ["acme shared"],
        "acme/notes": ["agent called notes"],
    }


def test_records_persist_across_a_new_client_on_the_same_path(
    tmp_path: Path, embedding: MiniLMEmbedding
) -> None:
    first = ChromaMemory(tmp_path / "chroma", embedding=embedding)  # type: ignore[arg-type]
    written = first.put("acme/planner", SALES, provenance())
    del first
    second = ChromaMemory(tmp_path / "chroma", embedding=embedding)  # type: ignore[arg-type]
    assert second.namespaces() == ["acme/planner"]
    (found,) = second.search("acme/planner", SALES)
    assert found.model_copy(update={"distance": None}) == written


def test_provenance_round_trips_with_hash_and_utc_time(store: ChromaMemory) -> None:
    written = store.put("acme/planner", SALES, provenance("scraper", Trust.UNTRUSTED))
    (found,) = store.search("acme/planner", "sales")
    assert found.provenance == written.provenance
    assert found.provenance.model_dump(exclude={"content_hash", "created_at"}) == {
        "writer_agent": "scraper",
        "run_id": "run-1",
        "source": "user",
        "trust": Trust.UNTRUSTED,
    }
    assert found.provenance.content_hash == hashlib.sha256(SALES.encode()).hexdigest()
    created = datetime.fromisoformat(found.provenance.created_at)
    assert created.utcoffset() is not None and created.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_semantic_search_ranks_the_related_sentence_first(store: ChromaMemory) -> None:
    store.put("acme/planner", CAT, provenance())
    store.put("acme/planner", SALES, provenance())
    results = store.search("acme/planner", "revenue grew in the north", k=2)
    assert [r.text for r in results] == [SALES, CAT]
    assert results[0].distance is not None and results[1].distance is not None
    assert results[0].distance < results[1].distance


def test_searching_an_unknown_namespace_does_not_create_it(store: ChromaMemory) -> None:
    assert store.search("acme/ghost", "anything") == []
    assert store.namespaces() == []


def test_longest_namespace_is_accepted_by_chroma(store: ChromaMemory) -> None:
    namespace = f"{'t' * 63}/shared/{'n' * 62}-"
    store.put(namespace, SALES, provenance())
    assert store.namespaces() == [namespace]
    assert [r.namespace for r in store.search(namespace, SALES)] == [namespace]


def test_drop_removes_only_that_namespace(store: ChromaMemory) -> None:
    store.put("acme/planner", SALES, provenance())
    store.put("acme/coder", CAT, provenance("coder"))
    store.drop("acme/planner")
    assert store.namespaces() == ["acme/coder"]
    assert store.search("acme/planner", SALES) == []
    assert [r.text for r in store.search("acme/coder", CAT)] == [CAT]
