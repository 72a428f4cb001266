"""Safety benchmark: per-type precision / recall / F1 on the labelled corpus, and latency.

Run: `python bench/bench_safety.py [--repeat N]`. Latency is per corpus item, for each
detector alone and for a full `Checker.check` (all detectors + built-in rules), plus one
larger synthetic document (about 100 KB of mixed text) to show how cost grows with size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from runtime.models import ContentItem, PendingAction, PendingKind
from runtime.safety.checker import default_checker
from runtime.safety.detectors import default_detectors

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "safety_corpus.jsonl"
LABEL_BY_DETECTOR = {"secrets": "secret", "pii": "pii", "injection": "injection"}
TYPES = ("secret", "pii", "injection")


def load() -> list[tuple[str, set[str]]]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return [(row["text"], set(row["labels"])) for row in rows]


def quality(samples: list[tuple[str, set[str]]]) -> None:
    detectors = default_detectors()
    counts = {t: {"tp": 0, "fp": 0, "fn": 0} for t in TYPES}
    for text, labels in samples:
        found = {LABEL_BY_DETECTOR[f.detector] for d in detectors for f in d.scan("c", text)}
        for kind in TYPES:
            if kind in found and kind in labels:
                counts[kind]["tp"] += 1
            elif kind in found:
                counts[kind]["fp"] += 1
            elif kind in labels:
                counts[kind]["fn"] += 1
    print(f"corpus: {len(samples)} samples ({CORPUS.name})")
    print(
        f"{'type':<10} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6} {'f1':>6}"
    )
    for kind in TYPES:
        c = counts[kind]
        precision = c["tp"] / max(1, c["tp"] + c["fp"])
        recall = c["tp"] / max(1, c["tp"] + c["fn"])
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        positives = c["tp"] + c["fn"]
        print(
            f"{kind:<10} {positives:>4} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} "
            f"{precision:>6.3f} {recall:>6.3f} {f1:>6.3f}"
        )


def timings(run: Callable[[str], object], texts: list[str], repeat: int) -> list[float]:
    out: list[float] = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            run(text)
            out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, samples_ms: list[float]) -> None:
    ordered = sorted(samples_ms)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"{name:<22} p50 {statistics.median(ordered):7.3f} ms   p95 {p95:7.3f} ms   "
        f"max {ordered[-1]:7.3f} ms   (n={len(ordered)})"
    )


def latency(samples: list[tuple[str, set[str]]], repeat: int) -> None:
    texts = [text for text, _ in samples]
    print(f"\nlatency per corpus item (mean length {statistics.mean(map(len, texts)):.0f} chars)")
    for detector in default_detectors():
        report(
            f"detector {detector.name}",
            timings(lambda t, d=detector: d.scan("c", t), texts, repeat),
        )
    checker = default_checker()

    def check(text: str) -> object:
        return checker.check(
            PendingAction(
                kind=PendingKind.CHANGESET,
                run_id="bench",
                step=1,
                agent="a",
                tool="fs.write",
                items=[ContentItem(location="f", text=text)],
            )
        )

    report("checker.check", timings(check, texts, repeat))
    big = "\n".join(texts) * max(1, 100_000 // len("\n".join(texts)))
    report(f"checker.check {len(big) // 1000} KB", timings(check, [big], 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    samples = load()
    quality(samples)
    latency(samples, args.repeat)


if __name__ == "__main__":
    main()
