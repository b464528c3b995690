"""Hybrid search: ranking, filters, hostile queries, highlights and citations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import both_backends
from conftest import build_corpus

from kb.errors import QueryError
from kb.models import DocumentMeta
from kb.models import SearchFilters
from kb.search import KnowledgeBase
from kb.search import SearchSettings

pytestmark = both_backends

HOSTILE = [
    '"',
    "'",
    '"unbalanced quote',
    "AND",
    "OR OR",
    "NOT savings",
    "NEAR(savings office, 2)",
    "savings*",
    "*",
    "-savings",
    "savings -office",
    "(savings",
    "savings)",
    "[x]",
    "{y}",
    "col:savings",
    "^savings",
    "😀 savings 🚀",
    "savings\x00office",  # a NUL among words (a query of only NUL is empty: QueryError)
    "\\",
    "%_",
    "' OR 1=1 --",
    "savings " * 250,
    "é à ü savings",
    "1.8%",
    "£4.6m",
]


def test_the_answer_comes_first(kb):
    # Rank fusion alone: the bag-of-words stand-in's cosines favour the shortest passage sharing
    # words, so the cosine term is left out here; test_search_model ranks with the real model.
    kb.settings = SearchSettings(cosine_weight=0.0)
    hits = kb.search("savings from back office sharing", k=3)
    assert "1.8%" in hits[0].passage.text
    assert hits[0].citation.short == (
        "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4, Executive summary"
    )
    assert hits[0].url == "/documents/report-a#p0"


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(kb, query):
    hits = kb.search(query[:2000], k=5)
    assert isinstance(hits, list)


def test_a_query_of_2000_characters_works(kb):
    assert kb.search(("savings " * 300)[:2000], k=5)


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_error(kb, query):
    with pytest.raises(QueryError, match="empty"):
        kb.search(query)


def test_too_long_and_bad_k_are_clear_errors(kb):
    with pytest.raises(QueryError, match="limit is 2000"):
        kb.search("x" * 2001)
    with pytest.raises(QueryError, match="k must be between 1 and 50"):
        kb.search("savings", k=0)
    with pytest.raises(QueryError, match="mode"):
        kb.search("savings", mode="magic")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(kinds=("case-study",)), {"somerset", "tayside"}),
        (SearchFilters(tags=("tayside",)), {"tayside"}),
        (SearchFilters(documents=("somerset",)), {"somerset"}),
        (SearchFilters(year_from=2013), {"somerset", "tayside"}),
        (SearchFilters(year_to=2012), {"report-a"}),
        (SearchFilters(kinds=("report",), tags=("tayside",)), set()),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_filters(kb, filters, expected, mode):
    hits = kb.search("council joint committee savings payments", k=10, filters=filters, mode=mode)
    assert {h.document.id for h in hits} <= expected
    if expected and mode != "keyword":
        assert {h.document.id for h in hits} == expected


@pytest.mark.parametrize(
    ("filters", "says"),
    [
        (SearchFilters(kinds=("reports",)), "There is no kind of document called 'reports'"),
        (SearchFilters(documents=("somerset", "somerst")), "no document with id 'somerst'"),
        (SearchFilters(tags=("taysde",)), "No document is tagged 'taysde'; tags in use: "),
    ],
)
def test_a_filter_naming_nothing_here_is_one_sentence_not_an_empty_result(kb, filters, says):
    with pytest.raises(QueryError, match=says):
        kb.search("savings", filters=filters)


def test_a_tag_given_to_a_document_later_can_be_searched_at_once(kb):
    with pytest.raises(QueryError, match="No document is tagged 'arms-length'"):
        kb.search("savings", filters=SearchFilters(tags=("arms-length",)))
    tayside = kb.store.get_document("tayside").meta
    kb.store.update_metadata(replace(tayside, tags=(*tayside.tags, "arms-length")))
    hits = kb.search("savings", filters=SearchFilters(tags=("arms-length",)))
    assert {h.document.id for h in hits} == {"tayside"}


def test_hits_carry_highlights_of_the_best_sentence_and_terms(kb):
    hit = kb.search("duplicate payments", k=1)[0]
    text = hit.passage.text
    sentence = [s for s in hit.highlights if s.kind == "sentence"]
    terms = {text[s.start : s.end].lower() for s in hit.highlights if s.kind == "term"}
    assert len(sentence) == 1
    assert "£4.6m" in text[sentence[0].start : sentence[0].end]
    assert terms == {"duplicate", "payments"}


def test_citation_without_page_names_the_section(kb):
    hit = kb.search("Tayside joint committee", k=1)[0]
    assert hit.citation.short == (
        "Shared Services Evidence Base (2026) *Tayside Contracts*, Governance"
    )
    assert hit.passage.page is None


def test_overlapping_passages_are_collapsed(kb, store):
    from kb.search import collapse_overlaps

    passages = store.passages_of("report-a")
    # Two passages of the same document over the same characters count once.
    twin = passages[0].__class__(**{**passages[0].__dict__, "id": 999, "char_end": 80})
    kept = collapse_overlaps([(passages[0], 1.0), (twin, 0.9), (passages[1], 0.8)], k=3)
    assert [p.id for p, _ in kept] == [passages[0].id, passages[1].id]


def test_repeated_queries_are_served_from_the_cache(kb):
    kb.search("failure demand", k=2)
    misses = kb.queries.misses
    kb.search("failure demand", k=2)
    assert kb.queries.misses == misses
    assert kb.queries.hits >= 1


def test_new_documents_are_seen_without_a_restart(kb, store, embedder):
    from conftest import build_corpus

    from kb.models import DocumentMeta

    assert not kb.search("Inverclyde consultancy fees", k=3, mode="keyword")
    extra = [
        (
            DocumentMeta("inverclyde", "Inverclyde", "P", 2026, "case-study"),
            [("Inverclyde paid consultancy fees of £650k.", None, "Fees")],
        )
    ]
    build_corpus(store, embedder, extra)
    assert kb.search("Inverclyde consultancy fees", k=1)[0].document.id == "inverclyde"


def test_reference_lists_give_their_places_to_citable_passages(store, embedder, settings):
    """A document's reference list matches many queries but is never a hit: when such passages
    are a ranking's first candidates, the candidates after them take their places (the search
    reads those only then)."""
    meta = DocumentMeta("refs", "Council report", "Council", 2020, "report")
    sources = [(f"Waste collection costs {i}.", None, "Report > Sources") for i in range(3)]
    costs = [
        (f"Waste collection costs rose in {i} by a lot.", str(i), "Findings") for i in range(3)
    ]
    build_corpus(store, embedder, [(meta, sources + costs)])
    # k = 1: 3 candidates a ranking, and the three best of each are the reference list's.
    kb = KnowledgeBase(store, embedder, settings.index_path, SearchSettings(candidates=1))
    for mode in ("hybrid", "semantic", "keyword"):
        hits = kb.search("waste collection costs", k=1, mode=mode)
        assert [hit.passage.section for hit in hits] == ["Findings"], mode
