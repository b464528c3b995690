"""JSON shapes of the figure book, shared by `kb figures --json` and /api/figures."""

from __future__ import annotations

from kb.figures.book import BookFigure
from kb.figures.matching import FigureEvidence
from kb.figures.matching import Statement
from kb.serialize import document_to_dict


def figure_summary(figure: BookFigure) -> dict:
    """A figure without its passages: id, what it measures, unit, values and whether they
    differ, with the note saying why."""
    return {
        "id": figure.id,
        "measures": figure.measures,
        "unit": figure.unit,
        "values": [value.label for value in figure.values],
        "differs": figure.differs,
        "note": figure.note,
        "url": f"/figures/{figure.id}",
    }


def figure_to_dict(evidence: FigureEvidence) -> dict:
    """A figure with every statement of it: the book's sources, then what matching found."""
    return {
        **figure_summary(evidence.figure),
        "sources": [statement_to_dict(s) for s in evidence.pinned],
        "also_stated_in": [statement_to_dict(s) for s in evidence.also],
        "possible_disagreements": [statement_to_dict(s) for s in evidence.differs],
    }


def statement_to_dict(statement: Statement) -> dict:
    """One value from one source, with its passage, citation and permalink."""
    figure = statement.figure
    return {
        "role": statement.role,
        "value": statement.value,
        "normalised": {
            "kind": figure.kind,
            "value": figure.value,
            "unit": figure.unit,
            "qualifier": figure.qualifier,
        },
        "quote": statement.quote,
        "said_by": statement.said_by,
        "note": statement.note,
        "score": statement.score,
        "passage": {
            "id": statement.passage.id,
            "text": statement.passage.text,
            "page": statement.passage.page,
            "section": statement.passage.section,
        },
        "highlights": [
            {"start": s.start, "end": s.end, "kind": s.kind} for s in statement.highlights
        ],
        "document": document_to_dict(statement.document),
        "citation": {"short": statement.citation.short, "harvard": statement.citation.harvard},
        "url": statement.url,
        "review": (
            {"decision": r.decision, "by": r.by, "at": r.at}
            if (r := statement.review) is not None
            else None
        ),
    }
