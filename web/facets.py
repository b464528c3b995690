"""Filter options with counts for the search page.

Choice: with a query, counts are taken over the result set of a wider search — the same query
and mode with k = MAX_K and *no* filters — so each option says how many of the best passages
for this question it would keep (the usual faceted-search reading, and it never shows an option
that would empty the page without saying so). Without a query, counts are passages in the
whole library. Selected values are always listed, with their count, so they can be unticked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kb.models import Document
from kb.models import Hit
from kb.models import SearchFilters


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Facet:
    """One group of checkboxes: `param` is the query-string name (kind, tag, doc)."""

    param: str
    legend: str
    options: list[Option]


def facets_from_hits(
    hits: Iterable[Hit], library: list[Document], filters: SearchFilters
) -> list[Facet]:
    """Facets counting the given hits (passages) per kind, tag and document."""
    return _facets([(hit.document, 1) for hit in hits], library, filters)


def facets_from_library(library: list[Document], filters: SearchFilters) -> list[Facet]:
    """Facets counting every passage in the library per kind, tag and document."""
    return _facets([(doc, doc.passage_count) for doc in library], library, filters)


def _facets(
    weighted: list[tuple[Document, int]], library: list[Document], filters: SearchFilters
) -> list[Facet]:
    kinds: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    docs: Counter[str] = Counter()
    for doc, weight in weighted:
        kinds[doc.meta.kind] += weight
        docs[doc.id] += weight
        for tag in doc.meta.tags:
            tags[tag] += weight
    titles = {doc.id: doc.meta.title for doc in library}
    return [
        Facet("kind", "Kind of document", _options(kinds, filters.kinds)),
        Facet("doc", "Document", _options(docs, filters.documents, titles)),
        Facet("tag", "Topic", _options(tags, filters.tags)),
    ]


def _options(
    counts: Counter[str], selected: tuple[str, ...], labels: dict[str, str] | None = None
) -> list[Option]:
    labels = labels or {}
    values = set(counts) | set(selected)
    ordered = sorted(values, key=lambda v: (-counts.get(v, 0), labels.get(v, v).lower()))
    return [Option(v, labels.get(v, v), counts.get(v, 0), v in selected) for v in ordered]
