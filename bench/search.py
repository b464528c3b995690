"""Search latency, memory and agreement at the default corpus and at generated scale.

Run by hand (not in CI): `nice -n 19 .venv/bin/python bench/search.py [--sizes 100000 1000000]
[--data-dir data] [--queries 300] [--keep] [--sentence-vectors] [--before DIR]`.

For each size, a store of that many passages is built once (bench/realistic_vectors.py: real
corpus text and model vectors, recombined and derived; one vector per passage) in
`bench/.cache/stores/<size>` (kept with --keep). With --sentence-vectors the store is
`bench/.cache/stores/<size>-sentences`: a copy of that one with about 4 sentence vectors added
to each passage (bench/sentence_vectors.py), so about 5 vectors a passage, as real ingests
have, and the vector index holds them all. Then one child process per set-up times
in-process hybrid searches (k = 10) on the evaluation questions, whose model vectors are
cached so the figures are the index work:

- **today**: the store's FTS5 keyword search and exact FAISS (IndexFlatIP), as before issue 20;
- **exact**: the defaults but exact FAISS: the reference for recall@10;
- **new**: the defaults, i.e. from `DEFAULT_KEYWORD_INDEX_FROM` passages the tantivy keyword
  index and from `DEFAULT_APPROXIMATE_FROM` vectors the IVF index;
- **before** (with --before DIR, first): the defaults as the knowledge base in DIR had them (a
  copy of an earlier commit, e.g. `git archive <commit> | tar -x -C DIR`; timed by this file),
  over the same store and the same saved indexes: what a change to the search path itself
  gained, in the same run.

Each prints p50 and p99 per stage (keyword, vector, fetch: reading passages and documents,
fusion: everything else), the search's own CPU time ("cpu": the wall time less waiting for a
core on a busy machine), the time to build its indexes, and its peak resident memory; the
parent compares each set-up's fused top 10 with today's (exact) per query: recall@10, and with
--before whether the top 10s are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The knowledge base measured: this checkout's, or with --before an earlier one's (the child
# timing it is this file, so both are measured alike).
sys.path.insert(0, os.environ.get("BENCH_KB_CODE", str(ROOT)))
# The package first: its modules then come from there, whoever imports them (bench/ modules put
# this checkout on the path too).
import kb as _measured  # noqa: E402, F401, I001

sys.path.insert(0, str(ROOT / "bench"))

from ann import query_vectors  # noqa: E402
from query_model import query_embedder  # noqa: E402
from realistic_vectors import DEFAULT_CACHE  # noqa: E402
from realistic_vectors import Generator  # noqa: E402
from realistic_vectors import embedded  # noqa: E402

from kb.models import Chunk  # noqa: E402
from kb.models import DocumentMeta  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.search import SearchSettings  # noqa: E402
from kb.store import SqliteStore  # noqa: E402

DIM = 384
PER_DOCUMENT = 10_000
KINDS = ("report", "case-study", "guidance", "committee-paper")
# Set-ups: KnowledgeBase options over the defaults. "today": FTS5 and exact FAISS, as before
# issue 20; "exact": today's defaults but exact FAISS (the reference for recall@10); "new".
NEVER = 10**12
SETUPS = {
    "today": {"approximate_from": NEVER, "keyword_index_from": NEVER},
    "exact": {"approximate_from": NEVER},
    "new": {},
}
STAGES = ("keyword", "vector", "fetch", "fusion", "total")


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


class CachedQueries:
    """The model's vectors of the evaluation questions, looked up: no embedding cost."""

    name = "bench-cached"
    dimension = DIM

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self._vectors = dict(zip(texts, vectors, strict=True))

    def embed(self, texts):
        return np.stack([self._vectors.get(t, np.full(DIM, DIM**-0.5)) for t in texts])


def with_sentence_vectors(store_dir: Path, n: int) -> float:
    """The store of n passages with derived sentence vectors (bench/sentence_vectors.py), made
    once from the one-vector store beside it; returns seconds (0 when it was there)."""
    from sentence_vectors import SentenceDeriver
    from sentence_vectors import add_to_store

    target = store_dir.with_name(f"{n}-sentences") / "kb.sqlite3"
    if target.exists():
        return 0.0
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    shutil.copyfile(store_dir / "kb.sqlite3", part)
    add_to_store(part, SentenceDeriver())
    part.rename(target)
    return round(time.perf_counter() - t0, 1)


