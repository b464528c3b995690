"""Search latency and memory at the default corpus and at generated scale.

Run by hand (not in CI): `.venv/bin/python bench/search.py [--sizes 100000 1000000]
[--data-dir data] [--index-sweep 50000 100000 200000 400000]`.

For each size, a store of that many passages (generated Zipf-distributed text, clustered random
unit vectors: one vector per passage, no sentence vectors) is built once in a temporary folder;
then a child process per index kind times one in-process hybrid search (FAISS + FTS5 + fusion +
highlights) over distinct queries, and reports median and p99 latency and the peak resident
memory (read before the recall check, which builds a second, exact index). The FAISS search
alone is timed too, at the size a hybrid search asks for (50 candidates x VECTORS_PER_PASSAGE
vectors), on queries near stored vectors. Exact (flat) and approximate (HNSW) FAISS are both
measured, with HNSW's Recall@10 against exact search, which is what the HNSW threshold in
kb/index.py is chosen from; `--index-sweep` times FAISS alone (no store) at more sizes.
Query embedding is not part of these figures (the fake embedder returns a vector at once);
the real model's query cost is measured separately on the default corpus, if `kb ingest` has
been run into --data-dir.
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
from kb.index import HNSW_EF_SEARCH  # noqa: E402
from kb.index import VECTORS_PER_PASSAGE  # noqa: E402
from kb.index import new_index  # noqa: E402
from kb.models import Chunk  # noqa: E402
from kb.models import DocumentMeta  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.search import SearchSettings  # noqa: E402
from kb.store import VECTOR_ID_BITS  # noqa: E402
from kb.store import SqliteStore  # noqa: E402
from kb.store import Store  # noqa: E402

DIM = 384
PER_DOCUMENT = 10_000
CANDIDATES = SearchSettings().candidates
# What one hybrid search asks FAISS for: its candidates times the vectors fetched per passage.
FETCH = CANDIDATES * VECTORS_PER_PASSAGE


def peak_rss_mb() -> int:
    """This process's own peak resident memory (VmHWM). Not ru_maxrss: on Linux a child
    inherits its parent's high-water mark through fork and exec, so ru_maxrss reports at
    least the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


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
    store = SqliteStore(data_dir / "kb.sqlite3")
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


def measure(store_dir: Path, n: int, threshold: int, queries: int) -> dict:
    """Open the store of n passages in store_dir (building it if missing) and time searches
    with the index kind that the threshold gives."""
    words = vocabulary()
    rng = np.random.default_rng(3)
    build_s = None
    if not (store_dir / "kb.sqlite3").exists():
        t0 = time.perf_counter()
        build(store_dir, n).close()
        build_s = round(time.perf_counter() - t0, 1)
    store = SqliteStore(store_dir / "kb.sqlite3")
    # An index file per kind: a saved index is loaded whatever the threshold says.
    index_path = store_dir / ("flat.faiss" if store.count_vectors() < threshold else "hnsw.faiss")
    kb = KnowledgeBase(store, RandomEmbedder(), index_path, hnsw_threshold=threshold)
    t0 = time.perf_counter()
    kb.index.ensure_fresh()
    index_s = time.perf_counter() - t0
    texts = [" ".join(rng.choice(words, size=4)) for _ in range(queries)]
    kb.search("warm up", k=10)
    timings = []
    for text in texts:
        t0 = time.perf_counter()
        kb.search(text, k=10)
        timings.append((time.perf_counter() - t0) * 1000)
    keyword = []
    for text in texts:  # the FTS5 half alone (with fetching and highlighting its hits)
        t0 = time.perf_counter()
        kb.search(text, k=10, mode="keyword")
        keyword.append((time.perf_counter() - t0) * 1000)
    near = near_queries(store, queries)
    faiss_timings = []
    for query in near:
        t0 = time.perf_counter()
        kb.index.search(query, CANDIDATES)
        faiss_timings.append((time.perf_counter() - t0) * 1000)
    # Peak memory of the search process, before the recall check adds an exact index.
    peak = peak_rss_mb()
    recall = hnsw_recall(kb, store, near[:200]) if kb.index.kind == "hnsw" else 1.0
    timings.sort()
    faiss_timings.sort()
    return {
        "passages": n,
        "vectors": store.count_vectors(),
        "index": kb.index.kind,
        "build_store_s": build_s if build_s is not None else "reused",
        "build_index_s": round(index_s, 1),
        "median_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(0.99 * (len(timings) - 1))], 2),
        "keyword_only_median_ms": round(statistics.median(keyword), 2),
        "faiss_median_ms": round(statistics.median(faiss_timings), 2),
        "faiss_p99_ms": round(faiss_timings[int(0.99 * (len(faiss_timings) - 1))], 2),
        "recall_at_10_vs_exact": round(recall, 3),
        "peak_rss_mb": peak,
    }


