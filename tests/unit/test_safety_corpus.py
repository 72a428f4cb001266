"""The labelled corpus: per-type precision and recall of the built-in detectors.

Each line of tests/data/safety_corpus.jsonl is `{"text", "labels"}`; a sample counts as a hit
for a type when any finding of that type's detector occurs in it. The floors are below the
measured figures (see docs/safety.md) but high enough that a detector that flags everything,
or misses a whole family, fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.safety.detectors import default_detectors

CORPUS = Path(__file__).resolve().parents[1] / "data" / "safety_corpus.jsonl"
LABEL_BY_DETECTOR = {"secrets": "secret", "pii": "pii", "injection": "injection"}
TYPES = ("secret", "pii", "injection")
PRECISION_FLOOR = 0.93
RECALL_FLOOR = 0.93


def load() -> list[tuple[str, set[str]]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return [(row["text"], set(row["labels"])) for row in rows]


def confusion() -> dict[str, dict[str, int]]:
    detectors = default_detectors()
    counts = {t: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for t in TYPES}
    for text, labels in load():
        found = {LABEL_BY_DETECTOR[f.detector] for d in detectors for f in d.scan("corpus", text)}
        for kind in TYPES:
            key = {(True, True): "tp", (True, False): "fp", (False, True): "fn"}.get(
                (kind in found, kind in labels), "tn"
            )
            counts[kind][key] += 1
    return counts


def test_corpus_is_large_and_balanced() -> None:
    samples = load()
    assert len(samples) >= 120
    for kind in TYPES:
        positives = sum(kind in labels for _, labels in samples)
        assert positives >= 25, kind
    assert sum(not labels for _, labels in samples) >= 60  # look-alike negatives


@pytest.mark.parametrize("kind", TYPES)
def test_precision_and_recall_floors(kind: str) -> None:
    counts = confusion()[kind]
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    assert precision >= PRECISION_FLOOR, (kind, counts)
    assert recall >= RECALL_FLOOR, (kind, counts)
