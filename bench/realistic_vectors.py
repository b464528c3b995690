"""Passages and vectors that look like a real corpus's, at any size, for the search benchmarks.

Run by hand (not in CI): `.venv/bin/python bench/realistic_vectors.py [--cache bench/.cache]`
prints how close the generated neighbourhoods are to the real corpus's.

Clustered random vectors (what bench/search.py used before) are not what MiniLM produces: real
embeddings fill a low-dimensional, uneven part of the sphere, and approximate search behaves
very differently on them. So the vectors here come from the model itself:

1. **Real corpus.** The default corpus is ingested with the real model into `<cache>/corpus`
   (ONNX export, no torch at run time): its passages, their texts and vectors.
2. **Embedded recombinations.** `EMBEDDED` passages in all: the real ones, plus texts made by
   recombining the corpus's sentences (3 to 7 sentences, most from one document, some from
   another, in a shuffled order) and embedded by the same model (cached in
   `<cache>/embedded-<n>-<seed>.npz`).
3. **Derived.** Every further vector starts from an embedded one (its base), moves part of the
   way towards one of the base's 10 nearest embedded neighbours, and takes noise drawn from the
   embedded vectors' own covariance (so it stays in the subspace real text occupies), scaled by
   `NOISE`, chosen so that nearest-neighbour cosines match the embedded set's at equal size
   (`main` prints the comparison). Its text is the base's sentences, shuffled, with one sentence
   of the neighbour's: keyword and vector neighbourhoods agree, as in real text.

Everything is deterministic given the seed; derived chunk i depends only on (seed, i).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.split import split_sentences  # noqa: E402
from kb.embedder import normalise  # noqa: E402

SEED = 20
# How many passages are embedded by the model (BENCH_EMBEDDED overrides: the embedding is the
# slow part, about 4 passages a second on the shared machine).
EMBEDDED = int(os.environ.get("BENCH_EMBEDDED", 8_802))
EMBED_PART = 500
# The derived vectors' noise, relative to the embedded vectors' own spread: chosen by `main`'s
# comparison (the quantiles of nearest-neighbour cosines at equal size; docs/performance.md).
NOISE = 0.45
NEIGHBOURS = 10
DEFAULT_CACHE = ROOT / "bench" / ".cache"


@dataclass
class Embedded:
    """The real and recombined passages with their model vectors.

    Attributes:
        texts: passage texts; the first `real` are the corpus's own passages.
        vectors: unit vectors, one per text.
        real: how many of them are the corpus's own.
    """

    texts: list[str]
    vectors: np.ndarray
    real: int


def real_corpus(cache: Path) -> tuple[list[str], list[str], np.ndarray]:
    """The default corpus's (document ids, passage texts, passage vectors), ingested into
    `<cache>/corpus` with the real model on first use."""
    from kb.store import SqliteStore

    data = cache / "corpus"
    db = data / "kb.sqlite3"
    if not db.exists() or SqliteStore(db).count_passages() == 0:
        kb = Path(sys.executable).with_name("kb")
        subprocess.run([str(kb), "--data-dir", str(data), "ingest"], check=True)
    store = SqliteStore(db)
    rows = store._conn.execute(
        "SELECT document_id, text, embedding FROM passages ORDER BY id"
    ).fetchall()
    store.close()
    vectors = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
    return [r[0] for r in rows], [r[1] for r in rows], vectors


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text) if b - a > 20]


def recombined_texts(documents: list[str], texts: list[str], count: int, seed: int) -> list[str]:
    """`count` texts of 3 to 7 corpus sentences: about three quarters from one document, the
    rest from another, shuffled."""
    rng = np.random.default_rng(seed)
    by_document: dict[str, list[str]] = {}
    for document, text in zip(documents, texts, strict=True):
        by_document.setdefault(document, []).extend(_sentences(text))
    pools = [pool for pool in by_document.values() if pool]
    out = []
    for _ in range(count):
        main_pool, other_pool = (pools[i] for i in rng.integers(0, len(pools), 2))
        size = int(rng.integers(3, 8))
        own = max(1, round(size * 0.75))
        picked = [main_pool[i] for i in rng.integers(0, len(main_pool), own)]
        picked += [other_pool[i] for i in rng.integers(0, len(other_pool), size - own)]
        rng.shuffle(picked)
        out.append(" ".join(picked))
    return out


def embedded(cache: Path = DEFAULT_CACHE, count: int = EMBEDDED, seed: int = SEED) -> Embedded:
    """The real passages plus recombined ones up to `count`, embedded (cached in parts of
    EMBED_PART texts, so an interrupted run resumes)."""
    path = cache / f"embedded-{count}-{seed}.npz"
    if path.exists():
        saved = np.load(path)
        return Embedded(json.loads(str(saved["texts"])), saved["vectors"], int(saved["real"]))
    documents, texts, vectors = real_corpus(cache)
    extra = recombined_texts(documents, texts, count - len(texts), seed)
    from kb.onnx_embedder import ExportedMiniLM

    embedder = ExportedMiniLM(cache / "corpus", threads=2)
    parts = []
    for start in range(0, len(extra), EMBED_PART):
        # Named by seed alone: the recombined texts of a smaller count are a prefix of a larger.
        part = cache / f"embedded-{seed}.part{start // EMBED_PART}.npy"
        if not part.exists():
            np.save(part, embedder.embed(extra[start : start + EMBED_PART]))
            print(f"embedded {min(start + EMBED_PART, len(extra))} of {len(extra)}", flush=True)
        parts.append(np.load(part))
    result = Embedded(texts + extra, normalise(np.concatenate([vectors, *parts])), len(texts))
    np.savez(path, texts=json.dumps(result.texts), vectors=result.vectors, real=result.real)
    return result


def nearest_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's k nearest others (exact): (cosines, indices), best first."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    cosines, indices = index.search(vectors, k + 1)
    return cosines[:, 1:], indices[:, 1:]


class Generator:
    """Derived passages and vectors from an embedded set (see the module docstring).

    Args:
        base: the embedded set.
        seed: the derivation's seed.
        noise: the noise scale (NOISE).
    """

    def __init__(self, base: Embedded, seed: int = SEED, noise: float = NOISE) -> None:
        self.base = base
        self.seed = seed
        self.noise = noise
        _, self._neighbours = nearest_neighbours(base.vectors, NEIGHBOURS)
        centred = base.vectors - base.vectors.mean(axis=0)
        # Noise with the embedded vectors' covariance: x @ (C^(1/2)) for standard normal x.
        values, basis = np.linalg.eigh(np.cov(centred, rowvar=False))
        self._shape = (basis * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
        self._sentences = [_sentences(text) or [text] for text in base.texts]

    def chunk(self, number: int, size: int, texts: bool = True) -> tuple[list[str], np.ndarray]:
        """Derived chunk `number` of `size` passages: (texts, unit vectors)."""
        rng = np.random.default_rng([self.seed, number])
        count = len(self.base.texts)
        bases = rng.integers(0, count, size)
        partners = self._neighbours[bases, rng.integers(0, NEIGHBOURS, size)]
        towards = rng.uniform(0.0, 0.5, (size, 1)).astype(np.float32)
        vectors = self.base.vectors[bases] * (1 - towards) + self.base.vectors[partners] * towards
        vectors += (
            self.noise * rng.standard_normal((size, vectors.shape[1]), np.float32) @ (self._shape)
        )
        out_texts: list[str] = []
        if texts:
            for base, partner in zip(bases, partners, strict=True):
                sentences = list(self._sentences[base])
                rng.shuffle(sentences)
                extra = self._sentences[partner]
                sentences.append(extra[int(rng.integers(0, len(extra)))])
                out_texts.append(" ".join(sentences))
        return out_texts, normalise(vectors)

    def passages(
        self, total: int, chunk: int = 10_000, texts: bool = True
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """`total` passages in chunks: the embedded set first (as many as fit), then derived;
        texts=False leaves the derived texts out (vectors only)."""
        own = min(total, len(self.base.texts))
        for start in range(0, own, chunk):
            end = min(own, start + chunk)
            yield self.base.texts[start:end], self.base.vectors[start:end]
        for number, start in enumerate(range(own, total, chunk)):
            yield self.chunk(number, min(chunk, total - start), texts)


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def nn_quantiles(vectors: np.ndarray) -> list[float]:
    """Quantiles of each vector's cosine to its nearest other vector."""
    cosines, _ = nearest_neighbours(vectors, 1)
    return [round(float(q), 3) for q in np.quantile(cosines[:, 0], QUANTILES)]