def build(store_dir: Path, n: int) -> float:
    """A store of n generated passages in documents of PER_DOCUMENT; returns seconds.

    Written with plain INSERTs, one transaction per document, not Store.put_document: its
    figure extraction runs per passage and would take hours at 1,000,000 passages on these
    cores, and search does not read figures. The rows are what put_document writes otherwise
    (documents, passages with their vectors, the FTS5 row)."""
    t0 = time.perf_counter()
    store_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(store_dir / "kb.sqlite3")
    store.ensure_model(CachedQueries.name, DIM, {"bench": True})
    generator = Generator(embedded())
    for number, (texts, vectors) in enumerate(generator.passages(n, PER_DOCUMENT)):
        title = f"Generated document {number}"
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO documents (id, title, publisher, year, kind, url, tags, file_path,"
                " sha256, fingerprint, text, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"doc-{number}",
                    title,
                    "Bench",
                    2000 + number % 26,
                    KINDS[number % len(KINDS)],
                    "",
                    json.dumps([f"tag-{number % 7}"]),
                    "",
                    "",
                    "",
                    "",
                    "2026-12-01T00:00:00+00:00",
                ),
            )
            first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM passages").fetchone()[0]
            rows = [
                (
                    first + i,
                    f"doc-{number}",
                    i,
                    text,
                    str(i // 5 + 1),
                    f"Section {i // 50}",
                    i,
                    i + 1,
                    150,
                    vector.tobytes(),
                    "[]",
                )
                for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
            ]
            conn.executemany(
                "INSERT INTO passages (id, document_id, ordinal, text, page, section, char_start,"
                " char_end, token_count, embedding, source_keys) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO passages_fts (rowid, text, section, title) VALUES (?,?,?,?)",
                [(row[0], row[3], row[5], title) for row in rows],
            )
    store.close()
    return round(time.perf_counter() - t0, 1)


def timed_stages(kb: KnowledgeBase) -> dict[str, float]:
    """Wrap the knowledge base's stages so each search adds its time to a dict."""
    spent = dict.fromkeys(STAGES, 0.0)

    def wrap(owner, name, stage):
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - t0

        setattr(owner, name, timed)

    wrap(kb, "_keyword", "keyword")
    wrap(kb, "_semantic", "vector")
    wrap(kb.store, "passages_by_id", "fetch")
    wrap(kb.store, "documents_by_id", "fetch")
    return spent


def measure(store_dir: Path, setup: str, queries: int, out: Path) -> dict:
    """One set-up over the store in store_dir: build its indexes, time searches."""
    texts, vectors = query_vectors()
    texts, vectors = texts[:queries], vectors[:queries]
    store = SqliteStore(store_dir / "kb.sqlite3")
    # today's and exact's vector indexes are the same flat index: one file, built once.
    index_file = "exact" if setup == "today" else setup
    kb = KnowledgeBase(
        store, CachedQueries(texts, vectors), store_dir / f"{index_file}.faiss", **SETUPS[setup]
    )
    t0 = time.perf_counter()
    kb.index.ensure_fresh(wait=True)
    vector_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    uses_keyword_index = kb.uses_keyword_index()
    if uses_keyword_index:
        kb.keywords.ensure_fresh(wait=True)
    keyword_build = time.perf_counter() - t0
    for text in texts[:5]:
        kb.search(text, k=10)  # warm caches
    spent = timed_stages(kb)
    per_stage = {stage: [] for stage in (*STAGES, "cpu")}
    tops = []
    for text in texts:
        before = dict(spent)
        c0, t0 = time.thread_time(), time.perf_counter()
        hits = kb.search(text, k=10)
        spent["total"] += time.perf_counter() - t0
        # The search's own CPU time (FAISS, tantivy and SQLite run in this thread): what it
        # would take on an idle machine, where the wall time above includes waiting for a core.
        per_stage["cpu"].append((time.thread_time() - c0) * 1000)
        tops.append([hit.passage.id for hit in hits])
        delta = {stage: (spent[stage] - before[stage]) * 1000 for stage in STAGES}
        delta["fusion"] = delta["total"] - delta["keyword"] - delta["vector"] - delta["fetch"]
        for stage in STAGES:
            per_stage[stage].append(delta[stage])
    out.write_text(json.dumps(tops))
    update = upload_and_remove(kb) if setup == "new" else {}
    result = {
        "setup": setup,
        "passages": store.count_passages(),
        "vectors": store.count_vectors(),
        "index": kb.index.kind,
        "keyword": "tantivy" if uses_keyword_index else "fts5",
        "build_vector_index_s": round(vector_build, 1),
        "build_keyword_index_s": round(keyword_build, 1),
        "queries": len(texts),
    }
    for stage, values in per_stage.items():
        values.sort()
        p99 = values[int(0.99 * (len(values) - 1))]
        result[stage] = {"p50_ms": round(statistics.median(values), 2), "p99_ms": round(p99, 2)}
    result["peak_rss_mb"] = peak_rss_mb()
    result.update(update)
    return result


def upload_and_remove(kb: KnowledgeBase, size: int = 200) -> dict:
    """Seconds to bring both indexes up to date after an upload of `size` passages and after
    its removal (edits of the live indexes, no rebuild), the store left as it was."""
    texts, vectors = Generator(embedded()).chunk(10**7, size)
    chunks = [Chunk(text, None, "Uploaded", i, i + 1, 150) for i, text in enumerate(texts)]
    meta = DocumentMeta("bench-upload", "An uploaded report", "Bench", 2026, "report")
    timings = {}
    for step in ("upload", "removal"):
        if step == "upload":
            kb.store.put_document(
                meta,
                file_path="",
                sha256="",
                fingerprint="",
                text="",
                chunks=chunks,
                embeddings=vectors,
            )
        else:
            kb.store.remove_document(meta.id)
        live = kb.index._live
        t0 = time.perf_counter()
        kb.index.ensure_fresh(wait=True)
        timings[f"{step}_vector_index_s"] = round(time.perf_counter() - t0, 2)
        timings[f"{step}_vector_index_edited"] = kb.index._live is live
        t0 = time.perf_counter()
        kb.keywords.ensure_fresh(wait=True)
        timings[f"{step}_keyword_index_s"] = round(time.perf_counter() - t0, 2)
    return timings


def recall_at_10(exact: list[list[int]], other: list[list[int]]) -> float:
    """Share of the reference run's fused top 10 in the other's, over the queries both ran."""
    found = sum(len(set(a) & set(b)) for a, b in zip(exact, other, strict=False))
    wanted = sum(len(a) for a in exact[: len(other)])
    return round(found / max(1, wanted), 3)


# The ranking before issue 15's stages (figure preference, cosine term, one-document cap):
# timed side by side with the defaults, on the same queries, in one run. Settings overrides,
# made into SearchSettings only when used: a --before child's older SearchSettings may not
# know them all.
FUSION_ONLY = {"figure_boost": 0.0, "cosine_weight": 0.0, "per_document": 0, "late_weight": 0.0}
# The defaults without the late-interaction stage (the ranking before it).
NO_LATE_INTERACTION = {"late_weight": 0.0}


def default_corpus(queries: int, data_dir: Path) -> dict:
    """The real corpus and the real model, if `kb ingest` has been run into data_dir: the
    default settings and fusion only, interleaved query by query, with the query embedder a
    searching process uses (the ONNX export; never the torch fallback, which is not what runs)."""
    if (
        not (data_dir / "kb.sqlite3").exists()
        or SqliteStore(data_dir / "kb.sqlite3").count_passages() == 0
    ):
        return {"skipped": f"run `kb --data-dir {data_dir} ingest` first"}
    store = SqliteStore(data_dir / "kb.sqlite3")
    embedder = query_embedder(data_dir)
    setups = {
        "defaults": KnowledgeBase(store, embedder, data_dir / "index.faiss"),
        "no_late_interaction": KnowledgeBase(
            store, embedder, data_dir / "index.faiss", SearchSettings(**NO_LATE_INTERACTION)
        ),
        "fusion_only": KnowledgeBase(
            store, embedder, data_dir / "index.faiss", SearchSettings(**FUSION_ONLY)
        ),
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
    stage = time_late_interaction(setups["defaults"])
    stage_warm: list[float] = []
    for number, text in enumerate(texts):
        # Each set-up has its own query cache: the first search of a text embeds it.
        order = list(setups) if number % 2 else list(reversed(setups))
        for name in order:
            t0 = time.perf_counter()
            setups[name].search(text, k=10)
            cold[name].append((time.perf_counter() - t0) * 1000)
        stage_cold = len(stage)
        for name in order:
            t0 = time.perf_counter()
            setups[name].search(text, k=10)
            warm[name].append((time.perf_counter() - t0) * 1000)
        stage_warm.extend(stage[stage_cold:])
        del stage[stage_cold:]
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
        "query_embedder": embedder.backend,
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
    # The late-interaction stage alone, inside the defaults' searches above.
    result["late_interaction_stage"] = {
        "median_ms_first_search": round(statistics.median(stage), 3),
        "median_ms_repeated_query": round(statistics.median(stage_warm), 3),
        "p99_ms_repeated_query": round(sorted(stage_warm)[int(0.99 * (len(stage_warm) - 1))], 3),
    }
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def time_late_interaction(kb: KnowledgeBase) -> list[float]:
    """Times (ms) of each call of kb's late-interaction stage from now on, appended as they
    come (the stage runs inside find; wrapped here, not changed)."""
    times: list[float] = []
    stage = kb._late_interaction

    def timed(query, ranked):
        t0 = time.perf_counter()
        try:
            return stage(query, ranked)
        finally:
            times.append((time.perf_counter() - t0) * 1000)

    kb._late_interaction = timed
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="where the corpus was ingested"
    )
    parser.add_argument(
        "--corpus-queries",
        type=int,
        default=120,
        help="queries timed on the default corpus (0: skip it)",
    )
    parser.add_argument(
        "--corpus-only", action="store_true", help="only the default corpus, no generated sizes"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated stores")
    parser.add_argument(
        "--today-queries",
        type=int,
        default=60,
        help="queries for today's set-up (FTS5 takes seconds a query at 1,000,000 passages)",
    )
    parser.add_argument(
        "--sentence-vectors",
        action="store_true",
        help="about 5 vectors a passage (bench/sentence_vectors.py), as real ingests have",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="a copy of earlier code whose defaults are timed first, as the set-up 'before'",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out = args.store_dir / f"{args.child}.tops.json"
        print(json.dumps(measure(args.store_dir, args.child, args.queries, out)))
        return
    if args.corpus_queries:
        corpus = default_corpus(args.corpus_queries, args.data_dir)
        print(json.dumps({"default_corpus": corpus}), flush=True)
    if args.corpus_only:
        return
    for n in args.sizes:
        store_dir = DEFAULT_CACHE / "stores" / str(n)
        if not (store_dir / "kb.sqlite3").exists():
            shutil.rmtree(store_dir, ignore_errors=True)
            print(json.dumps({"passages": n, "build_store_s": build(store_dir, n)}), flush=True)
        if args.sentence_vectors:
            seconds = with_sentence_vectors(store_dir, n)
            print(json.dumps({"passages": n, "add_sentence_vectors_s": seconds}), flush=True)
            store_dir = store_dir.with_name(f"{n}-sentences")
        setups = ["before"] if args.before else []
        if args.before:
            # The stores carry this code's migrations, and an older runner refuses a newer
            # schema: the copy gets the migrations it lacks (it reads the store as it did).
            for sql in (ROOT / "kb" / "migrations").glob("*/*.sql"):
                target = args.before / sql.relative_to(ROOT)
                if not target.exists():
                    shutil.copyfile(sql, target)
        tops = {}
        for setup in setups + list(SETUPS):
            # A child process each, so that peak memory belongs to one set-up.
            queries = args.today_queries if setup == "today" else args.queries
            child, env = setup, dict(os.environ)
            if setup == "before":  # the earlier code's defaults: its "new", its index file
                child, env["BENCH_KB_CODE"] = "new", str(args.before)
            command = [sys.executable, __file__, "--child", child, "--store-dir", str(store_dir)]
            command += ["--queries", str(queries)]
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                sys.exit(f"{n} passages, {setup}: failed\n{done.stderr}")
            result = json.loads(done.stdout)
            result["setup"] = setup
            saved = store_dir / f"{child}.tops.json"
            if setup == "before":
                saved = saved.rename(store_dir / "before.tops.json")
            tops[setup] = json.loads(saved.read_text())
            if setup not in ("today", "before"):
                result["recall_at_10_vs_today"] = recall_at_10(tops["today"], tops[setup])
            if setup == "new":
                result["recall_at_10_vs_exact"] = recall_at_10(tops["exact"], tops["new"])
                if "before" in tops:
                    same = sum(a == b for a, b in zip(tops["before"], tops["new"], strict=False))
                    result["same_top_10_as_before"] = f"{same} of {len(tops['new'])} queries"
            print(json.dumps(result), flush=True)
        if not args.keep:
            shutil.rmtree(store_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
