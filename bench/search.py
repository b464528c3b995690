"""Search latency and memory at the default corpus and at generated scale.

Run by hand (not in CI): `.venv/bin/python bench/search.py [--sizes 100000 1000000]`.

For each size, a child process builds a store of that many passages (generated Zipf-distributed
text, random unit vectors), then times one in-process hybrid search (FAISS + FTS5 + fusion +
highlights) over distinct queries, and reports median and p99 latency and the peak resident
memory. Exact (flat) and approximate (HNSW) FAISS are both measured, with HNSW's Recall@10
against exact search, which is what the HNSW threshold in kb/index.py is chosen from.
Query embedding is not part of these figures (the fake embedder returns a vector at once);
the real model's query cost is measured separately on the default corpus.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.embedder import normalise  # noqa: E402
from kb.models import Chunk  # noqa: E402
from kb.models import DocumentMeta  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.store import Store  # noqa: E402

DIM = 384
PER_DOCUMENT = 10_000


class RandomEmbedder:
    """Unit vectors from a seeded generator: queries cost nothing to embed here."""

    name = "random-bench"
    dimension = DIM

    def __init__(self, seed: int = 7) -> None:
        self._rng = np.random.default_rng(seed)

    def embed(self, texts):
        return normalise(self._rng.normal(size=(len(texts), DIM)).astype(np.float32))


def vocabulary() -> list[str]:
    words = set()
    for path in (ROOT / "corpus").rglob("*.md"):
        words.update(w.lower() for w in path.read_text().split() if w.isalpha())
    return sorted(words)


def clustered_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Unit vectors in topical clusters of about 50, like passage embeddings (isotropic random
    vectors have no near neighbours at all in 384 dimensions, which no real corpus looks like).
    The noise gives a mean cosine of about 0.5 between a vector and its cluster's centre."""
    centres = normalise(rng.normal(size=(max(1, count // 50), DIM)).astype(np.float32))
    labels = rng.integers(0, len(centres), count)
    noise = rng.normal(size=(count, DIM)).astype(np.float32) * 0.088
    return normalise(centres[labels] + noise)


def build(data_dir: Path, n: int, seed: int = 0) -> Store:
    rng = np.random.default_rng(seed)
    words = np.array(vocabulary())
    zipf = 1.0 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    store = Store(data_dir / "kb.sqlite3")
    store.ensure_model(RandomEmbedder.name, DIM, {"bench": True})
    for start in range(0, n, PER_DOCUMENT):
        count = min(PER_DOCUMENT, n - start)
        chunks = []
        for i in range(count):
            text = " ".join(rng.choice(words, size=110, p=zipf))
            chunks.append(Chunk(text, str(i // 5 + 1), f"Section {i // 50}", i, i + 1, 150))
        vectors = clustered_vectors(rng, count)
        meta = DocumentMeta(f"doc-{start}", f"Generated {start}", "Bench", 2020, "report")
        store.put_document(
            meta,
            file_path="",
            sha256="",
            fingerprint="",
            text="",
            chunks=chunks,
            embeddings=vectors,
        )
    return store


def measure(n: int, threshold: int, queries: int) -> dict:
    """Build (or reuse) a store of n passages and time searches with the given index kind."""
    words = vocabulary()
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = build(Path(tmp), n)
        build_s = time.perf_counter() - t0
        kb = KnowledgeBase(store, RandomEmbedder(), Path(tmp) / "i.faiss", hnsw_threshold=threshold)
        t0 = time.perf_counter()
        kb.index.ensure_fresh()
        index_s = time.perf_counter() - t0
        texts = [" ".join(rng.choice(words, size=4)) for _ in range(queries)]
        timings = []
        for text in texts:
            t0 = time.perf_counter()
            kb.search(text, k=10)
            timings.append((time.perf_counter() - t0) * 1000)
        recall = hnsw_recall(kb, store) if kb.index.kind == "hnsw" else 1.0
        timings.sort()
        return {
            "passages": n,
            "index": kb.index.kind,
            "build_store_s": round(build_s, 1),
            "build_index_s": round(index_s, 1),
            "median_ms": round(statistics.median(timings), 2),
            "p99_ms": round(timings[int(0.99 * (len(timings) - 1))], 2),
            "recall_at_10_vs_exact": round(recall, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }


def hnsw_recall(kb: KnowledgeBase, store: Store, queries: int = 200) -> float:
    """Recall@10 of the HNSW index against an exact index over the same vectors."""
    import faiss

    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    all_ids = []
    for ids, vectors in store.iter_embeddings():
        exact.add_with_ids(vectors, ids)
        all_ids.append(ids)
    exact_ids = np.concatenate(all_ids)
    rng = np.random.default_rng(11)
    found = 0
    for _ in range(queries):
        # A query near a stored passage, as real queries land near their answers.
        seed_id = int(rng.integers(0, len(exact_ids)))
        base = exact.reconstruct(int(exact_ids[seed_id]))
        query = normalise((base + rng.normal(size=DIM) * 0.088).astype(np.float32)[None, :])
        _, truth = exact.search(query, 10)
        got = {pid for pid, _ in kb.index.search(query[0], 10)}
        found += len(set(truth[0].tolist()) & got)
    return found / (queries * 10)


def default_corpus(queries: int) -> dict:
    """The real corpus and the real model, if `kb ingest` has been run into ./data."""
    from kb.embedder import MiniLMEmbedder

    store = Store(ROOT / "data" / "kb.sqlite3")
    if store.count_passages() == 0:
        return {"skipped": "run `kb ingest` first"}
    kb = KnowledgeBase(store, MiniLMEmbedder(), ROOT / "data" / "index.faiss")
    kb.warm_up()
    lines = (ROOT.parent / "shared" / "eval" / "dev-queries.jsonl").read_text().splitlines()
    texts = [json.loads(line)["q"] for line in lines if line.strip()][:queries]
    cold, warm = [], []
    for text in texts:
        t0 = time.perf_counter()
        kb.search(text, k=10)
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        kb.search(text, k=10)
        warm.append((time.perf_counter() - t0) * 1000)
    return {
        "passages": store.count_passages(),
        "index": kb.index.kind,
        "median_ms_with_query_embedding": round(statistics.median(cold), 2),
        "median_ms_repeated_query_cached": round(statistics.median(warm), 2),
        "cache_speedup": round(statistics.median(cold) / statistics.median(warm), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, threshold = args.child
        print(json.dumps(measure(n, threshold, args.queries)))
        return
    print(json.dumps({"default_corpus": default_corpus(30)}))
    for n in args.sizes:
        for threshold in (10**12, 1):  # exact, then HNSW
            # A child process each, so that peak memory belongs to one configuration.
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(n),
                    str(threshold),
                    "--queries",
                    str(args.queries),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
