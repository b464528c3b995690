"""Matching a search query to the nearest myth, with the myths' vectors computed once."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.embedder import Embedder
from kb.errors import NotFound
from kb.myths.evidence import myth_evidence
from kb.myths.evidence import other_side_evidence
from kb.myths.models import MATCH_THRESHOLD
from kb.myths.models import Evidence
from kb.myths.models import Myth
from kb.myths.quotes import load_myths
from kb.nearest import Nearest
from kb.nearest import group_vectors

if TYPE_CHECKING:
    from kb.search import KnowledgeBase


def myth_texts(myth: Myth) -> list[str]:
    """The texts whose embeddings make a myth's vector: the claim, then each search query."""
    return [myth.claim, *myth.queries]


class MythBook:
    """The myths for one knowledge base, with their embeddings computed once, on first use.

    A web app keeps one in `app.extensions`; it is safe to share between threads.

    Args:
        kb: the knowledge base whose embedder and passages are used.
        myths: the myths, as `load_myths` returns them.
    """

    def __init__(self, kb: KnowledgeBase, myths: Sequence[Myth]) -> None:
        self.kb = kb
        self.myths = list(myths)
        self._by_id = {myth.id: myth for myth in self.myths}
        self._nearest = Nearest(kb, self.myths, myth_texts)

    @classmethod
    def from_file(cls, kb: KnowledgeBase, path: Path) -> MythBook:
        return cls(kb, load_myths(path))

    def __iter__(self) -> Iterator[Myth]:
        return iter(self.myths)

    def __len__(self) -> int:
        return len(self.myths)

    def get(self, myth_id: str) -> Myth:
        """The myth with that id; raises NotFound."""
        try:
            return self._by_id[myth_id]
        except KeyError:
            raise NotFound(f"There is no myth with id {myth_id!r}.") from None

    def evidence(self, myth: Myth | str, k: int = 8) -> list[Evidence]:
        """`myth_evidence` for a myth or its id."""
        return myth_evidence(self.kb, self.get(myth) if isinstance(myth, str) else myth, k)

    def other_side(self, myth: Myth | str) -> list[Evidence]:
        """`other_side_evidence` for a myth or its id: what a supporter of the claim will say."""
        found = self.get(myth) if isinstance(myth, str) else myth
        return other_side_evidence(self.kb.store, found)

    def similarities(self, query: str) -> list[tuple[Myth, float]]:
        """Every myth with its cosine similarity to the query, closest first."""
        return self._nearest.similarities(query)

    def match(self, query: str, threshold: float = MATCH_THRESHOLD) -> tuple[Myth, float] | None:
        """The myth closest to the query and its similarity, or None below the threshold."""
        return self._nearest.match(query, threshold)


def myth_vectors(embedder: Embedder, myths: Sequence[Myth]) -> np.ndarray:
    """Each myth as the normalised mean of the embeddings of its claim and its queries."""
    return group_vectors(embedder, [myth_texts(myth) for myth in myths])


_books: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def match_myth(
    kb: KnowledgeBase,
    query: str,
    threshold: float = MATCH_THRESHOLD,
    *,
    myths: Sequence[Myth],
) -> tuple[Myth, float] | None:
    """The myth closest to a query, with its cosine similarity, or None below the threshold.

    The myths' embeddings are cached per knowledge base and list of myths; a long-lived caller
    can hold a MythBook instead.
    """
    key = tuple(myths)
    with _books_lock:
        books = _books.setdefault(kb, {})
        book = books.get(key)
        if book is None:
            book = books[key] = MythBook(kb, key)
    return book.match(query, threshold)


# -- JSON shapes ------------------------------------------------------------------------------
