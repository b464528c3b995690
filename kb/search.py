"""The knowledge base facade: hybrid search over the store and the vector index.

Semantic (FAISS, kb.index) and keyword (bm25: the store's FTS5 / tsvector, or from
`keyword_index_from` passages on the tantivy index, kb.keyword_index) rankings are fused by
reciprocal rank fusion, filtered by document kind, tag, id and year, near-duplicates
(overlapping passages) are collapsed, and each hit carries its highlights and citations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kb.catalog import KINDS
from kb.citations import cite
from kb.citations import permalink
from kb.embedder import Embedder
from kb.embedder import QueryCache
from kb.errors import QueryError
from kb.figure_questions import asked_figures
from kb.figure_questions import states_figure
from kb.highlight import highlight
from kb.index import DEFAULT_APPROXIMATE_FROM
from kb.index import VectorIndex
from kb.keyword_index import DEFAULT_KEYWORD_INDEX_FROM
from kb.keyword_index import KeywordIndex
from kb.keyword_index import keyword_index_path
from kb.late_interaction import DEFAULT_CACHE_BYTES
from kb.late_interaction import DEFAULT_LATE_INTERACTION_UP_TO
from kb.late_interaction import PieceCache
from kb.late_interaction import kept_at
from kb.late_interaction import maxsim
from kb.matching import match_level
from kb.models import Hit
from kb.models import Passage
from kb.models import SearchFilters
from kb.query import clean_query
from kb.query import query_terms
from kb.sources import is_reference_section
from kb.store import Store

MODES = ("hybrid", "semantic", "keyword")
_WORD = re.compile(r"\w+")
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
    # "No close match": the best cosine between the query and any passage or sentence vector
    # (within the filters) below `none_below` says nothing answers; below `good_from`, "weak".
    none_below: float = 0.40
    good_from: float = 0.5
    # A figure-asking query ("how much", "what share", "when") multiplies the fused score of a
    # passage stating a figure of the asked kind by 1 + figure_boost.
    figure_boost: float = 0.2
    # Score fusion on top of rank fusion: each candidate adds cosine_weight times its cosine
    # to the query (the best of its own and its sentences' vectors).
    cosine_weight: float = 0.15
    # Diversity: at most `per_document` of the first `diverse_top` hits from one document,
    # unless the search is filtered to one document.
    per_document: int = 2
    diverse_top: int = 5
    # ... unless that share of the best 2 * diverse_top candidates comes from one document (the
    # query is about it, as if filtered to it); 0 caps always.
    focus_share: float = 0.9
    # Late interaction (kb.late_interaction): the best `late_top` candidates add late_weight
    # times their MaxSim with the query, when the store holds all their word-piece vectors.
    late_weight: float = 0.8
    late_top: int = 20


@dataclass(frozen=True)
class SearchResult:
    """The hits of one search and how closely the best of them matches the query.

    Attributes:
        hits: best first.
        match: "good", "weak" or "none" (nothing in the corpus is close; the hits are only the
            nearest passages).
        similarity: the best cosine between the query and any vector searched.
    """

    hits: list[Hit]
    match: str
    similarity: float


class KnowledgeBase:
    """Search and read the evidence.

    Args:
        store: the passage store (source of truth).
        embedder: turns queries into vectors; must be the model the store was built with.
        index_path: where the FAISS cache lives (the keyword index's folder, `keywords`, is
            beside it).
        settings: fusion settings.
        approximate_from: vectors (not passages: a passage has its own and one per sentence)
            from which FAISS search is approximate (kb.index).
        keyword_index_from: passages from which keyword search uses the tantivy index
            (kb.keyword_index) instead of the store's own.
        late_interaction_up_to: the most passages a store may hold for the late-interaction
            stage to run (kb.late_interaction; a larger store keeps no word-piece vectors).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        index_path: Path,
        settings: SearchSettings | None = None,
        approximate_from: int = DEFAULT_APPROXIMATE_FROM,
        keyword_index_from: int = DEFAULT_KEYWORD_INDEX_FROM,
        late_interaction_up_to: int = DEFAULT_LATE_INTERACTION_UP_TO,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.queries = QueryCache(embedder)
        self.index = VectorIndex(store, index_path, approximate_from)
        self.keywords = KeywordIndex(store, keyword_index_path(index_path))
        self.keyword_index_from = keyword_index_from
        self.late_interaction_up_to = late_interaction_up_to
        self.pieces = PieceCache(lambda ids: self.store.piece_vectors(ids), DEFAULT_CACHE_BYTES)
        self._passages = (-1, 0)  # (generation, passage count): counting 1M rows is not free
        self._tags: tuple[int, frozenset[str]] = (-1, frozenset())  # (generation, tags in use)
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
        if self.uses_keyword_index():
            self.keywords.ensure_fresh()

    def uses_keyword_index(self) -> bool:
        """Whether keyword search goes to the tantivy index (a large store) or the store."""
        return self._passage_count()[1] >= self.keyword_index_from

    def _check_filters(self, filters: SearchFilters) -> None:
        """One sentence for a filter value that names nothing here (a typo in a link or a
        widget's settings), instead of an empty result that reads as "no evidence"."""
        unknown = [kind for kind in filters.kinds if kind not in KINDS]
        if unknown:
            raise QueryError(
                f"There is no kind of document called {unknown[0][:40]!r}; "
                f"use one of {', '.join(KINDS)}."
            )
        if filters.documents:
            found = self.store.documents_by_id(filters.documents)
            missing = [d for d in filters.documents if d not in found]
            if missing:
                raise QueryError(
                    f"There is no document with id {missing[0][:60]!r}; `kb list` and "
                    f"/api/documents list them."
                )
        if filters.tags:
            known = self._tags_in_use()
            missing = [tag for tag in filters.tags if tag not in known]
            if missing:
                shown = ", ".join(sorted(known)[:30]) or "none yet"
                raise QueryError(
                    f"No document is tagged {missing[0][:40]!r}; tags in use: {shown}."
                )

    def _tags_in_use(self) -> frozenset[str]:
        """Every document's tags, read again only when the store's generation moved."""
        generation = self.store.generation()
        if self._tags[0] != generation:
            tags = {tag for document in self.store.list_documents() for tag in document.meta.tags}
            self._tags = (generation, frozenset(tags))
        return self._tags[1]

    def _passage_count(self) -> tuple[int, int]:
        """(generation, passage count), counted again only when the generation moved."""
        generation = self.store.generation()
        if self._passages[0] != generation:
            self._passages = (generation, self.store.count_passages())
        return self._passages

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The k best passages for a query (see find), without the match level."""
        return self.find(query, k, filters, mode).hits

    def find(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
    ) -> SearchResult:
        """The k best passages for a query, with highlights and citations, and whether any
        passage is a close match.

        Args:
            query: any text; raises QueryError when empty or too long.
            k: how many hits, 1 to 50.
            filters: restrict to kinds, tags, documents and a year range.
            mode: "hybrid" (default), "semantic" or "keyword".

        Returns:
            The hits, best first, and the match level.
        """
        query = clean_query(query)
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, not {k}.")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, not {mode!r}.")
        filters = filters or SearchFilters()
        self._check_filters(filters)
        if self.search_guard is not None:
            self.search_guard()
        terms = query_terms(query)
        n = max(self.settings.candidates, k * 3)
        # Candidates are fetched twice over and a document's reference list (its Sources
        # section: one short passage per source) is dropped before fusion, not after: such
        # passages match many queries and would otherwise take the places of citable ones.
        nearest = self._semantic(query, 2 * n, filters)
        keyword = self._keyword(terms, 2 * n, filters) if mode in ("hybrid", "keyword") else []
        passages = self._fetch_candidates([pid for pid, _ in nearest], keyword, n=n)
        # A passage that another process replaced since the index was read is gone: skip it.
        citable = {
            pid for pid, passage in passages.items() if not is_reference_section(passage.section)
        }
        nearest = [(pid, cosine) for pid, cosine in nearest if pid in citable][:n]
        rankings: dict[str, list[int]] = {}
        # The semantic ranking also measures how close the corpus comes, in every mode.
        if mode in ("hybrid", "semantic"):
            rankings["semantic"] = [pid for pid, _ in nearest]
        if mode in ("hybrid", "keyword"):
            rankings["keyword"] = [pid for pid in keyword if pid in citable][:n]
        # The stages beyond rank fusion belong to the default (hybrid) search; the single modes
        # stay one signal each, to compare against.
        fused = self._fuse(rankings, dict(nearest) if mode == "hybrid" else {})
        similarity = nearest[0][1] if nearest else 0.0
        ranked = [(passages[pid], score) for pid, score in fused]
        if mode == "hybrid":
            ranked = self._prefer_figures(query, ranked)
        # Whether the query is about one document is judged before late interaction: MaxSim
        # lifts a document's passages that repeat the query's words together, which would
        # lift the one-document cap for a general query ("savings from back office sharing").
        per_document = self.settings.per_document
        if len(filters.documents) == 1 or self._about_one_document(ranked):
            per_document = 0
        if mode == "hybrid":
            ranked = self._late_interaction(query, ranked)
        chosen = collapse_overlaps(ranked, k, per_document, self.settings.diverse_top)
        hits = self._hits(chosen, terms, rankings)
        level = match_level(similarity, self.settings.none_below, self.settings.good_from)
        return SearchResult(hits, level, round(similarity, 4))

    def _fetch_candidates(self, *rankings: list[int], n: int) -> dict[int, Passage]:
        """The passages the rankings' first n citable candidates need. Each ranking's first n
        are read; the rest of a ranking only when one of those is not citable (a reference
        list's passage, or one removed since the index was read), which is rare: reading
        every candidate took twice the reads for the same hits (docs/performance.md)."""
        passages = self.store.passages_by_id(list({pid for ids in rankings for pid in ids[:n]}))
        short = [
            ids
            for ids in rankings
            if len(ids) > n
            and not all(
                pid in passages and not is_reference_section(passages[pid].section)
                for pid in ids[:n]
            )
        ]
        rest = {pid for ids in short for pid in ids[n:]} - passages.keys()
        if rest:
            passages.update(self.store.passages_by_id(list(rest)))
        return passages

    def _about_one_document(self, ranked: list[tuple[Passage, float]]) -> bool:
        """Whether the search itself says the query is about one document: that document
        holds at least `focus_share` of the best 2 * diverse_top candidates."""
        if not self.settings.focus_share:
            return False
        window = [passage.document_id for passage, _ in ranked[: 2 * self.settings.diverse_top]]
        if not window:
            return False
        top = max(set(window), key=window.count)
        return window.count(top) >= self.settings.focus_share * len(window)

    def _prefer_figures(
        self, query: str, ranked: list[tuple[Passage, float]]
    ) -> list[tuple[Passage, float]]:
        """Move passages stating the asked kind of figure up (see kb.figure_questions)."""
        kinds = asked_figures(query)
        if not kinds or not self.settings.figure_boost:
            return ranked
        factor = 1.0 + self.settings.figure_boost
        boosted = [
            (passage, score * factor if states_figure(passage.text, kinds) else score)
            for passage, score in ranked
        ]
        return sorted(boosted, key=lambda item: (-item[1], item[0].id))

    def _late_interaction(
        self, query: str, ranked: list[tuple[Passage, float]]
    ) -> list[tuple[Passage, float]]:
        """Add late_weight x MaxSim to the best late_top candidates' scores (the stage's cost
        and figures: docs/evaluation.md); unchanged when the store is past
        late_interaction_up_to passages, the embedder gives no word pieces, or any of those
        candidates has none stored (a store from before them, or one that keeps none)."""
        generation, count = self._passage_count()
        if not (
            self.settings.late_weight and ranked and kept_at(count, self.late_interaction_up_to)
        ):
            return ranked
        rows = self.queries.query_pieces(query)
        if rows is None:
            return ranked
        head, tail = ranked[: self.settings.late_top], ranked[self.settings.late_top :]
        ids = [passage.id for passage, _ in head]
        stored = self.pieces.get(ids, generation, rows.shape[1])
        if len(stored) < len(head):
            return ranked
        scores = maxsim(rows, [stored[pid] for pid in ids])
        rescored = [
            (passage, score + self.settings.late_weight * float(late))
            for (passage, score), late in zip(head, scores, strict=True)
        ]
        rescored.sort(key=lambda item: (-item[1], item[0].id))
        return rescored + tail

    def _semantic(self, query: str, n: int, filters: SearchFilters) -> list[tuple[int, float]]:
        vector = self.queries.embed_query(query)
        allowed = None
        if not filters.is_empty():
            allowed = self.store.vector_ids_matching(filters)
        return self.index.search(vector, n, allowed)

    def _keyword(self, terms: list[str], n: int, filters: SearchFilters) -> list[int]:
        if self.uses_keyword_index():
            return [pid for pid, _ in self.keywords.search(terms, n, filters)]
        return [pid for pid, _ in self.store.keyword_search(terms, n, filters)]

    def _fuse(
        self, rankings: dict[str, list[int]], cosines: dict[int, float]
    ) -> list[tuple[int, float]]:
        """Reciprocal rank fusion: each mode adds weight / (rrf_k + rank); then each candidate
        adds cosine_weight times its cosine (the lowest one seen when it has none)."""
        weights = {
            "semantic": self.settings.semantic_weight,
            "keyword": self.settings.keyword_weight,
        }
        scores: dict[int, float] = {}
        for mode, ids in rankings.items():
            for rank, pid in enumerate(ids, start=1):
                scores[pid] = scores.get(pid, 0.0) + weights[mode] / (self.settings.rrf_k + rank)
        if self.settings.cosine_weight and cosines:
            floor = min(cosines.values())
            for pid in scores:
                scores[pid] += self.settings.cosine_weight * cosines.get(pid, floor)
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
    ranked: list[tuple[Passage, float]],
    k: int,
    per_document: int = 2,
    diverse_top: int = 5,
    min_overlap: float = 0.5,
) -> list[tuple[Passage, float]]:
    """Keep the best of near-duplicate passages (see near_duplicate) until k are kept.

    With per_document > 0, no more than that many of the first `diverse_top` kept passages come
    from one document: the others wait and follow in their order after the top.
    """
    top: list[tuple[Passage, float]] = []
    rest: list[tuple[Passage, float]] = []
    window = min(diverse_top, k) if per_document else k
    per_doc: dict[str, int] = {}
    for passage, score in ranked:
        if any(near_duplicate(passage, other, min_overlap) for other, _ in top + rest):
            continue
        if len(top) < window and (
            not per_document or per_doc.get(passage.document_id, 0) < per_document
        ):
            top.append((passage, score))
            per_doc[passage.document_id] = per_doc.get(passage.document_id, 0) + 1
        else:
            rest.append((passage, score))
        if len(top) == window and len(top) + len(rest) >= k:
            break
    return (top + rest)[:k]


def near_duplicate(a: Passage, b: Passage, min_overlap: float = 0.5) -> bool:
    """The same passage, mostly the same words (in any two documents: a case study quoting a
    report), or mostly the same characters of one document (the splitter's overlap makes
    neighbouring passages share a sentence)."""
    if a.id == b.id:
        return True
    # The character test first: it is a few comparisons, the word test is not.
    if a.document_id == b.document_id:
        shared = min(a.char_end, b.char_end) - max(a.char_start, b.char_start)
        shorter = min(a.char_end - a.char_start, b.char_end - b.char_start)
        if shorter > 0 and shared / shorter >= min_overlap:
            return True
    return same_words(a.text, b.text)


# Two passages of which most word triples (of the shorter) recur in the other say the same thing
# in the same words. Short texts are compared whole: a triple or two is no evidence.
SAME_WORDS_SHARE = 0.8
_MIN_SHINGLED_WORDS = 8


def same_words(a: str, b: str) -> bool:
    """Whether two texts are the same words, allowing small edits in longer ones."""
    if a == b:
        return True
    words_a, shingles_a = _shingled(a)
    words_b, shingles_b = _shingled(b)
    if words_a == words_b:
        return True
    if min(len(words_a), len(words_b)) < _MIN_SHINGLED_WORDS:
        return False
    shared = len(shingles_a & shingles_b)
    return shared >= SAME_WORDS_SHARE * min(len(shingles_a), len(shingles_b))


@lru_cache(maxsize=4096)
def _shingled(text: str) -> tuple[tuple[str, ...], frozenset[tuple[str, ...]]]:
    """A text's words (lower case) and its word triples. Cached by the text, whose hash Python
    keeps, where a cache keyed by the words hashed them all again at every comparison."""
    words = tuple(_WORD.findall(text.lower()))
    return words, frozenset(zip(words, words[1:], words[2:], strict=False))