def near_queries(store: Store, count: int, seed: int = 11) -> list[np.ndarray]:
    """Unit vectors near stored passage vectors, as real queries land near their answers.
    Reads only the vectors it perturbs, so that it adds nothing to the peak memory."""
    rng = np.random.default_rng(seed)
    top = store._conn.execute("SELECT MAX(id) FROM passages").fetchone()[0]
    picks = [int(i) for i in rng.integers(1, top + 1, count)]
    rows = dict(
        store._conn.execute(
            f"SELECT id, embedding FROM passages WHERE id IN ({','.join('?' * len(picks))})",
            picks,
        )
    )
    vectors = np.stack([np.frombuffer(rows[i], dtype=np.float32) for i in picks if i in rows])
    noise = rng.normal(size=vectors.shape).astype(np.float32) * 0.088
    return list(normalise(vectors + noise))


def hnsw_recall(kb: KnowledgeBase, store: Store, queries: list[np.ndarray]) -> float:
    """Recall@10 of the HNSW index against an exact index over the same vectors, in passages
    (the exact index returns packed vector ids; the index's search returns passage ids)."""
    import faiss

    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    for ids, vectors in store.iter_embeddings():
        exact.add_with_ids(vectors, ids)
    found = 0
    for query in queries:
        _, truth = exact.search(query[None, :], 10 * VECTORS_PER_PASSAGE)
        passages = dict.fromkeys(int(v) >> VECTOR_ID_BITS for v in truth[0] if v >= 0)
        wanted = set(list(passages)[:10])
        # The top 10 of what a hybrid search asks for (CANDIDATES passages, so FAISS's ef is
        # at least FETCH), not of a 10-passage search, which would run with a smaller ef.
        got = {pid for pid, _ in kb.index.search(query, CANDIDATES)[:10]}
        found += len(wanted & got)
    return found / (len(queries) * 10)


def timed_top10(index, queries: np.ndarray) -> tuple[float, float, list[set]]:
    """Median and p99 ms of FETCH-result searches, and each query's top 10 ids."""
    index.search(queries[:1], FETCH)
    timings, found = [], []
    for query in queries:
        t0 = time.perf_counter()
        _, got = index.search(query[None, :], FETCH)
        timings.append((time.perf_counter() - t0) * 1000)
        found.append(set(got[0][:10].tolist()))
    timings.sort()
    median = round(statistics.median(timings), 2)
    return median, round(timings[int(0.99 * (len(timings) - 1))], 2), found


