"""Which of a few items (myths, figures) a search query is about, by embedding similarity.

Each item is represented by the normalised mean of the embeddings of its texts (a myth's claim
and queries; a figure's description and queries), computed once, on first use. The mean scored
better than a single text for the myths (docs/myths.md): one search query alone is close to
factual questions the item does not answer, while the mean keeps its overall sense.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Sequence
from typing import Generic
from typing import TypeVar

import numpy as np

from kb.embedder import Embedder
from kb.embedder import normalise

T = TypeVar("T")


def group_vectors(embedder: Embedder, groups: Sequence[Sequence[str]]) -> np.ndarray:
    """One unit vector per group of texts: the normalised mean of the texts' embeddings."""
    flat = np.asarray(embedder.embed([t for group in groups for t in group]), dtype=np.float32)
    vectors = []
    start = 0
    for group in groups:
        vectors.append(flat[start : start + len(group)].mean(axis=0))
        start += len(group)
    return normalise(np.stack(vectors))


class Nearest(Generic[T]):
    """Items ranked by similarity to a query; safe to share between threads.

    Args:
        kb: the knowledge base whose embedder (and query cache) is used.
        items: the items.
        texts_of: an item's texts, whose mean embedding stands for it.
    """

    def __init__(self, kb, items: Sequence[T], texts_of: Callable[[T], Sequence[str]]) -> None:
        self.kb = kb
        self.items = list(items)
        self._texts_of = texts_of
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def similarities(self, query: str) -> list[tuple[T, float]]:
        """Every item with its cosine similarity to the query, closest first."""
        query = (query or "").strip()
        if not query or not self.items:
            return []
        scores = self.vectors() @ self.kb.queries.embed_query(query)
        order = np.argsort(-scores, kind="stable")
        return [(self.items[i], round(float(scores[i]), 4)) for i in order]

    def match(self, query: str, threshold: float) -> tuple[T, float] | None:
        """The closest item and its similarity, or None below the threshold."""
        ranked = self.similarities(query)
        if ranked and ranked[0][1] >= threshold:
            return ranked[0]
        return None

    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._vectors is None:
                groups = [list(self._texts_of(item)) for item in self.items]
                self._vectors = group_vectors(self.kb.embedder, groups)
            return self._vectors
