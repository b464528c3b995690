"""The knowledge base facade: hybrid search over the store and the vector index.

Semantic (FAISS) and keyword (FTS5 bm25) rankings are fused by reciprocal rank fusion, filtered
by document kind, tag, id and year, near-duplicates (overlapping passages) are collapsed, and
each hit carries its highlights and citations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.citations import cite
from kb.citations import permalink
from kb.embedder import Embedder
from kb.embedder import QueryCache
from kb.errors import QueryError
from kb.highlight import highlight
from kb.index import DEFAULT_HNSW_THRESHOLD
from kb.index import VectorIndex
from kb.models import Hit
from kb.models import Passage
from kb.models import SearchFilters
from kb.query import clean_query
from kb.query import fts_match
from kb.query import query_terms
from kb.sources import is_reference_section
from kb.store import Store
from kb.store import document_filter_sql

MODES = ("hybrid", "semantic", "keyword")
MAX_K = 50


@dataclass(frozen=True)
class SearchSettings:
    """How the two rankings are combined; defaults measured in docs/evaluation.md.

    Attributes:
        candidates: how many hits each mode contributes before fusion.
        rrf_k: the reciprocal-rank-fusion constant (larger flattens the rank curve).
        semantic_weight / keyword_weight: each mode's share of the fused score.
    """

    candidates: int = 50
    rrf_k: int = 10
    semantic_weight: float = 1.0
    keyword_weight: float = 1.75


class KnowledgeBase:
    """Search and read the evidence.

    Args:
        store: the passage store (source of truth).
        embedder: turns queries into vectors; must be the model the store was built with.
        index_path: where the FAISS cache lives.
        settings: fusion settings.
        hnsw_threshold: passage count from which the index is approximate (HNSW).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        index_path: Path,
        settings: SearchSettings | None = None,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.queries = QueryCache(embedder)
        self.index = VectorIndex(store, index_path, hnsw_threshold)
        self.settings = settings or SearchSettings()
        # Called before each search's work (the web app counts searches against its rate
        # limit here, and may raise to refuse one); None: no check.
        self.search_guard: Callable[[], None] | None = None

    def warm_up(self) -> None:
        """Load the model and the index now, so the first request does not stall."""
        load = getattr(self.embedder, "load", None)
        if load:
            load()
        self.queries.embed_query("warm up")
        self.index.ensure_fresh()

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The k best passages for a query, with highlights and citations.

        Args:
            query: any text; raises QueryError when empty or too long.
            k: how many hits, 1 to 50.
            filters: restrict to kinds, tags, documents and a year range.
            mode: "hybrid" (default), "semantic" or "keyword".

        Returns:
            Hits, best first.
        """
        query = clean_query(query)
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, not {k}.")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, not {mode!r}.")
        filters = filters or SearchFilters()
        if self.search_guard is not None:
            self.search_guard()
        terms = query_terms(query)
        n = max(self.settings.candidates, k * 3)
        rankings: dict[str, list[int]] = {}
        if mode in ("hybrid", "semantic"):
            rankings["semantic"] = self._semantic(query, n, filters)
        if mode in ("hybrid", "keyword"):
            rankings["keyword"] = self._keyword(terms, n, filters)
        fused = self._fuse(rankings)
        passages = self.store.passages_by_id([pid for pid, _ in fused])
        # A passage that another process replaced since the index was read is gone: skip it.
        ranked = [
            (passages[pid], score)
            for pid, score in fused
            if pid in passages and not is_reference_section(passages[pid].section)
        ]
        chosen = collapse_overlaps(ranked, k)
        return self._hits(chosen, terms, rankings)

    def _semantic(self, query: str, n: int, filters: SearchFilters) -> list[int]:
        vector = self.queries.embed_query(query)
        allowed = None
        if not filters.is_empty():
            allowed = self.store.vector_ids_matching(
                kinds=filters.kinds,
                tags=filters.tags,
                documents=filters.documents,
                year_from=filters.year_from,
                year_to=filters.year_to,
            )
        return [pid for pid, _ in self.index.search(vector, n, allowed)]

    def _keyword(self, terms: list[str], n: int, filters: SearchFilters) -> list[int]:
        match = fts_match(terms)
        if match is None:
            return []
        where, params = document_filter_sql(
            filters.kinds, filters.tags, filters.documents, filters.year_from, filters.year_to
        )
        return [pid for pid, _ in self.store.keyword_search(match, n, where, params)]

    def _fuse(self, rankings: dict[str, list[int]]) -> list[tuple[int, float]]:
        """Reciprocal rank fusion: each mode adds weight / (rrf_k + rank)."""
        weights = {
            "semantic": self.settings.semantic_weight,
            "keyword": self.settings.keyword_weight,
        }
        scores: dict[int, float] = {}
        for mode, ids in rankings.items():
            for rank, pid in enumerate(ids, start=1):
                scores[pid] = scores.get(pid, 0.0) + weights[mode] / (self.settings.rrf_k + rank)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))

    def _hits(
        self,
        chosen: list[tuple[Passage, float]],
        terms: list[str],
        rankings: dict[str, list[int]],
    ) -> list[Hit]:
        documents = self.store.documents_by_id(p.document_id for p, _ in chosen)
        positions = {
            mode: {pid: rank for rank, pid in enumerate(ids, start=1)}
            for mode, ids in rankings.items()
        }
        hits = []
        for passage, score in chosen:
            document = documents.get(passage.document_id)
            if document is None:
                continue  # removed by another process between the two reads
            ranks = {m: pos[passage.id] for m, pos in positions.items() if passage.id in pos}
            hits.append(
                Hit(
                    passage=passage,
                    document=document,
                    score=round(score, 6),
                    citation=cite(document, passage),
                    url=permalink(passage),
                    highlights=highlight(passage.text, terms),
                    ranks=ranks,
                )
            )
        return hits

    def similar_to_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Passages nearest a vector (for myth matching), as (passage id, cosine)."""
        return self.index.search(vector, k)


def collapse_overlaps(
    ranked: list[tuple[Passage, float]], k: int, min_overlap: float = 0.5
) -> list[tuple[Passage, float]]:
    """Keep the best of near-duplicate passages (see near_duplicate) until k are kept."""
    kept: list[tuple[Passage, float]] = []
    for passage, score in ranked:
        if any(near_duplicate(passage, other, min_overlap) for other, _ in kept):
            continue
        kept.append((passage, score))
        if len(kept) == k:
            break
    return kept


def near_duplicate(a: Passage, b: Passage, min_overlap: float = 0.5) -> bool:
    """The same passage, the same text, or mostly the same characters of one document (the
    splitter's overlap makes neighbouring passages share a sentence)."""
    if a.id == b.id or " ".join(a.text.lower().split()) == " ".join(b.text.lower().split()):
        return True
    if a.document_id != b.document_id:
        return False
    shared = min(a.char_end, b.char_end) - max(a.char_start, b.char_start)
    shorter = min(a.char_end - a.char_start, b.char_end - b.char_start)
    return shorter > 0 and shared / shorter >= min_overlap
