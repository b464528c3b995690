"""The shapes of the JSON API's answers, as typed models: the one source of /api/openapi.json.

web/openapi.py turns these into the OpenAPI description; in tests (TESTING) every /api answer
is validated against them, so a field added to a response without its model (or the other way
round) fails the suite. The bodies themselves are still built as dicts by kb.serialize and
kb.myths (shared with `kb search --json`); these models describe them.

To add a field: add it to the model here (type and, where not obvious, a description); a field
that may be missing or null is `X | None`. To add a response shape: a new `ApiModel` subclass,
named as clients should see it under components/schemas.
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import RootModel

from kb.packs import MAX_HEADING_CHARS
from kb.packs import MAX_ITEMS
from kb.packs import MAX_NOTE_CHARS
from kb.packs import MAX_TITLE_CHARS


class ApiModel(BaseModel):
    """Strict and closed: "5" is not an integer here, and an undescribed field is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Error(ApiModel):
    """Every error of the API: one sentence for a person, and the HTTP status again."""

    error: str
    status: int


class Document(ApiModel):
    id: str
    title: str
    publisher: str
    year: int | None
    kind: str
    url: str = Field(description="Where the document is published; empty when unknown.")
    tags: list[str]
    passages: int = Field(description="Number of passages.")
    added_at: str = Field(description="When it was added (ISO 8601, UTC).")


_PAGE = "The printed page, or the first page of a range; null when unknown."
_PAGE_END = (
    "The last page when the page is known only to lie in page..page_end (cite it as "
    "pp. page\u2013page_end); null when the page is known exactly or unknown."
)


class Passage(ApiModel):
    id: int
    document_id: str
    ordinal: int = Field(description="Position of the passage in its document, from 0.")
    text: str
    page: str | None = Field(description=_PAGE)
    page_end: str | None = Field(description=_PAGE_END)
    section: str = Field(description="The section path, e.g. 'Findings > Savings'.")
    source_keys: list[str] = Field(description="Keys of the document's sources it cites.")
    ocr_confidence: float | None = Field(
        None,
        description="Set when the text came from OCR of a scanned page: Tesseract's mean word "
        "confidence, 0 to 1 (check the quote against the original). Null otherwise.",
    )


class Source(ApiModel):
    """A primary source that a passage of one of our own documents cites."""

    key: str = Field(description="The key in the document's Sources section.")
    who: str = Field(
        description="The author, e.g. 'Audit Scotland'; never the channel we read it through."
    )
    year: str = Field(description="The year, or 'n.d.'.")
    title: str
    url: str = Field(description="The address we read it at.")
    read: str = Field(description="The date we read it (YYYY-MM-DD); empty when not recorded.")
    note: str = Field(
        description="How we read it or what kind of item it is, e.g. 'summarised by CAAF', "
        "'media release'; empty when we read the author's own copy.",
    )


class Citation(ApiModel):
    short: str = Field(
        description="Primary sources first where the passage names them, then title, "
        "publisher, year, page(s) and section, for quoting."
    )
    harvard: str = Field(description="A Harvard-style reference with the address.")


class Highlight(ApiModel):
    """Character offsets into the passage text; the client escapes and marks up."""

    start: int
    end: int
    kind: Literal["sentence", "term", "quote", "figure"] = Field(
        description="sentence: the best sentence; term: a matched word; quote: a pinned quote;"
        " figure: the figure a figure's statement gives."
    )


class CitedPassage(ApiModel):
    """What a search hit and a myth's evidence have in common."""

    id: int = Field(description="The passage id (see /api/passages/{passage_id}).")
    text: str
    page: str | None = Field(description=_PAGE)
    page_end: str | None = Field(description=_PAGE_END)
    section: str
    highlights: list[Highlight]
    document: Document
    citation: Citation
    sources: list[Source] = Field(
        description="The primary sources the passage cites, named first in its citation; "
        "empty for a document that is its own source."
    )
    url: str = Field(description="Permalink to the passage in the document reader.")
    ocr_confidence: float | None = Field(
        None,
        description="Set when the text came from OCR of a scanned page: Tesseract's mean word "
        "confidence, 0 to 1 (check the quote against the original). Null otherwise.",
    )


