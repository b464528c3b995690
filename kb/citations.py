"""Quote-ready citations for a passage (a short one and a Harvard-style reference), a document's
reference-list entry, and its structured form (CSL-JSON) for reference managers.

Everything that cites (search, myths, figures, packs and their downloads) calls this module;
nobody formats a citation by hand elsewhere.
"""

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
    harvard = reference(document)
    if passage.page:
        harvard += f" p. {passage.page}."
    return Citation(short=short, harvard=harvard)


def reference(document: Document) -> str:
    """The Harvard reference for a whole document, as in a reference list: "APSE for UNISON
    Scotland (2012) *The front line starts here*. [Report]. Available at: http://...".
    """
    meta = document.meta
    harvard = f"{meta.publisher} ({_year(document)}) *{meta.title}*."
    if meta.kind:
        harvard += f" [{_kind_label(meta.kind)}]."
    if meta.url:
        harvard += f" Available at: {meta.url}."
    return harvard


def _kind_label(kind: str) -> str:
    return kind.replace("-", " ").capitalize()


def italic_pieces(citation: str) -> list[tuple[str, bool]]:
    """A citation cut at its Markdown italics: [(text, is_italic), ...], for writers that mark
    titles their own way (HTML <em>, Word italics, nothing in plain text). An unpaired asterisk
    belongs to the text."""
    pieces = citation.split("*")
    if len(pieces) % 2 == 0:
        return [(citation, False)]
    return [(piece, bool(index % 2)) for index, piece in enumerate(pieces) if piece]


# CSL types (https://docs.citationstyles.org/en/stable/specification.html#appendix-iii-types)
# for our document kinds; any other kind is a plain "document".
CSL_TYPES = {
    "report": "report",
    "guidance": "report",
    "case-study": "report",
    "briefing": "report",
    "consultation": "report",
    "book": "book",
    "article": "article-journal",
    "journal-article": "article-journal",
    "news": "article-newspaper",
    "web": "webpage",
    "webpage": "webpage",
    "legislation": "legislation",
}


def csl_item(document: Document) -> dict:
    """The document as a CSL-JSON item, the structured form that RIS and BibTeX are made from.

    The publisher is also the (corporate) author, as in the Harvard reference; the address is
    the document's own, only when it is a web address.
    """
    meta = document.meta
    item: dict = {
        "id": meta.id,
        "type": CSL_TYPES.get(meta.kind, "document"),
        "title": meta.title,
        "author": [{"literal": meta.publisher}],
        "publisher": meta.publisher,
    }
    if meta.kind:
        item["genre"] = _kind_label(meta.kind)
    if meta.year:
        item["issued"] = {"date-parts": [[meta.year]]}
    if meta.url.lower().startswith(("https://", "http://")):
        item["URL"] = meta.url
    return item


def permalink(passage: Passage) -> str:
    """The path of the passage in the document reader (the anchor survives re-ingests)."""
    return f"/documents/{passage.document_id}#p{passage.ordinal}"
