"""The figure book of one knowledge base: its figures, their evidence (cached until the store
changes) and which figure a search query is about."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import NotFound
from kb.figures.book import BookFigure
from kb.figures.book import load_figures
from kb.figures.matching import FigureEvidence
from kb.figures.matching import book_evidence
from kb.nearest import Nearest

if TYPE_CHECKING:
    from kb.search import KnowledgeBase

# Cosine similarity (all-MiniLM-L6-v2) from which a search query is taken to be about a figure,
# the figure's vector being the mean of its description's and its queries' embeddings.
# Measured with bench/figure_matching.py (docs/figures.md).
MATCH_THRESHOLD = 0.61


def figure_texts(figure: BookFigure) -> list[str]:
    """The texts whose embeddings make a figure's vector: what it measures, and its queries."""
    return [figure.measures, *figure.queries]


class FigureBook:
    """The figures for one knowledge base; safe to share between threads.

    The evidence of every figure (pinned sources, also stated in, possible disagreements) is
    computed together and kept until the store's generation changes (a document added,
    replaced or removed, here or in another process).
    """

    def __init__(
        self, kb: KnowledgeBase, figures: Sequence[BookFigure], **thresholds: float
    ) -> None:
        self.kb = kb
        self._thresholds = thresholds  # same_threshold, different_threshold (kb.figures.matching)
        self.figures = list(figures)
        self._by_id = {figure.id: figure for figure in self.figures}
        self._nearest = Nearest(kb, self.figures, figure_texts)
        self._lock = threading.Lock()
        self._cached: tuple[int, dict[str, FigureEvidence]] | None = None

    @classmethod
    def from_file(cls, kb: KnowledgeBase, path: Path, **thresholds: float) -> FigureBook:
        return cls(kb, load_figures(path), **thresholds)

    def __iter__(self) -> Iterator[BookFigure]:
        return iter(self.figures)

    def __len__(self) -> int:
        return len(self.figures)

    def get(self, figure_id: str) -> BookFigure:
        """The figure with that id; raises NotFound."""
        try:
            return self._by_id[figure_id]
        except KeyError:
            raise NotFound(f"There is no figure with id {figure_id!r}.") from None

    def evidence(self, figure: BookFigure | str) -> FigureEvidence:
        figure_id = figure if isinstance(figure, str) else figure.id
        self.get(figure_id)
        return self._all()[figure_id]

    def all_evidence(self) -> list[FigureEvidence]:
        found = self._all()
        return [found[figure.id] for figure in self.figures]

    def stated_in(self, passage_ids: Iterable[int]) -> list[FigureEvidence]:
        """The figures a book source pins in one of these passages (for a myth's page)."""
        wanted = set(passage_ids)
        return [
            evidence
            for evidence in self.all_evidence()
            if any(s.passage.id in wanted for s in evidence.pinned)
        ]

    def match(
        self, query: str, threshold: float = MATCH_THRESHOLD
    ) -> tuple[BookFigure, float] | None:
        """The figure a query is about, with its similarity, or None below the threshold."""
        return self._nearest.match(query, threshold)

    def similarities(self, query: str) -> list[tuple[BookFigure, float]]:
        return self._nearest.similarities(query)

    def _all(self) -> dict[str, FigureEvidence]:
        store = self.kb.store
        generation = store.generation()
        with self._lock:
            if self._cached is None or self._cached[0] != generation:
                with store.snapshot():
                    found = book_evidence(store, self.figures, **self._thresholds)
                self._cached = (generation, {e.figure.id: e for e in found})
            return self._cached[1]
