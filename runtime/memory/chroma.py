"""`ChromaMemory`: the MemoryStore over a persistent Chroma directory.

Owns: one Chroma collection per namespace (isolation at the storage level: a search opens
exactly one collection, so no filter can be dropped to reach another namespace), stamping
provenance (content hash, creation time) on write and returning it on read. The only module
that imports chromadb. Never authorizes: callers ask the `runtime.memory` policy first.
Never lets Chroma reach the network: telemetry is off and Chroma's default embedding
function (which downloads an ONNX model) is never used; every collection is opened with an
explicit embedding function, `MiniLMEmbedding` unless the caller configures another.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import chromadb
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Documents, Embeddable, EmbeddingFunction
from chromadb.config import Settings
from chromadb.errors import NotFoundError

from runtime.errors import ConfigError
from runtime.memory.embedding import MiniLMEmbedding
from runtime.memory.namespace import collection_name, namespace_from_collection, parse_namespace
from runtime.models import MemoryProvenance, MemoryRecord, Trust

__all__ = ["ChromaMemory", "content_hash"]

_PROVENANCE_FIELDS = ("writer_agent", "run_id", "source", "trust", "content_hash", "created_at")


def content_hash(text: str) -> str:
    """The sha256 of a record's text, hex: what `MemoryProvenance.content_hash` holds."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _provenance_from_metadata(metadata: Mapping[str, Any]) -> MemoryProvenance:
    return MemoryProvenance(
        writer_agent=str(metadata.get("writer_agent", "")),
        run_id=str(metadata.get("run_id", "")),
        source=str(metadata.get("source", "")),
        # A record without a readable trust label is treated as untrusted: fail closed.
        trust=Trust.TRUSTED if metadata.get("trust") == Trust.TRUSTED.value else Trust.UNTRUSTED,
        content_hash=str(metadata.get("content_hash", "")),
        created_at=str(metadata.get("created_at", "")),
    )


class ChromaMemory:
    """Namespaced vector memory in a Chroma directory on disk."""

    def __init__(self, path: Path, embedding: EmbeddingFunction[Documents] | None = None) -> None:
        """`embedding`: any Chroma EmbeddingFunction; default the offline MiniLM."""
        self.path = Path(path)
        # MiniLMEmbedding meets the protocol structurally (embedding.py stays chromadb-free);
        # Chroma's client signatures want the wider Embeddable parameter.
        chosen: object = MiniLMEmbedding() if embedding is None else embedding
        self._embedding = cast(EmbeddingFunction[Embeddable], chosen)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(self.path),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
        except Exception as exc:  # OSError, or chromadb's own (Rust-side) error types
            raise ConfigError(f"Cannot open the memory store at {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- collections

    def _existing_collection(self, namespace: str) -> Collection | None:
        name = collection_name(parse_namespace(namespace))
        try:
            return self._client.get_collection(name=name, embedding_function=self._embedding)
        except NotFoundError:
            return None

    def _collection_for_write(self, namespace: str) -> Collection:
        ns = parse_namespace(namespace)
        return self._client.get_or_create_collection(
            name=collection_name(ns),
            embedding_function=self._embedding,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"namespace": str(ns)},
        )

    # ----------------------------------------------------------------- MemoryStore

    def put(
        self,
        namespace: str,
        text: str,
        provenance: MemoryProvenance,
        *,
        record_id: str | None = None,
    ) -> MemoryRecord:
        """Store `text` in `namespace`; the store stamps the content hash and the time.

        With `record_id` the write is an upsert: writing the same id again (a commit
        repeated after a crash) leaves one record, not two.
        """
        ns = str(parse_namespace(namespace))
        stamped = provenance.model_copy(
            update={"content_hash": content_hash(text), "created_at": _now_utc()}
        )
        metadata: dict[str, str | int | float | bool] = {
            field: str(getattr(stamped, field)) for field in _PROVENANCE_FIELDS
        }
        metadata["trust"] = stamped.trust.value
        metadata["namespace"] = ns
        record_id = record_id or uuid.uuid4().hex
        self._collection_for_write(ns).upsert(
            ids=[record_id], documents=[text], metadatas=[metadata]
        )
        return MemoryRecord(id=record_id, namespace=ns, text=text, provenance=stamped)

    def search(self, namespace: str, query: str, k: int = 5) -> list[MemoryRecord]:
        """Up to `k` records of `namespace` nearest to `query`, nearest first.

        Reads never create a collection: an unknown namespace has no records.
        """
        ns = str(parse_namespace(namespace))
        if k < 1:
            return []
        collection = self._existing_collection(ns)
        if collection is None:
            return []
        count = collection.count()
        if count == 0:
            return []
        result = collection.query(
            query_texts=[query],
            n_results=min(k, count),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        records: list[MemoryRecord] = []
        for record_id, text, metadata, distance in zip(
            ids, documents, metadatas, distances, strict=True
        ):
            meta = cast(Mapping[str, Any], metadata or {})
            if meta.get("namespace", ns) != ns:
                # Cannot happen with one collection per namespace; refuse rather than leak.
                continue
            records.append(
                MemoryRecord(
                    id=record_id,
                    namespace=ns,
                    text=text or "",
                    provenance=_provenance_from_metadata(meta),
                    distance=float(distance),
                )
            )
        return records

    def namespaces(self) -> list[str]:
        """Every namespace that has a collection here, sorted."""
        found: set[str] = set()
        for collection in self._client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            ns = namespace_from_collection(name)
            if ns is not None:
                found.add(str(ns))
        return sorted(found)

    def drop(self, namespace: str) -> None:
        """Delete a namespace and all its records; dropping an absent namespace is a no-op."""
        name = collection_name(parse_namespace(namespace))
        try:
            self._client.delete_collection(name=name)
        except NotFoundError:
            return
