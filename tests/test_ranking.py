"""Ranking beyond fusion: figure-asking questions, one document not crowding out the rest,
same-words passages collapsed, and the "no close match" level (fake embedder; the real-model
figures are in docs/evaluation.md and test_search_model.py)."""

from __future__ import annotations

import pytest
from conftest import both_backends
from conftest import build_corpus

from kb.figure_questions import asked_figures
from kb.figure_questions import states_figure
from kb.matching import match_level
from kb.models import DocumentMeta
from kb.models import SearchFilters
from kb.search import KnowledgeBase
from kb.search import SearchSettings
from kb.search import same_words

pytestmark = both_backends


@pytest.mark.parametrize(
    ("query", "kinds"),
    [
        ("how much did Inverclyde pay PwC", {"money"}),
        ("what share of costs sit in the back office", {"percent"}),
        ("what percentage of staff said workload rose", {"percent"}),
        ("how many staff would have transferred", {"count"}),
        ("when did Glasgow pull out", {"date"}),
        ("savings from back office sharing", set()),
        ("failure demand", set()),
    ],
)
def test_what_kind_of_figure_a_question_asks_for(query, kinds):
    assert asked_figures(query) == kinds


@pytest.mark.parametrize(
    ("text", "kind", "states"),
    [
        ("Fees came to £650k.", "money", True),
        ("The savings were £1.9m.", "money", True),
        ("Only 15% of costs are in the back office.", "percent", True),
        ("Eight councils were covered.", "count", True),
        ("About 2,200 invoices were paid twice.", "count", True),
        ("The system went live in March 2009.", "count", False),  # a year is no count
        ("Duplicate payments came to £4.6m, or 15% of the total.", "count", False),
        ("Fees came to 650k.", "count", False),
        ("It reported on 29 June 2011.", "date", True),
        ("The council paid consultants heavily.", "money", False),
        ("Most costs are elsewhere.", "percent", False),
    ],
)
def test_whether_a_passage_states_a_figure_of_that_kind(text, kind, states):
    assert states_figure(text, frozenset({kind})) is states


def _meta(doc_id: str) -> DocumentMeta:
    return DocumentMeta(doc_id, f"Document {doc_id}", "Publisher", 2020, "case-study")


def _kb(store, embedder, settings, corpus, **search) -> KnowledgeBase:
    build_corpus(store, embedder, corpus)
    return KnowledgeBase(store, embedder, settings.index_path, SearchSettings(**search))


def test_a_figure_question_prefers_the_passage_stating_the_figure(store, embedder, settings):
    corpus = [
        (
            _meta("fees"),
            [
                (
                    "Inverclyde consultancy fees paid to PwC were heavily criticised by the "
                    "council and the union at Inverclyde.",
                    None,
                    "Criticism",
                ),
                ("PwC fees were £650k in the end.", None, "Fees"),
            ],
        )
    ]
    kb = _kb(store, embedder, settings, corpus, cosine_weight=0.0)
    query = "how much were the Inverclyde consultancy fees paid to PwC"
    kb.settings = SearchSettings(cosine_weight=0.0, figure_boost=0.0)
    assert "£650k" not in kb.search(query, k=2)[0].passage.text  # words alone pick the other
    kb.settings = SearchSettings(cosine_weight=0.0)
    assert "£650k" in kb.search(query, k=2)[0].passage.text


SAVINGS = "Back office sharing savings were small: savings from sharing the back office"
NOTES = [
    "payroll teams merged in Renfrew",
    "finance staff moved to Paisley",
    "revenues and benefits joined later",
    "the computer contract ended early",
    "human resources stayed local",
]


def _crowded_corpus():
    """One document with five passages on the query, three others with one each."""
    many = [(f"{SAVINGS}; {note}.", None, f"Part {n}") for n, note in enumerate(NOTES)]
    others = {
        "alpha": "the audit office counted them carefully",
        "beta": "the union survey asked its members",
        "gamma": "the minister announced a review",
    }
    return [
        (_meta("crowd"), many),
        *[(_meta(doc), [(f"{SAVINGS}, as {note}.", None, "Only")]) for doc, note in others.items()],
    ]


def test_one_document_holds_at_most_two_of_the_top_five(store, embedder, settings):
    kb = _kb(store, embedder, settings, _crowded_corpus())
    hits = kb.search("back office sharing savings", k=8)
    top = [h.document.id for h in hits[:5]]
    assert top.count("crowd") <= 2 and len(set(top)) >= 3, top
    # The crowding document's other passages follow, nothing is lost.
    assert [h.document.id for h in hits].count("crowd") == 5


def test_filtered_to_one_document_all_its_passages_may_lead(store, embedder, settings):
    kb = _kb(store, embedder, settings, _crowded_corpus())
    only = SearchFilters(documents=("crowd",))
    hits = kb.search("back office sharing savings", k=5, filters=only)
    assert [h.document.id for h in hits] == ["crowd"] * 5


def test_a_search_plainly_about_one_document_is_not_capped(store, embedder, settings):
    # Five of the eight candidates are one document's: at a focus share of 0.6 that is a
    # search about that document, as if filtered to it (0.7, the default, still caps).
    kb = _kb(store, embedder, settings, _crowded_corpus(), focus_share=0.6)
    top = [h.document.id for h in kb.search("back office sharing savings", k=5)]
    assert top.count("crowd") > 2, top


def test_without_the_cap_one_document_crowds_the_top(store, embedder, settings):
    kb = _kb(store, embedder, settings, _crowded_corpus(), per_document=0)
    top = [h.document.id for h in kb.search("back office sharing savings", k=5)]
    assert top.count("crowd") > 2, top  # what the cap above prevents


def test_passages_in_the_same_words_in_two_documents_count_once(store, embedder, settings):
    quoted = (
        "The potential savings from back office shared delivery arrangements can be low, "
        "even in the best case scenario."
    )
    corpus = [
        (_meta("report"), [(quoted, "4", "Summary")]),
        (_meta("study"), [("As the report says: " + quoted, None, "Quoted")]),
        (_meta("other"), [("Back office savings were modest elsewhere.", None, "Other")]),
    ]
    kb = _kb(store, embedder, settings, corpus)
    hits = kb.search("savings from back office shared delivery", k=5)
    assert sum(1 for h in hits if quoted in h.passage.text) == 1


def test_same_words_allows_small_edits_but_not_short_coincidences():
    long = "sharing back office services will yield only savings of 1.8% in the best case"
    assert same_words(
        long, "Sharing back office services will yield only savings of 1.8% in the best case."
    )
    assert same_words(long, "In short, " + long)
    assert not same_words(
        long,
        "sharing back office services rarely yields the savings "
        "promised by consultants in the business case",
    )
    assert not same_words("back office", "back office savings")


def test_match_level_cut_offs():
    assert match_level(0.2, 0.4, 0.5) == "none"
    assert match_level(0.45, 0.4, 0.5) == "weak"
    assert match_level(0.5, 0.4, 0.5) == "good"


def test_an_off_topic_query_is_flagged_with_the_nearest_passages_kept(kb):
    found = kb.find("recipe for chicken curry", k=3)
    assert found.match == "none"
    assert found.hits  # still shown, under the "no close match" heading
    assert kb.find("Tayside joint committee of councillors", k=3).match == "good"


def test_the_match_is_measured_within_the_filters(kb):
    query = "Tayside joint committee of councillors"
    assert kb.find(query, k=3).match != "none"
    other = SearchFilters(documents=("somerset",))
    assert kb.find(query, k=3, filters=other).match == "none"
