"""For each figure of the book: its pinned sources, and the passages of any document that state
the same value in a close context ("also stated in") or another value in a close context
("possible disagreement").

Context is compared with the vectors already stored at ingest: a figure's context is the mean
of the vectors of the sentences holding its pinned values; a candidate is the sentence vector
of the sentence holding a stored figure of the same kind (kb.figures.stored). No model is
loaded, so `kb figures` and the pages stay fast. The thresholds are measured on the corpus with
bench/figure_matching.py (docs/figures.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np

from kb.citations import cite
from kb.citations import permalink
from kb.embedder import normalise
from kb.figures.book import BookFigure
from kb.figures.book import SourceValue
from kb.figures.extract import COUNT
from kb.figures.extract import Figure
from kb.figures.stored import StoredFigure
from kb.figures.stored import figures_of_kind
from kb.figures.stored import figures_of_passage
from kb.figures.stored import vectors_for
from kb.highlight import sentence_spans
from kb.models import Citation
from kb.models import Document
from kb.models import Passage
from kb.models import Span
from kb.myths.quotes import _first_holding
from kb.myths.quotes import _folded
from kb.myths.quotes import quote_span
from kb.search import is_reference_section

if TYPE_CHECKING:
    from kb.figures.reviews import Review
    from kb.store import Store

# Cosine similarity (all-MiniLM-L6-v2 sentence vectors) from which a stored figure's sentence
# is "close" to a book figure's context. Measured by bench/figure_matching.py (docs/figures.md).
SAME_VALUE_THRESHOLD = 0.55
DIFFERENT_VALUE_THRESHOLD = 0.70
# A different value is a possible disagreement only within this factor of one of the figure's
# values: sources that disagree give £172m against £190m, not £16.2m (measured in the bench).
MAX_RATIO = 2.0

PINNED = "pinned"
ALSO = "also"
DIFFERS = "differs"
VALUE_SPAN_KIND = "figure"
QUOTE_SPAN_KIND = "quote"


@dataclass
class Statement:
    """One source's statement of a figure: a value in a passage.

    Attributes:
        role: "pinned" (the book's own source), "also" (found: the same value, close context)
            or "differs" (found: another value in a close context, a possible disagreement).
        value: the value as stated ("£190m").
        figure: the value, read by the extractor.
        quote: the book's quote (pinned) or the sentence holding the value (found).
        said_by, note: from the book (pinned only).
        score: the context similarity (found only).
        highlights: the quote (pinned) and the value, as spans into the passage text.
        review: a researcher's decision on a found statement (kb.figures.reviews), or None.
    """

    role: str
    value: str
    figure: Figure
    passage: Passage
    document: Document
    citation: Citation
    url: str
    quote: str
    said_by: str = ""
    note: str = ""
    score: float | None = None
    highlights: list[Span] = field(default_factory=list)
    review: Review | None = None


@dataclass
class FigureEvidence:
    """A book figure with every statement of it."""

    figure: BookFigure
    pinned: list[Statement]
    also: list[Statement]
    differs: list[Statement]

    @property
    def statements(self) -> list[Statement]:
        return [*self.pinned, *self.also, *self.differs]


def figure_evidence(
    store: Store,
    figure: BookFigure,
    book: Sequence[BookFigure] = (),
    *,
    same_threshold: float = SAME_VALUE_THRESHOLD,
    different_threshold: float = DIFFERENT_VALUE_THRESHOLD,
    located: dict[str, list[Located | None]] | None = None,
) -> FigureEvidence:
    """A figure's pinned statements, then what the matching finds (best first).

    Args:
        store: passages, their stored figures and vectors.
        figure: the book figure.
        book: the whole book: a stored figure pinned by another book figure belongs to that
            figure, so it is never offered as a statement of this one.
        located: `locate_book(store, book)`, when the caller already has it.
    """
    if located is None:
        located = locate_book(store, [figure, *(f for f in book if f.id != figure.id)])
    pinned = [found for found in located[figure.id] if found is not None]
    held = [stored for _, stored in pinned if stored is not None]
    vector_keys = [(s.passage_id, s.sub) for s in held] or [
        (statement.passage.id, 0) for statement, _ in pinned
    ]
    context = _context_vector(store, vector_keys)
    found_also: list[Statement] = []
    found_differs: list[Statement] = []
    if context is not None:
        taken = {
            (stored.passage_id, stored.ordinal)
            for other, pins in located.items()
            if other != figure.id
            for found in pins
            if found is not None and (stored := found[1]) is not None
        }
        taken.update((s.passage_id, s.ordinal) for s in held)
        found_also, found_differs = _candidates(
            store,
            figure,
            context,
            taken,
            {statement.passage.id for statement, _ in pinned},
            [
                (_folded(source.quote), source.figure)
                for other in (book or [figure])
                for source in other.sources
            ],
            same_threshold,
            different_threshold,
        )
    return FigureEvidence(figure, [s for s, _ in pinned], found_also, found_differs)


Located = tuple[Statement, StoredFigure | None]


def locate_book(store: Store, book: Sequence[BookFigure]) -> dict[str, list[Located | None]]:
    """Every figure's pinned sources located in the store, in book order (None: not found)."""
    return {figure.id: [_locate(store, source) for source in figure.sources] for figure in book}


def book_evidence(store: Store, book: Sequence[BookFigure], **thresholds) -> list[FigureEvidence]:
    """`figure_evidence` for every figure of the book, locating the pins once."""
    located = locate_book(store, book)
    return [figure_evidence(store, f, book, located=located, **thresholds) for f in book]


def _locate(store: Store, source: SourceValue) -> Located | None:
    """The pinned source's statement and the stored figure inside its quote (None if the
    extractor did not find it there); None when the quote no longer resolves (`kb check` says
    so)."""
    passage = _first_holding(store.passages_of(source.document_id), source.quote)
    if passage is None:
        return None
    start, end = quote_span(passage.text, source.quote) or (0, len(passage.text))
    stored = [
        s
        for s in figures_of_passage(store, passage.id)
        if start <= s.figure.start < end and s.figure.same_value(source.figure)
    ]
    document = store.get_document(passage.document_id)
    highlights = [Span(start, end, QUOTE_SPAN_KIND)]
    if stored:
        highlights.append(Span(stored[0].figure.start, stored[0].figure.end, VALUE_SPAN_KIND))
    statement = Statement(
        role=PINNED,
        value=source.value,
        figure=source.figure,
        passage=passage,
        document=document,
        citation=cite(document, passage),
        url=permalink(passage),
        quote=source.quote,
        said_by=source.said_by,
        note=source.note,
        highlights=highlights,
    )
    return statement, stored[0] if stored else None


def _context_vector(store: Store, keys: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """The normalised mean of the stored vectors at (passage id, sub) keys."""
    vectors = vectors_for(store, keys)
    if not vectors:
        return None
    return normalise(np.mean(np.stack(list(vectors.values())), axis=0, keepdims=True))[0]


def _candidates(
    store: Store,
    figure: BookFigure,
    context: np.ndarray,
    taken: set[tuple[int, int]],
    pinned_passages: set[int],
    quoted: list[tuple[str, Figure]],
    same_threshold: float,
    different_threshold: float,
) -> tuple[list[Statement], list[Statement]]:
    stored = [
        s
        for s in figures_of_kind(store, figure.kind)
        # A passage the book already cites for this figure is shown once, as that source:
        # another number in it is another measure (the contract beside the promised savings).
        if (s.passage_id, s.ordinal) not in taken
        and s.passage_id not in pinned_passages
        and _same_unit(figure, s.figure)
    ]
    if not stored:
        return [], []
    vectors = vectors_for(store, [(s.passage_id, s.sub) for s in stored])
    passages = store.passages_by_id(sorted({s.passage_id for s in stored}))
    # one statement per (document, sentence, value): passages overlap by a sentence
    best: dict[tuple[str, str, bool], tuple[float, StoredFigure]] = {}
    for s in stored:
        vector = vectors.get((s.passage_id, s.sub))
        passage = passages[s.passage_id]
        if vector is None or is_reference_section(passage.section):
            continue
        same = any(s.figure.same_value(value) for value in figure.values)
        if not same and not _comparable(s.figure, figure.values):
            continue
        score = round(float(vector @ context), 4)
        if score < (same_threshold if same else different_threshold):
            continue
        sentence = _folded(_sentence_at(passage.text, s.figure.start))
        if any(q in sentence and s.figure.same_value(v) for q, v in quoted):
            continue  # the book already pins this sentence's value (here or in an overlap)
        key = (passage.document_id, sentence, same)
        if key not in best or score > best[key][0]:
            best[key] = (score, s)
    documents = store.documents_by_id({p.document_id for p in passages.values()})
    also, differs = [], []
    for (_, _, same), (score, s) in sorted(best.items(), key=lambda item: -item[1][0]):
        passage = passages[s.passage_id]
        document = documents[passage.document_id]
        statement = Statement(
            role=ALSO if same else DIFFERS,
            value=s.figure.label if figure.kind != COUNT else s.figure.text,
            figure=s.figure,
            passage=passage,
            document=document,
            citation=cite(document, passage),
            url=permalink(passage),
            quote=_sentence_at(passage.text, s.figure.start),
            score=score,
            highlights=[Span(s.figure.start, s.figure.end, VALUE_SPAN_KIND)],
        )
        (also if same else differs).append(statement)
    return also, differs


def _comparable(found: Figure, values: Sequence[Figure]) -> bool:
    """Whether a different value is close enough in size to be a rival statement of the same
    figure: within MAX_RATIO of one of its values (£172m against £190m, not £16.2m)."""
    for value in values:
        low, high = sorted((abs(found.value), abs(value.value)))
        if low > 0 and high / low <= MAX_RATIO:
            return True
    return False


def _same_unit(figure: BookFigure, found: Figure) -> bool:
    if figure.kind != COUNT:
        return found.unit == figure.unit
    wanted = {w.rstrip("s") for w in figure.unit.lower().split()}
    return bool(wanted & {w.rstrip("s") for w in found.unit.split()})


def _sentence_at(text: str, position: int) -> str:
    """The sentence of text that holds position (for showing a found value in context)."""
    for start, end in sentence_spans(text):
        if start <= position < end:
            return text[start:end]
    return text.strip()