class Hit(CitedPassage):
    score: float
    ranks: dict[str, int] = Field(description="The passage's rank in each search mode.")


class MythMatch(ApiModel):
    """The myth a query is close to (see /api/myths)."""

    id: str
    claim: str
    score: float = Field(description="Cosine similarity to the query.")


class FigureMatch(ApiModel):
    """The figure a query is about (see /api/figures)."""

    id: str
    measures: str
    values: list[str] = Field(description="The distinct values its sources give.")
    differs: bool
    score: float = Field(description="Cosine similarity to the query.")


class SearchResponse(ApiModel):
    query: str
    match: Literal["good", "weak", "none"] = Field(
        description='How closely the best passage matches the query. "none": nothing in the '
        "evidence answers it closely and the results are only the nearest passages (say so to "
        'the reader, as the search page and widget do: "No close match"); "weak": check them.'
    )
    results: list[Hit] = Field(description="Best first.")
    took_ms: float
    myth: MythMatch | None = Field(description="The myth the query is close to, if any.")
    figure: FigureMatch | None = Field(description="The figure the query is about, if any.")


class DocumentList(ApiModel):
    documents: list[Document]


class DocumentDetail(ApiModel):
    document: Document
    sources: list[Source] = Field(description="The document's Sources entries (ours only).")
    passages: list[Passage] = Field(description="In document order.")


class PassageDetail(Passage):
    document: Document
    citation: Citation
    sources: list[Source]
    url: str = Field(description="Permalink to the passage in the document reader.")


class PinnedQuote(ApiModel):
    document_id: str
    quote: str = Field(description="A verbatim phrase of that document.")


class Evidence(CitedPassage):
    """A passage answering a myth; pinned quotes first, then passages found by search."""

    pinned: bool
    quote: str | None = Field(description="The pinned quote; null for a passage found by search.")
    score: float | None = Field(description="The search score; null for a pinned quote.")


class OtherSide(Evidence):
    """What a supporter of the claim will say: a pinned quote of the strongest counter-evidence
    in the corpus, cited like the rest."""

    note: str | None = Field(description="Our one-sentence note on it; null when none.")


class Myth(ApiModel):
    id: str
    claim: str
    answer: str
    queries: list[str]
    pinned: list[PinnedQuote]
    evidence: list[Evidence]
    other_side: list[OtherSide] = Field(description="What the other side will say.")


class MythList(ApiModel):
    myths: list[Myth]


class NormalisedValue(ApiModel):
    """A value as the extractor reads it: "£4.6m", "£4.6 million" and "£4,600,000" are one."""

    kind: Literal["money", "percent", "count"]
    value: float = Field(description="Pounds (or dollars, euros), the percentage, or the count.")
    unit: str = Field(description="GBP, USD, EUR; %; or what is counted.")
    qualifier: str = Field(
        description="Empty for the value itself, or the bound it is: more than, at least,"
        " less than, up to."
    )


class FigurePassage(ApiModel):
    id: int
    text: str
    page: str | None
    section: str


class FigureReview(ApiModel):
    """A researcher's decision on a found statement."""

    decision: Literal["confirmed", "dismissed"] = Field(
        description="confirmed: it does measure this figure; dismissed: it measures another thing."
    )
    by: str
    at: str = Field(description="When (ISO 8601, UTC).")


