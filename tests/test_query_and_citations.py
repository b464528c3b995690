"""Turning user text into safe FTS queries; citations and permalinks."""

from __future__ import annotations

import pytest

from kb.citations import cite
from kb.citations import permalink
from kb.errors import QueryError
from kb.models import Document
from kb.models import DocumentMeta
from kb.models import Passage
from kb.query import clean_query
from kb.query import fts_match
from kb.query import query_terms


def test_terms_drop_stopwords_and_syntax():
    assert query_terms('savings AND "back office" NEAR(x) -y*') == [
        "savings",
        "back",
        "office",
        "near",
        "x",
        "y",
    ]
    assert query_terms("the of and") == ["the", "of", "and"]  # nothing else left: keep them
    assert query_terms("*** () --") == []


def test_fts_match_quotes_every_term():
    assert fts_match(["savings", "office"]) == '"savings" OR "office"'
    assert fts_match([]) is None


def test_clean_query_limits():
    assert clean_query("  savings  ") == "savings"
    with pytest.raises(QueryError, match="empty"):
        clean_query(None)
    with pytest.raises(QueryError, match="empty"):
        clean_query("\u200b \u202e\x00")  # only invisible characters: nothing to search
    assert clean_query("\u200bsavings") == "\u200bsavings"
    with pytest.raises(QueryError, match="2001 characters long"):
        clean_query("x" * 2001)


def _doc(year=2012, url="http://x.org/r", kind="report"):
    meta = DocumentMeta(
        "r", "The front line starts here", "APSE for UNISON Scotland", year, kind, url
    )
    return Document(meta, "", "", "")


def _passage(page="4", section="Executive summary"):
    return Passage(7, "r", 3, "text", page, section, 0, 4, 1)


def test_short_and_harvard_citations():
    citation = cite(_doc(), _passage())
    assert citation.short == (
        "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4, Executive summary"
    )
    assert citation.harvard == (
        "APSE for UNISON Scotland (2012) *The front line starts here*. [Report]. "
        "Available at: http://x.org/r. p. 4."
    )


def test_citation_uses_the_last_section_and_copes_with_missing_parts():
    citation = cite(_doc(year=None, url=""), _passage(page=None, section="Myths > Back office"))
    assert (
        citation.short
        == "APSE for UNISON Scotland (n.d.) *The front line starts here*, Back office"
    )
    assert "Available at" not in citation.harvard


def test_permalink_uses_the_ordinal():
    assert permalink(_passage()) == "/documents/r#p3"
