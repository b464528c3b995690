"""Quote-ready citations for a passage (a short one and a Harvard-style reference), a document's
reference-list entry, and its structured form (CSL-JSON) for reference managers.

A passage is cited by where it is printed (a page, or a range of pages where only the range is
known) and section and, when it comes from one of our own documents that names its sources, by
those primary sources first: `BBC News (2013) "Title", cited in Shared Services Evidence Base
(2026) *Southwest One*, Summary`. Everything that cites (search, myths, figures, packs and their
downloads) calls this module; nobody formats a citation by hand elsewhere.
"""

from __future__ import annotations

import re

from kb.models import Citation
from kb.models import Document
from kb.models import Passage
from kb.models import Source
from kb.sources import passage_sources

_ITALIC_TITLE = re.compile(r"\*(.+?)\*")


def _year(document: Document) -> str:
    return str(document.meta.year) if document.meta.year else "n.d."


def last_section(section: str) -> str:
    return section.split(" > ")[-1] if section else ""


def page_label(page: str | None, page_end: str | None = None) -> str:
    """How a place in print is cited: "p. 4", "pp. 9\u201311" for a range (the page is known only
    to lie in it), "" when the page is not known. Never a single page the text cannot support."""
    if not page:
        return ""
    if page_end and page_end != page:
        return f"pp. {page}\u2013{page_end}"
    return f"p. {page}"


def passage_pages(passage: Passage) -> str:
    """`page_label` of a passage."""
    return page_label(passage.page, passage.page_end)


def source_short(source: Source) -> str:
    """A primary source as a citation names it: `BBC News (2013) "Title"`, with how we read it
    after the title when the entry says (`Audit Scotland (2010) "Title" (summarised by CAAF)`):
    the author stays the author, and whoever quotes it can see the words came through another.
    """
    short = f'{source.who} ({source.year}) "{source.title}"'
    return f"{short} ({source.note})" if source.note else short


def source_reference(source: Source) -> str:
    """A primary source as a reference list gives it, with its address and the date read."""
    reference = f"{source_short(source)}. Available at: {source.url}"
    if source.read:
        reference += f" (Accessed: {source.read})"
    return reference + "."


def cite(document: Document, passage: Passage) -> Citation:
    """Citations such as "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4,
    Executive summary", its Harvard reference, and the primary sources the passage cites.

    A passage that cites sources (our own documents, keyed) names them first and the document
    as where they are cited: `BBC News (2013) "Title", cited in Shared Services Evidence Base
    (2026) *Southwest One*, Summary`. The title is marked with asterisks (Markdown italics) so
    that it reads well as plain text and can be rendered as italics.
    """
    meta = document.meta
    sources = passage_sources(document, passage)
    pages = passage_pages(passage)
    where = [part for part in (pages, last_section(passage.section)) if part]
    short = f"{meta.publisher} ({_year(document)}) *{meta.title}*"
    if where:
        short += ", " + ", ".join(where)
    harvard = reference(document)
    if pages:
        harvard += f" {pages}."
    if passage.ocr_confidence is not None:
        # A scanned page read by OCR may misread a figure: whoever quotes it should look.
        short += f" {OCR_NOTE}"
        harvard += f" {OCR_NOTE}"
    if sources:
        short = "; ".join(source_short(s) for s in sources) + ", cited in " + short
        harvard = " ".join(source_reference(s) for s in sources) + " Cited in " + harvard
    return Citation(short=short, harvard=harvard, sources=sources)


OCR_NOTE = "(text from OCR: check against the original)"


def plain_citation(citation: Citation, absolute_url: str) -> str:
    """The plain text a person copies: the short citation, the primary sources' addresses, then
    the permalink.

    The title's Markdown italics (`*...*`) are dropped: pasted into a letter or an email they
    would show as stray asterisks.
    """
    plain = _ITALIC_TITLE.sub(r"\1", citation.short, count=1)
    originals = " ".join(source.url for source in citation.sources)
    return f"{plain}. {originals + ' ' if originals else ''}{absolute_url}"


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


# A note that opens with one of these says what kind of item the source is: a press release by
# its author (the LGA's "media release", the Public Accounts Committee's "press notice").
_PRESS_RELEASE_NOTE = re.compile(r"^(?:press|media|news) (?:release|notice)\b", re.IGNORECASE)
PRESS_RELEASE = "Press release"


def is_press_release(source: Source) -> bool:
    """Whether the entry's note says the source is a press release by its author."""
    return bool(_PRESS_RELEASE_NOTE.match(source.note))


def source_csl_item(source: Source) -> dict:
    """A primary source (a Sources entry of one of our documents) as a CSL-JSON item: a web
    page by its author or publisher, with the date we read it and the entry's note (how we
    read it) as its note; a note opening "press release", "media release" or "press notice"
    makes its genre "Press release". Its id is its key, prefixed so that it cannot collide
    with a document id (a list holding sources of several documents numbers them too: keys
    are per document)."""
    item: dict = {
        "id": f"source-{source.key}",
        "type": "webpage",
        "title": source.title,
        "author": [{"literal": source.who}],
        "publisher": source.who,
        "URL": source.url,
    }
    if source.note:
        item["note"] = source.note
        if is_press_release(source):
            item["genre"] = PRESS_RELEASE
    if source.year.isdigit():
        item["issued"] = {"date-parts": [[int(source.year)]]}
    if source.read:
        item["accessed"] = {"date-parts": [[int(part) for part in source.read.split("-")]]}
    return item


def permalink(passage: Passage) -> str:
    """The path of the passage in the document reader (the anchor survives re-ingests)."""
    return f"/documents/{passage.document_id}#p{passage.ordinal}"
