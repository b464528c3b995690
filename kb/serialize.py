"""JSON shapes shared by `kb search --json` and the HTTP API."""

from __future__ import annotations

from kb.models import Citation
from kb.models import Document
from kb.models import Hit
from kb.models import Passage
from kb.sources import source_to_dict


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
        "page_end": passage.page_end,
        "section": passage.section,
        "source_keys": list(passage.source_keys),
        "ocr_confidence": passage.ocr_confidence,
    }


def citation_fields(citation: Citation) -> dict:
    """The citation and the primary sources it names, as every hit-shaped answer gives them."""
    return {
        "citation": {"short": citation.short, "harvard": citation.harvard},
        "sources": [source_to_dict(source) for source in citation.sources],
    }


def hit_to_dict(hit: Hit) -> dict:
    """One search result: text, pages, section, score, highlights, document, citation, sources
    and url. `page_end` is set when the page is known only to lie in page..page_end."""
    return {
        "id": hit.passage.id,
        "text": hit.passage.text,
        "page": hit.passage.page,
        "page_end": hit.passage.page_end,
        "section": hit.passage.section,
        "score": hit.score,
        "ranks": hit.ranks,
        "highlights": [{"start": s.start, "end": s.end, "kind": s.kind} for s in hit.highlights],
        "document": document_to_dict(hit.document),
        **citation_fields(hit.citation),
        "url": hit.url,
        "ocr_confidence": hit.passage.ocr_confidence,
    }