class FigureStatement(ApiModel):
    """One source's value for a figure, with its passage, citation and permalink."""

    role: Literal["pinned", "also", "differs"] = Field(
        description="pinned: a source the figure book names; also: a passage found stating the"
        " same value in a close context; differs: a passage found stating another value in a"
        " close context (a possible disagreement, for a researcher to confirm)."
    )
    value: str = Field(description="The value as stated.")
    normalised: NormalisedValue
    quote: str = Field(description="The pinned quote, or the sentence holding a found value.")
    said_by: str = Field(description="Whom the document reports; empty when it is its own.")
    note: str = Field(description="How this source's measure differs; empty when it does not.")
    score: float | None = Field(description="Context similarity; null for a pinned source.")
    passage: FigurePassage
    highlights: list[Highlight]
    document: Document
    citation: Citation
    url: str = Field(description="Permalink to the passage in the document reader.")
    review: FigureReview | None = Field(description="A researcher's decision; null if none.")


class Figure(ApiModel):
    id: str
    measures: str = Field(description="What the figure measures, in one sentence.")
    unit: str
    values: list[str] = Field(description="The distinct values its sources give.")
    differs: bool = Field(description="Whether its sources give different values.")
    note: str = Field(description="Why the sources' values differ, in words.")
    url: str = Field(description="The figure's page.")
    sources: list[FigureStatement]
    also_stated_in: list[FigureStatement]
    possible_disagreements: list[FigureStatement]


class FigureList(ApiModel):
    figures: list[Figure]


class Health(ApiModel):
    status: Literal["ok", "model-mismatch"]
    documents: int
    passages: int
    model: str = Field(description="The embedding model the stored vectors were made with.")
    embedder: str = Field(description="The embedding model this server loaded.")
    generation: int = Field(description="The store's generation: it moves with every change.")
    index_generation: int = Field(
        description="The generation of this server's vector index (-1: not loaded yet); "
        "it follows the store's within about a second of a change."
    )
    index_loaded_at: str | None = Field(
        description="When this server last loaded its vector index (ISO 8601, UTC)."
    )


# -- evidence packs (web/packs.py) ------------------------------------------------------------

PackFormat = Literal["docx", "md", "txt", "ris", "bib", "csl", "json"]


class PackPassageItem(ApiModel):
    passage: int = Field(ge=1, description="A passage id (`id` of a search hit or a passage).")
    note: str = Field("", max_length=MAX_NOTE_CHARS, description="The person's own note.")
    myth: str | None = Field(None, description="The myth it was added from: adds its answer.")


class PackHeadingItem(ApiModel):
    heading: str = Field(max_length=MAX_HEADING_CHARS, description="A heading of one's own.")


class PackRenderRequest(ApiModel):
    """A pack: passage ids in order, with headings, notes and a title (all plain text)."""

    title: str = Field("", max_length=MAX_TITLE_CHARS, description="Default: Evidence pack.")
    items: list[PackPassageItem | PackHeadingItem] = Field(min_length=1, max_length=MAX_ITEMS)
    format: PackFormat = Field(
        description="docx, md or txt: the pack; ris, bib or csl (CSL-JSON): its documents' "
        "references; json: the pack as resolved (below)."
    )


class PackMyth(ApiModel):
    id: str
    claim: str
    answer: str


class PackPassageEntry(ApiModel):
    position: int = Field(description="1-based, counting headings and gone items.")
    passage: Passage
    document: Document
    citation: Citation
    url: str = Field(description="Permalink to the passage in the document reader.")
    note: str
    myth: PackMyth | None


class PackHeadingEntry(ApiModel):
    position: int
    heading: str


class PackMissingEntry(ApiModel):
    position: int
    missing: Literal[True]
    passage_id: int = Field(description="Not stored (any more): removed or replaced.")


class PackMissing(ApiModel):
    position: int
    passage_id: int


class PackPreview(ApiModel):
    """The pack as resolved from the store (format "json"), as the pack page shows it."""

    title: str
    created: str = Field(description="The pack's date (ISO 8601).")
    items: list[PackPassageEntry | PackHeadingEntry | PackMissingEntry]
    missing: list[PackMissing]
    missing_sentence: str | None = Field(description="The line the files carry, if any gone.")


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document (this one)."""
