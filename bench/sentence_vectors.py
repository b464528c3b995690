"""Sentence vectors for the generated passages: about 5 vectors a passage, as real ingests have.

Run by hand (not in CI): `.venv/bin/python bench/sentence_vectors.py` prints how close the
derived sentence vectors are to the real corpus's, for a few noise scales.

A real passage is stored with its own vector and one per sentence (kb.store: `sentence_vectors`,
4.9 vectors a passage on the default corpus), and the FAISS index holds all of them. The
generated stores of bench/realistic_vectors.py have one vector a passage; this adds the rest:

- **how many**: each passage draws its number of sentence vectors from the real corpus's own
  distribution (0 to 14, 3.9 on average);
- **where**: each sentence vector is its passage's vector plus noise drawn from the covariance of
  the real corpus's (sentence vector - passage vector) differences, scaled by `NOISE`, chosen so
  that the cosines between a sentence vector and its passage's match the real corpus's
  (quantiles 5 / 25 / 50 / 75 / 95 %; `main` prints them, and the nearest-neighbour cosines of
  all vectors, real against derived).

Deterministic given the seed: the vectors of passage id i depend only on (seed, i).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from realistic_vectors import DEFAULT_CACHE  # noqa: E402
from realistic_vectors import QUANTILES  # noqa: E402
from realistic_vectors import SEED  # noqa: E402
from realistic_vectors import nn_quantiles  # noqa: E402

from kb.embedder import normalise  # noqa: E402

# Chosen by `main`'s comparison (docs/performance.md, "Vectors per passage").
NOISE = 1.1
# ... times a log-normal factor per sentence vector (sigma SPREAD): a short sentence lies further
# from its passage than one that is most of it, so the real cosines spread widely.
SPREAD = 0.4


class SentenceDeriver:
    """Sentence vectors for passages, shaped on the real corpus's (see the module docstring).

    Args:
        cache: where bench/realistic_vectors.py ingested the real corpus (`<cache>/corpus`).
        seed: the derivation's seed.
        noise: the noise scale (NOISE).
    """

    def __init__(
        self,
        cache: Path = DEFAULT_CACHE,
        seed: int = SEED,
        noise: float = NOISE,
        spread: float = SPREAD,
    ):
        conn = sqlite3.connect(cache / "corpus" / "kb.sqlite3")
        passages = {
            pid: np.frombuffer(blob, dtype=np.float32)
            for pid, blob in conn.execute("SELECT id, embedding FROM passages")
        }
        rows = conn.execute("SELECT passage_id, embedding FROM sentence_vectors").fetchall()
        conn.close()
        self.real_passages = np.stack(list(passages.values()))
        self.real_sentences = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
        residuals = self.real_sentences - np.stack([passages[pid] for pid, _ in rows])
        values, basis = np.linalg.eigh(np.cov(residuals, rowvar=False))
        self._shape = (basis * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
        self._mean = residuals.mean(axis=0).astype(np.float32)
        per_passage = np.zeros(len(passages), dtype=np.int64)
        index = {pid: i for i, pid in enumerate(passages)}
        for pid, _ in rows:
            per_passage[index[pid]] += 1
        self.counts = per_passage  # the real distribution, drawn from
        self.seed = seed
        self.noise = noise
        self.spread = spread

    def derive(self, first_id: int, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sentence vectors for passages first_id, first_id + 1, ... with these vectors:
        (passage ids, one per sentence vector; unit vectors)."""
        rng = np.random.default_rng([self.seed, first_id, len(vectors)])
        counts = self.counts[rng.integers(0, len(self.counts), len(vectors))]
        owners = np.repeat(np.arange(len(vectors)), counts)
        noise = rng.standard_normal((len(owners), vectors.shape[1]), np.float32) @ self._shape
        scale = self.noise * rng.lognormal(0.0, self.spread, (len(owners), 1)).astype(np.float32)
        derived = vectors[owners] + self._mean + scale * noise
        return first_id + owners, normalise(derived)


def add_to_store(db: Path, deriver: SentenceDeriver, batch: int = 20_000) -> int:
    """Write derived sentence vectors for every passage of the SQLite store at `db` that has
    none; returns how many were written."""
    conn = sqlite3.connect(db)
    written = 0
    last = conn.execute("SELECT COALESCE(MAX(passage_id), 0) FROM sentence_vectors").fetchone()[0]
    while True:
        rows = conn.execute(
            "SELECT id, embedding FROM passages WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
        ).fetchall()
        if not rows:
            break
        ids = np.array([r[0] for r in rows])
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        owners, derived = deriver.derive(int(ids[0]), vectors)
        owners = ids[owners - ids[0]]
        subs = np.zeros(len(owners), dtype=np.int64)
        for i in range(1, len(owners)):  # 1.. within each passage
            subs[i] = subs[i - 1] + 1 if owners[i] == owners[i - 1] else 0
        conn.executemany(
            "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (?,?,?)",
            zip(owners.tolist(), (subs + 1).tolist(), map(bytes, derived), strict=True),
        )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        conn.commit()
        written += len(owners)
        last = int(ids[-1])
    conn.close()
    return written


def compare(deriver: SentenceDeriver, noises: list[float], spreads: list[float]) -> list[dict]:
    """Cosines of sentence vectors to their passage's, and nearest-neighbour cosines over all
    vectors (passages and sentences): the real corpus, then derived ones on its passages."""
    real_all = np.concatenate([deriver.real_passages, deriver.real_sentences])
    rows = [{"set": "real corpus", "nn_cosine_quantiles_all_vectors": nn_quantiles(real_all)}]
    for noise, spread in [(n, s) for n in noises for s in spreads]:
        deriver.noise, deriver.spread = noise, spread
        owners, derived = deriver.derive(1, deriver.real_passages)
        cos = np.einsum("ij,ij->i", derived, deriver.real_passages[owners - 1])
        rows.append(
            {
                "set": f"derived, noise {noise}, spread {spread}",
                "cosine_to_own_passage": [round(float(q), 3) for q in np.quantile(cos, QUANTILES)],
                "nn_cosine_quantiles_all_vectors": nn_quantiles(
                    np.concatenate([deriver.real_passages, derived])
                ),
                "vectors_per_passage": round(1 + len(derived) / len(deriver.real_passages), 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--noises", type=float, nargs="*", default=[1.0, 1.1, 1.2])
    parser.add_argument("--spreads", type=float, nargs="*", default=[0.3, 0.4, 0.5])
    args = parser.parse_args()
    deriver = SentenceDeriver(args.cache)
    real = np.einsum(
        "ij,ij->i",
        deriver.real_sentences,
        np.repeat(deriver.real_passages, deriver.counts, axis=0),
    )
    print(f"quantiles {QUANTILES}")
    print(
        json.dumps(
            {
                "set": "real corpus",
                "cosine_to_own_passage": [round(float(q), 3) for q in np.quantile(real, QUANTILES)],
            }
        )
    )
    for row in compare(deriver, args.noises, args.spreads):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