def compare(base: Embedded, noises: list[float], seed: int = SEED) -> list[dict]:
    """Nearest-neighbour cosine quantiles: the real corpus, the embedded set and derived sets of
    the same sizes, for each noise scale."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "set": f"real corpus ({base.real})",
            "nn_cosine_quantiles": nn_quantiles(base.vectors[: base.real]),
        },
        {
            "set": f"embedded, {base.real} drawn",
            "nn_cosine_quantiles": nn_quantiles(
                base.vectors[rng.choice(len(base.texts), base.real, replace=False)]
            ),
        },
        {"set": f"embedded ({len(base.texts)})", "nn_cosine_quantiles": nn_quantiles(base.vectors)},
    ]
    for noise in noises:
        generator = Generator(base, seed, noise)
        _, small = generator.chunk(10**6, base.real, texts=False)
        _, large = generator.chunk(10**6 + 1, len(base.texts), texts=False)
        rows.append(
            {
                "set": f"derived, noise {noise}",
                f"nn_cosine_quantiles_{base.real}": nn_quantiles(small),
                f"nn_cosine_quantiles_{len(base.texts)}": nn_quantiles(large),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--embedded", type=int, default=EMBEDDED)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--noises", type=float, nargs="*", default=[0.3, 0.4, 0.5, 0.6, 0.8])
    args = parser.parse_args()
    base = embedded(args.cache, args.embedded, args.seed)
    print(f"quantiles {QUANTILES}")
    for row in compare(base, args.noises, args.seed):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
