"""`kb eval` and its query files: answerable and off-topic questions, flag rates, bad lines,
and our own evaluation sets (every document covered, halves kept apart)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from kb.catalog import load_catalog
from kb.errors import KBError
from kb.evaluation import evaluate
from kb.evaluation import flag_rates
from kb.evaluation import format_flags
from kb.evaluation import load_queries

HALVES = [ROOT / "corpus" / "eval" / f"questions-{half}.jsonl" for half in ("tuning", "held-out")]


def _write(tmp_path, rows) -> object:
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_off_topic_questions_count_only_towards_the_flag_rates(kb, tmp_path):
    path = _write(
        tmp_path,
        [
            {"q": "Tayside joint committee of councillors", "any": ["Tayside"]},
            {"q": "recipe for chicken curry", "none": True},
        ],
    )
    queries = load_queries(path)
    assert [q.none for q in queries] == [False, True]
    hybrid = evaluate(kb, queries)[0]
    assert hybrid.mode == "hybrid" and hybrid.recall[5] == 1.0  # over the one answerable query
    rates = flag_rates(kb, queries)
    assert (rates.answerable, rates.off_topic) == (1, 1)
    assert rates.off_topic_none == 1.0 and rates.answerable_none == 0.0
    assert 'off-topic flagged "none": 100.0% of 1' in format_flags(rates)


@pytest.mark.parametrize(
    "line",
    ['{"q": "no answers"}', '{"q": "x", "any": []}', '{"q": "x", "any": "1.8%"}', "[1, 2]", "{"],
)
def test_a_bad_line_is_named(tmp_path, line):
    path = _write(tmp_path, ['{"q": "fine", "any": ["a"]}', line])
    with pytest.raises(KBError, match="Line 2 of"):
        load_queries(path)


def test_our_sets_cover_every_document_and_keep_the_halves_apart():
    documents = {item.meta.id for item in load_catalog(ROOT / "corpus" / "catalog.toml")}
    tuning, held_out = (load_queries(path) for path in HALVES)
    for half in (tuning, held_out):
        assert {q.doc for q in half if not q.none} == documents
        assert sum(1 for q in half if q.none) >= 15
    assert not {q.q for q in tuning} & {q.q for q in held_out}
    assert sum(1 for q in tuning + held_out if not q.none) >= 150
