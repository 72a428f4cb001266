"""Safety benchmark: per-type precision / recall / F1 on the labelled corpus, latency, and
the check's time on the hostile inputs of issue 14 (item 1).

Run: `python bench/bench_safety.py [--repeat N] [--skip-hostile]`. Latency is per corpus
item, for each detector alone and for a full `Checker.check` (all detectors + built-in
rules), plus one larger synthetic document (about 100 KB of mixed text) to show how cost
grows with size. The hostile section times a whole check of a change set (through the same
`changeset_items` the pipeline uses) holding 256 KB and 4 MB of base64 lines and 64 MiB of
NUL bytes. Its "before" column: for 256 KB, the old all-pairs `_most_specific` (kept below
as the baseline) timed on the same hits; for 4 MB and 64 MiB, the figures measured in the
issue on the old code (a check of 4 MB held a core for over 10 minutes; 64 MiB of NULs took
150 s), cited because re-running them takes that long.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from runtime.models import ChangeSet, ContentItem, FileChange, PendingAction, PendingKind
from runtime.safety.checker import default_checker
from runtime.safety.detectors import default_detectors
from runtime.safety.detectors.secrets import (
    _GENERIC_RANK,
    SecretsDetector,
    _Hit,
    _lines,
    _PemIndex,
)
from runtime.safety.items import changeset_items

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


# ------------------------------------------------------------------ hostile sizes (issue 14)


def _rank(hit: _Hit) -> int:
    return _GENERIC_RANK.get(hit.type, 0)


def most_specific_pairwise(hits: set[_Hit]) -> list[_Hit]:
    """The old `_most_specific`, kept as the baseline: every hit against every other hit."""
    kept = [
        hit
        for hit in hits
        if not any(
            other != hit
            and other.start <= hit.start
            and hit.end <= other.end
            and (
                _rank(other) < _rank(hit)
                or (_rank(other) == _rank(hit) and other.end - other.start > hit.end - hit.start)
            )
            for other in hits
        )
    ]
    return sorted(kept, key=lambda h: (h.start, h.end, h.type))


def base64_lines(size: int) -> bytes:
    """The issue's reproduction: lines of base64 of 45 random bytes, about `size` bytes."""
    rng = random.Random(14)
    lines = [base64.b64encode(rng.randbytes(45)).decode() for _ in range(size // 61)]
    return "".join(line + "\n" for line in lines).encode()


def changeset_check_s(path: str, data: bytes) -> tuple[float, str]:
    change = FileChange(
        path=path,
        change="added",
        kind="file",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    start = time.perf_counter()
    items = changeset_items(ChangeSet(changes=[change]), {path: data})
    action = PendingAction(
        kind=PendingKind.CHANGESET, run_id="bench", step=1, agent="a", tool="fs.write", items=items
    )
    verdict = default_checker(deadline_s=None).check(action)
    return time.perf_counter() - start, verdict.verdict


def pairwise_baseline_s(data: bytes) -> float:
    """Time the old all-pairs filter alone on the hits the secrets detector collects."""
    detector = SecretsDetector()
    text = data.decode()
    hits: set[_Hit] = set()
    keys = _PemIndex(text)
    for offset, line in _lines(text):
        if line.strip():
            hits.update(detector._line_hits(keys, offset, line))
    start = time.perf_counter()
    most_specific_pairwise(hits)
    return time.perf_counter() - start


def hostile() -> None:
    print("\nwhole check of one changed file (issue 14 item 1), no deadline")
    print(f"{'input':<26} {'before':>22} {'after':>10}  verdict")
    cases = [
        ("256 KB base64 lines", "b.txt", base64_lines(256 * 1024)),
        ("4 MB base64 lines", "b.txt", base64_lines(4 * 1024 * 1024)),
        ("64 MiB NUL bytes", "zeros.bin", b"\0" * (64 * 1024 * 1024)),
    ]
    cited = {"4 MB base64 lines": "> 600 s (issue)", "64 MiB NUL bytes": "150 s (issue)"}
    for name, path, data in cases:
        after, verdict = changeset_check_s(path, data)
        before = cited.get(name) or f">= {pairwise_baseline_s(data):.1f} s (pairs only)"
        print(f"{name:<26} {before:>22} {after:>8.1f} s  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args()
    samples = load()
    quality(samples)
    latency(samples, args.repeat)
    if not args.skip_hostile:
        hostile()


if __name__ == "__main__":
    main()
