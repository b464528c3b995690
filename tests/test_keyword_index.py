"""The tantivy keyword index: FTS5's ranking on the small corpus, filters, and updates applied
document by document from the store (never the source of truth)."""

from __future__ import annotations

import pytest
from conftest import SMALL_CORPUS
from conftest import build_corpus

from kb import derived
from kb.keyword_index import KeywordIndex
from kb.models import SearchFilters
from kb.query import query_terms
from kb.search import KnowledgeBase

QUERIES = [
    "back office savings",
    "duplicate payments",
    "joint committee councillors",
    "failure demand customer",
    "shared services",
]


@pytest.fixture
def keywords(store, embedder, tmp_path):
    build_corpus(store, embedder)
    return KeywordIndex(store, tmp_path / "keywords")


@pytest.mark.parametrize("query", QUERIES)
def test_same_passages_as_fts5(store, keywords, query):
    terms = query_terms(query)
    fts = [pid for pid, _ in store.keyword_search(terms, 10)]
    ours = [pid for pid, _ in keywords.search(terms, 10)]
    # The same matches; the order is BM25's in both, with tantivy's own length statistics
    # (the evaluation sets measure the ranking: docs/evaluation.md).
    assert set(ours) == set(fts)


def test_filters(store, keywords):
    terms = query_terms("council services savings payments committee")
    every = {pid for pid, _ in keywords.search(terms, 50)}
    for filters in (
        SearchFilters(kinds=("case-study",)),
        SearchFilters(documents=("tayside",)),
        SearchFilters(tags=("savings",)),
        SearchFilters(year_from=2020),
        SearchFilters(year_to=2012, kinds=("report",)),
    ):
        expected = {pid for pid, _ in store.keyword_search(terms, 50, filters)}
        got = {pid for pid, _ in keywords.search(terms, 50, filters)}
        assert got == expected, filters
        assert got < every


def test_upload_and_removal_edit_the_live_index(store, embedder, keywords):
    keywords.ensure_fresh()
    live = keywords._live
    meta, rows = SMALL_CORPUS[2]
    store.remove_document(meta.id)
    assert keywords.search(["tayside"], 10) == []
    build_corpus(store, embedder, [(meta, rows)])
    assert len(keywords.search(["tayside"], 10)) == 1
    assert keywords._live is live  # edited in place, not rebuilt
    store.update_metadata(meta.__class__(**{**meta.__dict__, "title": "Renamed Zebra"}))
    keywords.ensure_fresh(wait=True)  # a third of this tiny index: rebuilt beside it
    assert [pid for pid, _ in keywords.search(["zebra"], 10)] == [
        p.id for p in store.passages_of(meta.id)
    ]


def test_a_large_change_is_rebuilt_beside_the_live_index(store, embedder, keywords, monkeypatch):
    monkeypatch.setattr(derived, "BACKGROUND_FROM", 0)  # as if the store were large
    keywords.ensure_fresh()
    live = keywords._live
    for meta, _ in SMALL_CORPUS:
        store.remove_document(meta.id)
    build_corpus(store, embedder)  # every document replaced: more than REBUILD_SHARE
    assert keywords.ensure_fresh() is not None and keywords._live is live  # still answering
    keywords.ensure_fresh(wait=True)
    assert keywords._live is not live
    terms = query_terms("duplicate payments")
    assert {pid for pid, _ in keywords.search(terms, 10)} == {
        pid for pid, _ in store.keyword_search(terms, 10)
    }


def test_saved_index_is_reused_and_damage_rebuilt(store, keywords, tmp_path):
    keywords.ensure_fresh()
    again = KeywordIndex(store, tmp_path / "keywords")
    assert len(again) == store.count_passages()
    (tmp_path / "keywords" / "state.json").write_text("{not json")
    assert len(KeywordIndex(store, tmp_path / "keywords")) == store.count_passages()


def test_search_uses_it_from_the_threshold(store, embedder, tmp_path):
    build_corpus(store, embedder)
    small = KnowledgeBase(store, embedder, tmp_path / "a.faiss")
    large = KnowledgeBase(store, embedder, tmp_path / "b.faiss", keyword_index_from=1)
    assert not small.uses_keyword_index() and large.uses_keyword_index()
    for query in QUERIES:
        assert {h.passage.id for h in small.search(query, mode="keyword")} == {
            h.passage.id for h in large.search(query, mode="keyword")
        }
    assert not (tmp_path / "keywords").exists() or small.keywords._live is None
