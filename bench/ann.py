"""Approximate FAISS indexes on realistic vectors: search time, Recall@10 against exact search,
build time and memory, for choosing kb/index.py's kind, settings and exact/approximate switch.

Run by hand (not in CI):
`nice -n 19 .venv/bin/python bench/ann.py [--sizes 100000 1000000] [--queries 200] [--hnsw-up-to N]`

Vectors: bench/realistic_vectors.py (the real corpus, recombined passages embedded by the model,
and vectors derived from them), one per passage. Queries: the evaluation questions
(corpus/eval/*.jsonl and the shared development set), embedded by the same model, so that they
land where real questions land. Each search fetches what a hybrid search asks for (50
candidates x VECTORS_PER_PASSAGE); Recall@10 is the share of exact search's top 10 found in
the index's top 10. FAISS runs with one OpenMP thread, as a server's request threads do best
(docs/performance.md); every configuration is timed on the same queries in one process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import faiss  # noqa: E402
from realistic_vectors import DEFAULT_CACHE  # noqa: E402
from realistic_vectors import Generator  # noqa: E402
from realistic_vectors import embedded  # noqa: E402

from kb.index import VECTORS_PER_PASSAGE  # noqa: E402
from kb.search import SearchSettings  # noqa: E402

FETCH = SearchSettings().candidates * VECTORS_PER_PASSAGE
DIM = 384


def eval_questions() -> list[str]:
    """Every distinct evaluation question, in file order."""
    paths = sorted((ROOT / "corpus" / "eval").glob("*.jsonl"))
    paths.append(ROOT.parent.parent / "shared" / "eval" / "dev-queries.jsonl")
    paths.append(ROOT.parent / "shared" / "eval" / "dev-queries.jsonl")
    seen: dict[str, None] = {}
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    seen.setdefault(json.loads(line)["q"])
    return list(seen)


def query_vectors(cache: Path = DEFAULT_CACHE) -> tuple[list[str], np.ndarray]:
    """The evaluation questions and their model vectors (cached)."""
    questions = eval_questions()
    path = cache / f"queries-{len(questions)}.npz"
    if path.exists():
        return questions, np.load(path)["vectors"]
    from kb.onnx_embedder import ExportedMiniLM

    vectors = ExportedMiniLM(cache / "corpus", threads=2).embed(questions)
    np.savez(path, vectors=vectors)
    return questions, vectors


def vectors_of(n: int) -> np.ndarray:
    generator = Generator(embedded())
    out = np.empty((n, DIM), dtype=np.float32)
    at = 0
    for _, vectors in generator.passages(n, texts=False):
        out[at : at + len(vectors)] = vectors
        at += len(vectors)
    return out


def timed(index: faiss.Index, queries: np.ndarray, params=None) -> tuple[float, float, np.ndarray]:
    index.search(queries[:1], FETCH, params=params)
    timings, tops = [], []
    for query in queries:
        t0 = time.perf_counter()
        _, ids = index.search(query[None, :], FETCH, params=params)
        timings.append((time.perf_counter() - t0) * 1000)
        tops.append(ids[0][:10])
    timings.sort()
    p99 = timings[int(0.99 * (len(timings) - 1))]
    return round(statistics.median(timings), 2), round(p99, 2), np.stack(tops)


def recall(exact: np.ndarray, found: np.ndarray) -> float:
    hits = sum(len(set(a) & set(b)) for a, b in zip(exact, found, strict=True))
    return round(hits / exact.size, 3)


def ivf(vectors: np.ndarray, lists: int, quantiser_type) -> tuple[faiss.Index, faiss.Index, float]:
    """An IVF index of `lists` lists (and its coarse quantiser, which must outlive it)."""
    t0 = time.perf_counter()
    coarse = faiss.IndexFlatIP(DIM)
    if quantiser_type is None:
        index = faiss.IndexIVFFlat(coarse, DIM, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(
            coarse, DIM, lists, quantiser_type, faiss.METRIC_INNER_PRODUCT
        )
    step = max(1, len(vectors) // (lists * 50))
    index.train(vectors[::step])
    index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    return index, coarse, round(time.perf_counter() - t0, 1)


def sweep(n: int, queries: np.ndarray, hnsw_up_to: int) -> None:
    vectors = vectors_of(n)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    row: dict = {"vectors": n}
    row["flat_p50_ms"], row["flat_p99_ms"], exact = timed(flat, queries)
    row["flat_mb"] = round(vectors.nbytes / 2**20)
    del flat
    print(json.dumps(row), flush=True)
    lists = max(1, round(n / 1000))
    for label, kind in (
        ("sq8", faiss.ScalarQuantizer.QT_8bit),
        ("fp16", faiss.ScalarQuantizer.QT_fp16),
        ("flat", None),
    ):
        index, coarse, build_s = ivf(vectors, lists, kind)
        code = {"sq8": DIM, "fp16": 2 * DIM, "flat": 4 * DIM}[label]
        row = {"vectors": n, "index": f"ivf{lists}-{label}", "build_s": build_s}
        row["mb"] = round(n * (code + 8) / 2**20)
        for nprobe in (8, 16, 32, 64):
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            p50, p99, found = timed(index, queries, params)
            row[f"nprobe{nprobe}"] = {
                "p50_ms": p50,
                "p99_ms": p99,
                "recall_at_10": recall(exact, found),
            }
        print(json.dumps(row), flush=True)
        del index, coarse
    if n <= hnsw_up_to:
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 100
        index.add(vectors)
        row = {"vectors": n, "index": "hnsw32", "build_s": round(time.perf_counter() - t0, 1)}
        row["mb"] = round(n * (4 * DIM + 32 * 2 * 4 * 1.1) / 2**20)
        for ef in (400, 800):
            index.hnsw.efSearch = ef
            p50, p99, found = timed(index, queries)
            row[f"ef{ef}"] = {"p50_ms": p50, "p99_ms": p99, "recall_at_10": recall(exact, found)}
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-up-to", type=int, default=200_000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    _, queries = query_vectors()
    queries = queries[: args.queries]
    print(json.dumps({"queries": len(queries), "fetch": FETCH, "threads": 1}), flush=True)
    for n in args.sizes:
        sweep(n, queries, args.hnsw_up_to)


if __name__ == "__main__":
    main()
