"""JSON shapes shared by `kb search --json` and the HTTP API."""

from __future__ import annotations

from kb.models import Document
from kb.models import Hit
from kb.models import Passage


def document_to_dict(document: Document) -> dict:
    meta = document.meta
    return {
        "id": meta.id,
        "title": meta.title,
        "publisher": meta.publisher,
        "year": meta.year,
        "kind": meta.kind,
        "url": meta.url,
        "tags": list(meta.tags),
        "passages": document.passage_count,
        "added_at": document.added_at,
    }


def passage_to_dict(passage: Passage) -> dict:
    return {
        "id": passage.id,
        "document_id": passage.document_id,
        "ordinal": passage.ordinal,
        "text": passage.text,
        "page": passage.page,
        "section": passage.section,
    }


def hit_to_dict(hit: Hit) -> dict:
    """One search result: text, page, section, score, highlights, document, citation, url."""
    return {
        "id": hit.passage.id,
        "text": hit.passage.text,
        "page": hit.passage.page,
        "section": hit.passage.section,
        "score": hit.score,
        "ranks": hit.ranks,
        "highlights": [{"start": s.start, "end": s.end, "kind": s.kind} for s in hit.highlights],
        "document": document_to_dict(hit.document),
        "citation": {"short": hit.citation.short, "harvard": hit.citation.harvard},
        "url": hit.url,
    }