def one_thread(index, queries: np.ndarray) -> tuple[float, float, list[set]]:
    """timed_top10 with FAISS's OpenMP limited to one thread (a single query gains nothing
    from more, and on a busy machine the idle threads' barrier can cost milliseconds)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return timed_top10(index, queries)
    finally:
        faiss.omp_set_num_threads(threads)


def index_sweep(sizes: list[int], queries: int = 200) -> None:
    """FAISS alone (no store, no text), as kb.index builds it: flat and HNSW search time for
    FETCH results, build time, HNSW's Recall@10 against flat, and how often HNSW's top 10 holds
    the stored vector each query was made from; then the same with a larger efSearch."""
    import faiss

    for n in sizes:
        rng = np.random.default_rng(0)
        vectors = clustered_vectors(rng, n)
        ids = np.arange(n, dtype=np.int64)
        sources = rng.integers(0, n, queries)
        noise = rng.normal(size=(queries, DIM)).astype(np.float32) * 0.088
        near = normalise(vectors[sources] + noise)
        row: dict = {"vectors": n}
        index = new_index(DIM, n, 10**12)
        index.add_with_ids(vectors, ids)
        row["flat_median_ms"], row["flat_p99_ms"], exact = timed_top10(index, near)
        row["flat_1_thread_median_ms"], row["flat_1_thread_p99_ms"], _ = one_thread(index, near)
        del index
        index = new_index(DIM, n, 1)
        t0 = time.perf_counter()
        index.add_with_ids(vectors, ids)
        row["hnsw_build_s"] = round(time.perf_counter() - t0, 1)
        # ef is at least FETCH (400) whatever efSearch says; then what a larger one buys.
        for ef in (None, 800, 1600):
            label = "hnsw" if ef is None else f"hnsw_ef{ef}"
            if ef is not None:
                faiss.downcast_index(index.index).hnsw.efSearch = ef
            row[f"{label}_median_ms"], row[f"{label}_p99_ms"], found = timed_top10(index, near)
            hits = sum(len(a & b) for a, b in zip(exact, found, strict=True))
            row[f"{label}_recall_at_10"] = round(hits / (queries * 10), 3)
            sourced = sum(int(src) in top for src, top in zip(sources, found, strict=True))
            row[f"{label}_source_in_top_10"] = round(sourced / queries, 3)
        faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        row["hnsw_1_thread_median_ms"], row["hnsw_1_thread_p99_ms"], _ = one_thread(index, near)
        del index
        row["flat_over_hnsw"] = round(row["flat_median_ms"] / row["hnsw_median_ms"], 1)
        print(json.dumps({"index_sweep": row}), flush=True)


# The ranking before issue 15's stages (figure preference, cosine term, one-document cap):
# timed side by side with the defaults, on the same queries, in one run.
FUSION_ONLY = SearchSettings(figure_boost=0.0, cosine_weight=0.0, per_document=0)


def default_corpus(queries: int, data_dir: Path) -> dict:
    """The real corpus and the real model, if `kb ingest` has been run into data_dir: the
    default settings and fusion only, interleaved query by query."""
    from kb.embedder import MiniLMEmbedder

    if (
        not (data_dir / "kb.sqlite3").exists()
        or SqliteStore(data_dir / "kb.sqlite3").count_passages() == 0
    ):
        return {"skipped": f"run `kb --data-dir {data_dir} ingest` first"}
    store = SqliteStore(data_dir / "kb.sqlite3")
    embedder = MiniLMEmbedder()
    setups = {
        "defaults": KnowledgeBase(store, embedder, data_dir / "index.faiss"),
        "fusion_only": KnowledgeBase(store, embedder, data_dir / "index.faiss", FUSION_ONLY),
    }
    for kb in setups.values():
        kb.warm_up()
    texts = []
    # The shared dev queries sit beside the project (not beside a worktree); ours are in it.
    for path in (
        ROOT.parent / "shared" / "eval" / "dev-queries.jsonl",
        ROOT / "corpus" / "eval" / "questions-held-out.jsonl",
    ):
        if path.exists():
            lines = path.read_text().splitlines()
            texts += [json.loads(line)["q"] for line in lines if line.strip()]
    texts = texts[:queries]
    cold = {name: [] for name in setups}
    warm = {name: [] for name in setups}
    for number, text in enumerate(texts):
        # Each set-up has its own query cache: the first search of a text embeds it.
        order = list(setups) if number % 2 else list(reversed(setups))
        for name in order:
            t0 = time.perf_counter()
            setups[name].search(text, k=10)
            cold[name].append((time.perf_counter() - t0) * 1000)
        for name in order:
            t0 = time.perf_counter()
            setups[name].search(text, k=10)
            warm[name].append((time.perf_counter() - t0) * 1000)
    embed = []
    for text in texts:  # the model alone, on texts the cache has not seen
        t0 = time.perf_counter()
        embedder.embed([text + " again"])
        embed.append((time.perf_counter() - t0) * 1000)
    result = {
        "passages": store.count_passages(),
        "vectors": store.count_vectors(),
        "index": setups["defaults"].index.kind,
        "queries": len(texts),
        "median_ms_query_embedding_alone": round(statistics.median(embed), 2),
    }
    for name in setups:
        c, w = sorted(cold[name]), sorted(warm[name])
        result[name] = {
            "median_ms_with_query_embedding": round(statistics.median(c), 2),
            "p99_ms_with_query_embedding": round(c[int(0.99 * (len(c) - 1))], 2),
            "median_ms_repeated_query_cached": round(statistics.median(w), 2),
            "p99_ms_repeated_query_cached": round(w[int(0.99 * (len(w) - 1))], 2),
        }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="where the corpus was ingested"
    )
    parser.add_argument(
        "--index-sweep", type=int, nargs="*", default=[], help="FAISS alone at these sizes"
    )
    parser.add_argument(
        "--corpus-queries", type=int, default=120, help="queries timed on the default corpus"
    )
    parser.add_argument(
        "--corpus-only", action="store_true", help="only the default corpus, no generated sizes"
    )
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sweep-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, threshold = args.child
        print(json.dumps(measure(args.store_dir, n, threshold, args.queries)))
        return
    if args.sweep_child:
        index_sweep(args.index_sweep)
        return
    corpus = default_corpus(args.corpus_queries, args.data_dir)
    print(json.dumps({"default_corpus": corpus}), flush=True)
    if args.corpus_only:
        return
    for n in args.sizes:
        # One store per size: the first child builds it, the second reuses it.
        with tempfile.TemporaryDirectory(prefix=f"kb-bench-{n}-") as store_dir:
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
                        "--store-dir",
                        store_dir,
                    ],
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    sys.exit(f"{n} passages, threshold {threshold}: failed\n{out.stderr}")
                print(out.stdout.strip(), flush=True)
    if args.index_sweep:
        # Its own child too: the sweep's vectors are not the last store's.
        sweep = [sys.executable, __file__, "--sweep-child", "--index-sweep"]
        subprocess.run(sweep + [str(n) for n in args.index_sweep], check=True)


if __name__ == "__main__":
    main()
