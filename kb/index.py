"""The vector index: FAISS over the passages' vectors, a cache derived from the store.

Every passage has several vectors: its own and one per sentence (about 5 in all on the corpus).
The index holds all of them, with ids packing the passage id and which of its vectors it is
(see kb.store.VECTOR_ID_BITS), and a passage scores the best cosine of its vectors.

Inner product on unit vectors (= cosine). Below `approximate_from` *vectors* the search is exact
(IndexFlatIP); from it on, approximate: an inverted file (IVF) of 8-bit scalar-quantised vectors,
searched in the `nprobe` lists nearest the query. The choice and its settings are measured on
realistic vectors (bench/ann.py, docs/performance.md).

The saved file records the store generation it was built from. A stale file is brought up to
date document by document (kb.derived: an upload is added to the live index, a removal taken
out of it); a large change, or an unreadable file, is rebuilt from the store, beside the live
index when there is one (searches go on meanwhile), so losing or corrupting it loses nothing.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC
from datetime import datetime
from pathlib import Path

import faiss
import numpy as np

from kb.derived import DerivedIndex
from kb.derived import ReadWriteLock
from kb.store import VECTOR_ID_BITS
from kb.store import Store

# Measured on realistic vectors (bench/ann.py, docs/performance.md "Vector side"): exact search
# costs about 0.5 ms per 1,000 vectors on these busy cores (53 ms at 100,000), IVF with 8-bit
# codes 0.8 ms at 100,000 with 0.98 of exact search's top 10. Below 50,000 vectors (about 10,000
# passages) exact search stays under the few milliseconds a search may spend on vectors.
DEFAULT_APPROXIMATE_FROM = 50_000
# IVF: sqrt(vectors) lists (316 at 100,000, 1,000 at 1,000,000); each search reads the NPROBE
# lists nearest the query (Recall@10 0.954 at 32, 0.981 at 64, 0.988 at 128 over 100,000).
IVF_NPROBE = 64
# ... and at least a sixteenth of the lists: 64 is that at 1,000 lists (fused Recall@10 0.968 at
# 1,000,000 passages of one vector), but at 2,219 lists (1,000,000 passages of about 5 vectors)
# 64 kept 0.944 and 138 keeps 0.965, for 22 against 18 ms of CPU a search (docs/performance.md).
IVF_PROBED_SHARE = 16
# Vectors k-means sees to place the lists (FAISS warns below 39 per list).
IVF_TRAIN_PER_LIST = 50
# How many vectors to fetch per passage wanted: a passage has its own vector and its sentences'.
VECTORS_PER_PASSAGE = 8
# One OpenMP thread per search: a server runs its searches on its own request threads, and on
# shared cores the barrier of FAISS's idle threads costs whole scheduler slices (flat search at
# 400,000 vectors: p99 51 ms with one thread, 92 ms with two; docs/performance.md).
faiss.omp_set_num_threads(1)
# The ids of one passage's vectors: [pid << BITS, (pid + 1) << BITS).
_SUBS = np.arange(1 << VECTOR_ID_BITS, dtype=np.int64)


def new_index(dimension: int, count: int, approximate_from: int) -> faiss.Index:
    """An empty, untrained index of the right kind for `count` vectors."""
    if count >= approximate_from:
        lists = max(1, round(math.sqrt(count)))
        quantiser = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantiser, dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.own_fields = True
        quantiser.this.disown()
        index.nprobe = probes(lists)
        return index
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def probes(lists: int) -> int:
    """How many of an IVF index's lists a search reads (IVF_NPROBE, IVF_PROBED_SHARE)."""
    return min(lists, max(IVF_NPROBE, lists // IVF_PROBED_SHARE))


def kind_of(index: faiss.Index) -> str:
    return "ivf" if isinstance(faiss.downcast_index(index), faiss.IndexIVF) else "flat"


def held_ids(index: faiss.Index) -> np.ndarray:
    """Every vector id an index holds."""
    if kind_of(index) == "flat":
        return faiss.vector_to_array(index.id_map)
    ivf = faiss.extract_index_ivf(index)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(ivf.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def vector_ids_of(passage_ids: np.ndarray) -> np.ndarray:
    """Every id the vectors of these passages can have (passage and up to 63 sentences)."""
    base = np.asarray(passage_ids, dtype=np.int64)[:, None] << VECTOR_ID_BITS
    return (base | _SUBS[None, :]).ravel()


class VectorIndex(DerivedIndex):
    """A FAISS index of the passages' vectors, saved next to the database.

    Args:
        store: the source of truth for the vectors.
        path: where to keep the index file (a `.json` beside it records its generation and the
            documents it holds).
        approximate_from: from this many vectors (not passages) on, search approximately (IVF).
    """

    def __init__(
        self, store: Store, path: Path, approximate_from: int = DEFAULT_APPROXIMATE_FROM
    ) -> None:
        super().__init__()
        self.store = store
        self.path = Path(path)
        self.approximate_from = approximate_from
        self._editing = ReadWriteLock()
        self.loaded_at: str | None = None  # when the index in memory was loaded (ISO, UTC)

    @property
    def info_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def kind(self) -> str:
        return kind_of(self.ensure_fresh())

    def __len__(self) -> int:
        return self.ensure_fresh().ntotal

    def ensure_fresh(self, wait: bool = False) -> faiss.Index:
        """The index for the store's current generation: loaded, updated from the documents
        that changed, or rebuilt. While a replacement for a live index is built (a large
        change), the live one keeps answering; wait: finish it first (benchmarks, tests)."""
        return self.fresh(wait)

    def _use(self, index: faiss.Index, state: dict) -> None:
        super()._use(index, state)
        self.loaded_at = datetime.now(UTC).isoformat(timespec="milliseconds")

    def _load(self) -> None:
        try:
            state = json.loads(self.info_path.read_text())
            if state.get("model") != self.store.model_name() or "passages" not in state:
                return
            index = faiss.read_index(str(self.path))
        except (OSError, ValueError, RuntimeError, AttributeError):
            return  # missing or corrupt: rebuilt from the store
        if index.ntotal == state.get("count"):
            self._use(index, state)

    def _needs_rebuild(self) -> bool:
        wanted = "ivf" if self.store.count_vectors() >= self.approximate_from else "flat"
        return wanted != kind_of(self._live)

    def _build(self, generation: int, current: dict | None) -> tuple[faiss.Index, dict]:
        """A new index of every vector in the store (inside the caller's snapshot), saved."""
        dimension = int(self.store.get_meta("embedding_dim") or 384)
        index = new_index(dimension, self.store.count_vectors(), self.approximate_from)
        if not index.is_trained:
            index.train(self._training_sample(faiss.extract_index_ivf(index).nlist))
        for ids, vectors in self.store.iter_embeddings():
            index.add_with_ids(vectors, ids)
        state = {"generation": generation, "model": self.store.model_name(), "documents": current}
        state["passages"] = self._passages_by_document() if current is not None else {}
        self._save(index, state)
        return index, state

    def _training_sample(self, lists: int) -> np.ndarray:
        """An evenly spread sample of the store's vectors for k-means."""
        wanted = lists * IVF_TRAIN_PER_LIST
        step = max(1, math.ceil(self.store.count_vectors() / wanted))
        batches = [vectors[::step] for _, vectors in self.store.iter_embeddings()]
        return np.ascontiguousarray(np.concatenate(batches)[:wanted])

    def _passages_by_document(self) -> dict[str, list[int]]:
        """Each document's passage ids as [first, last] runs: what to remove when it changes."""
        return {
            document.id: _runs(p.id for p in self.store.passages_of(document.id))
            for document in self.store.list_documents()
        }

    def _apply(self, todo, generation: int, current: dict) -> None:
        """Take the changed documents' vectors out of the live index, add their new ones."""
        index = self._live
        passages = dict(self._state["passages"])
        added = [self.store.document_embeddings(document) for document in todo.add]
        old = [pid for document in todo.remove for pid in _expand(passages.pop(document, []))]
        with self._editing.writing():
            if old:
                index.remove_ids(faiss.IDSelectorBatch(vector_ids_of(np.array(old))))
            for ids, vectors in added:
                if len(ids):
                    index.add_with_ids(vectors, ids)
        for document, (ids, _) in zip(todo.add, added, strict=True):
            passages[document] = _runs(sorted({int(i) >> VECTOR_ID_BITS for i in ids}))
        state = dict(self._state, generation=generation, documents=current, passages=passages)
        self._save(index, state)
        self._use(index, state)

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
        held = set(held_ids(index).tolist())
        wanted = set(self.store.vector_ids().tolist())
        if held == wanted:
            return []
        return [
            f"The vector index holds {len(held)} vectors, but the store has {len(wanted)} "
            f"(passages and their sentences; {len(wanted - held)} missing from the index, "
            f"{len(held - wanted)} not in the store) at the same generation {current}: the store "
            f"was changed without a generation bump; {rebuild}."
        ]

    def _save(self, index: faiss.Index, state: dict) -> None:
        # Write to temporary names, then rename: a crash never leaves a half-written index. The
        # names are this process's own, as several server processes may save at once.
        tmp_index = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp_info = self.info_path.with_name(f"{self.info_path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            faiss.write_index(index, str(tmp_index))
            tmp_info.write_text(json.dumps(dict(state, count=index.ntotal)))
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
        selector = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        if kind_of(index) == "ivf":
            # From the list count, not the saved index's setting: a file saved before the
            # rule changed searches by the rule too.
            params = faiss.SearchParametersIVF(
                sel=selector, nprobe=probes(faiss.extract_index_ivf(index).nlist)
            )
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        # Several vectors per passage: fetch more, then keep each passage's best.
        with self._editing.reading():
            wanted = min(k * VECTORS_PER_PASSAGE, index.ntotal)
            scores, ids = index.search(query, wanted, params=params)
        # Each passage's first (best) vector, in order: numpy, not a loop over the 800 hits.
        found = ids[0] >= 0
        passages = ids[0][found] >> VECTOR_ID_BITS
        _, first = np.unique(passages, return_index=True)
        first = np.sort(first)[:k]
        return list(zip(passages[first].tolist(), scores[0][found][first].tolist(), strict=True))


def _runs(ids) -> list[int]:
    """Sorted ids as flat [first, last, first, last, ...] runs of consecutive ids (a document's
    passages are nearly always one run, so the saved state stays small)."""
    out: list[int] = []
    for pid in ids:
        if out and pid == out[-1] + 1:
            out[-1] = pid
        else:
            out.extend((pid, pid))
    return out


def _expand(runs: list[int]) -> list[int]:
    pairs = zip(runs[::2], runs[1::2], strict=True)
    return [pid for first, last in pairs for pid in range(first, last + 1)]
