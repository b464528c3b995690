"""The data the knowledge base holds and returns: plain dataclasses, no behaviour beyond views."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class Source:
    """Where a statement in one of our own documents comes from: one entry of its Sources
    section, `[^key]: Who (Year) "Title", note. URL (read YYYY-MM-DD)` (corpus/README.md).

    `who` is the author (the body that wrote it), never the channel we read it through; `year`
    is text ("2013", "n.d."); `read` is the date we read it ("" when not recorded); `note` says
    how we read it or what kind of item it is ("summarised by CAAF", "media release"; "" when
    we read the author's own copy).
    """

    key: str
    who: str
    year: str
    title: str
    url: str
    read: str = ""
    note: str = ""


@dataclass(frozen=True)
class DocumentMeta:
    """What a person says about a document: from the catalog, the upload form or `kb add`."""

    id: str
    title: str
    publisher: str
    year: int | None
    kind: str
    url: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Document:
    """A stored document: its metadata plus what the store knows of its file."""

    meta: DocumentMeta
    file_path: str
    sha256: str
    added_at: str
    passage_count: int = 0
    sources: tuple[Source, ...] = ()  # its Sources section's entries (our own documents)

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass(frozen=True)
class Chunk:
    """A passage before it is stored: text with where it came from in the document.

    `page` is the printed page; when the page is known only to lie in a range, `page` is its
    first page and `page_end` its last (None when the page is known, or there is no page).
    `source_keys` are the keys of the Sources entries its paragraphs cite, in order.
    """

    text: str
    page: str | None
    section: str
    char_start: int
    char_end: int
    token_count: int
    page_end: str | None = None
    source_keys: tuple[str, ...] = ()
    # Tesseract's mean word confidence (0 to 1) when the text came from OCR; None otherwise.
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class Passage:
    """A stored passage, the unit of search and citation (pages and source keys as in Chunk)."""

    id: int
    document_id: str
    ordinal: int
    text: str
    page: str | None
    section: str
    char_start: int
    char_end: int
    token_count: int
    page_end: str | None = None
    source_keys: tuple[str, ...] = ()
    # Tesseract's mean word confidence (0 to 1) when the text came from OCR; None otherwise.
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class Span:
    """A highlight as character offsets into a passage's text; the caller escapes and marks up."""

    start: int
    end: int
    kind: str  # "sentence" (the best sentence) or "term" (a matched query word)


@dataclass(frozen=True)
class Citation:
    """How to cite a passage: `short` (with the title between asterisks), `harvard`, and the
    primary sources the passage cites (empty for a document that is its own source)."""

    short: str
    harvard: str
    sources: tuple[Source, ...] = ()


@dataclass
class Hit:
    """One search result: a passage with its document, score, ranks, highlights and citation."""

    passage: Passage
    document: Document
    score: float
    citation: Citation
    url: str
    highlights: list[Span] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchFilters:
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None

    def is_empty(self) -> bool:
        return not (self.kinds or self.tags or self.documents or self.year_from or self.year_to)
