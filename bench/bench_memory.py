"""Memory benchmarks: embedding latency (batched vs one at a time), put and search p50/p95.

Prints figures, asserts nothing. Run: `python bench/bench_memory.py [--records 200]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runtime.memory.chroma import ChromaMemory
from runtime.memory.embedding import MiniLMEmbedding
from runtime.models import MemoryProvenance, Trust

SUBJECTS = ["The sales team", "Our cat", "The build server", "A new hire", "The north region"]
VERBS = ["reported", "ignored", "celebrated", "fixed", "questioned"]
OBJECTS = [
    "a twelve percent growth in quarterly revenue.",
    "the flaky integration test on Tuesday.",
    "the birds outside the office window.",
    "the memory leak in the sandbox pool.",
    "the policy change for shared namespaces.",
]


def sentences(count: int) -> list[str]:
    return [
        f"{SUBJECTS[i % 5]} {VERBS[(i // 5) % 5]} {OBJECTS[(i // 25) % 5]} (note {i})"
        for i in range(count)
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000.0


def report(label: str, samples_ms: list[float]) -> None:
    print(
        f"{label:<34} p50 {percentile(samples_ms, 0.5):8.2f} ms   "
        f"p95 {percentile(samples_ms, 0.95):8.2f} ms   mean {statistics.fmean(samples_ms):8.2f} ms"
    )


def bench_embedding(embedding: MiniLMEmbedding, texts: list[str]) -> None:
    load_ms = timed(lambda: embedding.model)
    print(f"{'model load':<34} {load_ms:8.1f} ms")
    embedding(texts[:4])  # warm up
    unbatched = [timed(lambda text=text: embedding([text])) for text in texts]
    report("embed, one sentence per call", unbatched)
    for batch_size in (8, 32, 128):
        batch = texts[:batch_size]
        total = min(timed(lambda batch=batch: embedding(batch)) for _ in range(3))
        print(f"{f'embed, batch of {batch_size}':<34} {total / len(batch):8.2f} ms/sentence")


def bench_store(embedding: MiniLMEmbedding, texts: list[str]) -> None:
    provenance = MemoryProvenance(
        writer_agent="bench", run_id="bench", source="bench", trust=Trust.TRUSTED
    )
    with tempfile.TemporaryDirectory() as directory:
        store = ChromaMemory(Path(directory), embedding=embedding)  # type: ignore[arg-type]
        puts = [
            timed(lambda text=text: store.put("bench/agent", text, provenance)) for text in texts
        ]
        report(f"put ({len(texts)} records, persistent)", puts)
        queries = ["revenue growth in the north", "flaky tests", "birds", "memory leak", "policy"]
        searches = [
            timed(lambda query=query: store.search("bench/agent", query, k=5))
            for _ in range(10)
            for query in queries
        ]
        report("search k=5", searches)
        reopen_ms = timed(lambda: ChromaMemory(Path(directory), embedding=embedding))  # type: ignore[arg-type]
        print(f"{'reopen store':<34} {reopen_ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args()
    texts = sentences(args.records)
    embedding = MiniLMEmbedding()
    bench_embedding(embedding, texts[:128])
    bench_store(embedding, texts)


if __name__ == "__main__":
    main()
