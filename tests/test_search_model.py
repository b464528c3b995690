"""Real-model search tests (marked `model`) on the built-in default corpus: fusion beats each
single mode, the quality bar holds, and citations carry the printed page and section."""

from __future__ import annotations

import os

import pytest
from conftest import EVAL_QUERY_FILES
from conftest import ROOT
from conftest import ingest_catalog

from kb.citations import passage_pages
from kb.evaluation import evaluate
from kb.evaluation import flag_rates
from kb.evaluation import load_queries
from kb.models import SearchFilters
from kb.onnx_embedder import ExportedMiniLM
from kb.search import KnowledgeBase

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def corpus_kb(tmp_path_factory):
    """The real default corpus, ingested with the real model as `kb ingest` does (its ONNX
    export, which stores the word pieces: searches run the late-interaction stage)."""
    from kb.store import SqliteStore

    data = tmp_path_factory.mktemp("data")
    store = SqliteStore(data / "kb.sqlite3")
    embedder = ExportedMiniLM(data, threads=os.cpu_count() or 1, export_if_missing=True)
    ingest_catalog(store, embedder, data / "files")
    assert embedder.backend == "onnx"
    ids = [p.id for d in store.list_documents() for p in store.passages_of(d.id)]
    assert len(store.piece_vectors(ids)) == len(ids)
    return KnowledgeBase(store, ExportedMiniLM(data), data / "index.faiss")


@pytest.mark.parametrize("path", EVAL_QUERY_FILES, ids=lambda p: p.name)
def test_fusion_beats_each_single_mode(corpus_kb, path):
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared folder sits beside the project)")
    scores = {s.mode: s for s in evaluate(corpus_kb, load_queries(path), k=10)}
    hybrid = scores["hybrid"]
    assert hybrid.mrr > scores["semantic"].mrr, (hybrid.mrr, scores["semantic"].mrr)
    assert hybrid.mrr > scores["keyword"].mrr, (hybrid.mrr, scores["keyword"].mrr)
    # The quality bar of docs/evaluation.md, with a little room for model-version noise (the
    # held-out half of issue 15 is the hardest set: 0.769 / 0.974 / 0.860 on the corrected
    # corpus of issue 13, 0.808 / 0.962 / 0.870 on the corpus before it).
    assert hybrid.recall[1] >= 0.76, hybrid.misses
    assert hybrid.recall[5] >= 0.95, hybrid.misses
    assert hybrid.mrr >= 0.85, hybrid.misses


@pytest.mark.parametrize("half", ["tuning", "held-out"])
def test_off_topic_questions_are_flagged_and_answerable_ones_are_not(corpus_kb, half):
    rates = flag_rates(
        corpus_kb, load_queries(ROOT / "corpus" / "eval" / f"questions-{half}.jsonl")
    )
    assert rates.off_topic_none >= 0.9, rates.wrong
    assert rates.answerable_none <= 0.02, rates.wrong


def test_savings_from_sharing_shows_different_sources(corpus_kb):
    found = corpus_kb.find("savings from back office sharing", k=5)
    documents = [hit.document.id for hit in found.hits]
    assert len(set(documents)) >= 3, documents
    assert max(documents.count(d) for d in documents) <= 2, documents
    assert found.match == "good"


def test_the_rep_gets_the_answer_first_with_its_page(corpus_kb):
    hit = corpus_kb.search("savings from back office sharing", k=5)[0]
    assert "1.8%" in hit.passage.text
    assert hit.document.id == "front-line-starts-here"
    assert hit.citation.short == (
        "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4, Executive summary"
    )


@pytest.mark.parametrize(
    ("query", "phrase", "pages", "section"),
    [
        (
            "public service factories outdated approach",
            "public service factories",
            "pp. 9\u201311",  # the contents list places it only within pp. 9-11
            "Back office",
        ),
        (
            "economic multiplier of local authority spending",
            "£1.64",
            "p. 14",
            "Impact upon the local economy",
        ),
        (
            "Teckal exemption for contracts between public bodies",
            "Teckal",
            "p. 8",
            "Legal framework",
        ),
    ],
)
def test_citations_carry_the_printed_page_and_section(corpus_kb, query, phrase, pages, section):
    filters = SearchFilters(documents=("front-line-starts-here",))
    hits = corpus_kb.search(query, k=5, filters=filters)
    hit = next(
        h for h in hits if h.document.id == "front-line-starts-here" and phrase in h.passage.text
    )
    assert passage_pages(hit.passage) == pages
    assert hit.passage.section.rsplit(" > ", 1)[-1] == section
    assert f"{pages}, {section}" in hit.citation.short
