"""The vector index: FAISS over the passages' embeddings, a cache derived from the store.

Inner product on unit vectors (= cosine). Exact (IndexFlatIP) up to `hnsw_threshold` vectors,
HNSW above it (see docs/performance.md for the measurements behind the default). FAISS ids pack
the passage id and which of its vectors it is (see kb.store.VECTOR_ID_BITS).
The saved file records the store generation it was built from; a stale or unreadable file is
rebuilt from SQLite, so losing or corrupting it loses nothing.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC
from datetime import datetime
from pathlib import Path

import faiss
import numpy as np

from kb.store import VECTOR_ID_BITS
from kb.store import Store

# Measured (bench/search.py, docs/performance.md): exact search over 1,000,000 vectors takes a
# median 142-148 ms of FAISS time on 2 cores, below the 340 ms FTS5 already spends at that size,
# while HNSW at efSearch 256 kept only 0.74 (100k) and 0.25 (1M) of exact search's top 10 on the
# benchmark's clustered vectors, short of the 0.95 we require. So exact search is kept up to
# 2,000,000 vectors; above that HNSW, whose settings must be re-measured on the real corpus first.
DEFAULT_HNSW_THRESHOLD = 2_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 256
# How many vectors to fetch per passage wanted: a passage has its own vector and its sentences'.
VECTORS_PER_PASSAGE = 8


def new_index(dimension: int, count: int, hnsw_threshold: int) -> faiss.Index:
    """An empty index of the right kind for `count` vectors."""
    if count >= hnsw_threshold:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    """A FAISS index of passage vectors, saved next to the database.

    Args:
        store: the source of truth for the vectors.
        path: where to keep the index file (a `.json` beside it records its generation).
        hnsw_threshold: from this many passages on, use HNSW instead of exact search.
    """

    def __init__(
        self, store: Store, path: Path, hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD
    ) -> None:
        self.store = store
        self.path = Path(path)
        self.hnsw_threshold = hnsw_threshold
        self._index: faiss.Index | None = None
        self.generation = -1
        self.loaded_at: str | None = None  # when the index in memory was loaded (ISO, UTC)
        # A server's threads all notice a new generation at once; one of them rebuilds.
        self._lock = threading.Lock()

    @property
    def info_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def kind(self) -> str:
        index = self.ensure_fresh()
        inner = faiss.downcast_index(index.index)
        return "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"

    def __len__(self) -> int:
        return self.ensure_fresh().ntotal

    def ensure_fresh(self) -> faiss.Index:
        """The index for the store's current generation: loaded, or rebuilt if stale."""
        generation = self.store.generation()
        if self._index is not None and self.generation == generation:
            return self._index
        with self._lock, self.store.snapshot():
            # One committed state throughout: a write landing mid-build cannot mix in.
            generation = self.store.generation()
            if self._index is not None and self.generation == generation:
                return self._index
            index = self._load(generation)
            if index is None:
                index = self._build()
                self._save(index, generation)
            self._index, self.generation = index, generation
            self.loaded_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            return index

    def _load(self, generation: int) -> faiss.Index | None:
        try:
            info = json.loads(self.info_path.read_text())
            if info.get("generation") != generation or info.get("model") != self.store.model_name():
                return None
            index = faiss.read_index(str(self.path))
        except (OSError, ValueError, RuntimeError):
            return None  # missing, stale or corrupt: rebuild from the store
        return index if index.ntotal == info.get("count") else None

    def saved_problems(self) -> list[str]:
        """What is wrong with the saved index file against the store, for `kb check`.

        A missing, unreadable or older file is not a fault (it is rebuilt on use). Two things
        are: a file saved at a later generation than the store's (the database was replaced by
        an older copy, or its generation was reset), and a file of the store's generation that
        holds other vectors than the store (the store was changed without a generation bump).
        """
        try:
            info = json.loads(self.info_path.read_text())
            saved = info.get("generation")
        except (OSError, ValueError, AttributeError):
            return []
        current = self.store.generation()
        rebuild = f"delete {self.path.name} and {self.info_path.name} to rebuild it"
        if not isinstance(saved, int) or saved < current:
            return []
        if saved > current:
            return [
                f"The vector index was saved at generation {saved}, but the store is at "
                f"generation {current}: the database is older than its index (restored from a "
                f"copy?); {rebuild}."
            ]
        try:
            index = faiss.read_index(str(self.path))
        except (OSError, RuntimeError):
            return []
        held = set(faiss.vector_to_array(index.id_map).tolist())
        wanted = set(self.store.vector_ids().tolist())
        if held == wanted:
            return []
        return [
            f"The vector index holds {len(held)} vectors, but the store has {len(wanted)} "
            f"(passages and their sentences; {len(wanted - held)} missing from the index, "
            f"{len(held - wanted)} not in the store) at the same generation {current}: the store "
            f"was changed without a generation bump; {rebuild}."
        ]

    def _build(self) -> faiss.Index:
        dimension = int(self.store.get_meta("embedding_dim") or 384)
        index = new_index(dimension, self.store.count_vectors(), self.hnsw_threshold)
        for ids, vectors in self.store.iter_embeddings():
            index.add_with_ids(vectors, ids)
        return index

    def _save(self, index: faiss.Index, generation: int) -> None:
        # Write to temporary names, then rename: a crash never leaves a half-written index. The
        # names are this process's own, as several server processes may save at once.
        tmp_index = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp_info = self.info_path.with_name(f"{self.info_path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            faiss.write_index(index, str(tmp_index))
            tmp_info.write_text(
                json.dumps(
                    {
                        "generation": generation,
                        "model": self.store.model_name(),
                        "count": index.ntotal,
                    }
                )
            )
            os.replace(tmp_index, self.path)
            os.replace(tmp_info, self.info_path)
        except (OSError, RuntimeError):
            # A read-only or full disk: the index still works in memory, just not saved.
            for tmp in (tmp_index, tmp_info):
                tmp.unlink(missing_ok=True)

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The k nearest passages as (passage id, cosine), best first.

        A passage scores the best cosine of its own vector and its sentences' vectors.

        Args:
            vector: a unit query vector.
            k: how many passages to return.
            allowed: if given, only these packed vector ids are considered (filters).
        """
        index = self.ensure_fresh()
        if index.ntotal == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
        # Several vectors per passage: fetch more, then keep each passage's best.
        scores, ids = index.search(query, min(k * VECTORS_PER_PASSAGE, index.ntotal), params=params)
        best: dict[int, float] = {}
        for vector_id, score in zip(ids[0], scores[0], strict=True):
            if vector_id >= 0:
                passage_id = int(vector_id) >> VECTOR_ID_BITS
                best.setdefault(passage_id, float(score))
        return list(best.items())[:k]
