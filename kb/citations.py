"""Quote-ready citations for a passage: a short one and a Harvard-style reference."""

from __future__ import annotations

from kb.models import Citation
from kb.models import Document
from kb.models import Passage


def _year(document: Document) -> str:
    return str(document.meta.year) if document.meta.year else "n.d."


def last_section(section: str) -> str:
    return section.split(" > ")[-1] if section else ""


def cite(document: Document, passage: Passage) -> Citation:
    """Citations such as "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4,
    Executive summary" and its Harvard reference.

    The title is marked with asterisks (Markdown italics) so that it reads well as plain text
    and can be rendered as italics.
    """
    meta = document.meta
    where = []
    if passage.page:
        where.append(f"p. {passage.page}")
    if passage.section:
        where.append(last_section(passage.section))
    short = f"{meta.publisher} ({_year(document)}) *{meta.title}*"
    if where:
        short += ", " + ", ".join(where)
    harvard = f"{meta.publisher} ({_year(document)}) *{meta.title}*."
    if meta.kind:
        harvard += f" [{meta.kind.replace('-', ' ').capitalize()}]."
    if meta.url:
        harvard += f" Available at: {meta.url}."
    if passage.page:
        harvard += f" p. {passage.page}."
    return Citation(short=short, harvard=harvard)


def permalink(passage: Passage) -> str:
    """The path of the passage in the document reader (the anchor survives re-ingests)."""
    return f"/documents/{passage.document_id}#p{passage.ordinal}"
