"""The figure book, `corpus/figures.toml`: each figure, what it measures, and what each source
says it is, pinned to a verbatim quote.

A pinned quote follows the rules of `corpus/myths.toml` and is checked by the same code
(kb.myths.quotes): it must sit inside one passage of its document, or `kb ingest` and `kb check`
fail naming the figure. The value an entry gives must be stated in its quote ("£4.6m" in
"duplicate payments of £4.6m"), read by the same extractor as every passage (kb.figures.extract).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.catalog import SLUG
from kb.catalog import read_entries
from kb.errors import CatalogError
from kb.figures.extract import COUNT
from kb.figures.extract import MONEY
from kb.figures.extract import PERCENT
from kb.figures.extract import Figure
from kb.figures.extract import extract_figures
from kb.figures.extract import parse_value
from kb.myths.models import PinnedQuote
from kb.myths.quotes import check_quotes

if TYPE_CHECKING:
    from kb.store import Store

_UNIT_KINDS = {"GBP": MONEY, "USD": MONEY, "EUR": MONEY, "%": PERCENT}


@dataclass(frozen=True)
class SourceValue:
    """What one source says a figure is.

    Attributes:
        document_id: the document holding the quote (a catalog id).
        value: the value as the book writes it ("£190m", "more than £25m", "2,200 bills").
        figure: that value, read by the extractor.
        quote: verbatim words of the document that state the value.
        said_by: who states it, when the document reports another's figure ("Computer Weekly").
        note: how this source's measure differs from the others' (our words), or "".
    """

    document_id: str
    value: str
    figure: Figure
    quote: str
    said_by: str = ""
    note: str = ""

    @property
    def pinned(self) -> PinnedQuote:
        return PinnedQuote(self.document_id, self.quote)


@dataclass(frozen=True)
class BookFigure:
    """One figure of the book.

    Attributes:
        id: a slug, the figure's permalink.
        measures: what it measures, in one plain sentence.
        unit: "GBP" (or "USD", "EUR"), "%", or the thing counted ("bills").
        sources: one entry per source, in the book's order.
        note: why the sources' values differ, in words; required when they do.
        queries: searches that are about this figure (for the card above search results).
    """

    id: str
    measures: str
    unit: str
    sources: tuple[SourceValue, ...]
    note: str = ""
    queries: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return _UNIT_KINDS.get(self.unit, COUNT)

    @property
    def values(self) -> list[Figure]:
        """The distinct values its sources give, in book order."""
        distinct: list[Figure] = []
        for source in self.sources:
            if not any(source.figure.same_value(seen) for seen in distinct):
                distinct.append(source.figure)
        return distinct

    @property
    def differs(self) -> bool:
        """Whether its sources give different values."""
        return len(self.values) > 1


def load_figures(path: Path) -> list[BookFigure]:
    """Read and check `figures.toml`.

    Raises:
        CatalogError: the file is missing or not TOML; an entry lacks a field, has an id used
            before, a value that is not one figure of its unit, a value its quote does not state,
            or sources that differ without a note saying why.
    """
    figures: list[BookFigure] = []
    seen: set[str] = set()
    for number, raw in enumerate(read_entries(path, "figure", "The figure book"), start=1):
        where = f"Figure {number} ({raw.get('id', 'no id')}) in {path}"
        figure = _parse_figure(raw, where)
        if figure.id in seen:
            raise CatalogError(f"The figure book {path} uses the id {figure.id!r} twice.")
        seen.add(figure.id)
        figures.append(figure)
    return figures


def _parse_figure(raw: dict, where: str) -> BookFigure:
    missing = [name for name in ("id", "measures", "unit", "source") if name not in raw]
    if missing:
        raise CatalogError(f"{where} lacks {', '.join(missing)}.")
    for name in ("id", "measures", "unit"):
        if not _is_text(raw[name]):
            raise CatalogError(f"{where} needs {name} to be non-empty text.")
    if not SLUG.match(raw["id"]):
        raise CatalogError(f"{where} needs an id of lower-case letters, digits and hyphens.")
    unit = raw["unit"].strip()
    raw_sources = raw["source"]
    if not isinstance(raw_sources, list) or not raw_sources:
        raise CatalogError(f"{where} needs at least one [[figure.source]] entry.")
    sources = tuple(
        _parse_source(entry, f"{where}, source {n}", unit)
        for n, entry in enumerate(raw_sources, start=1)
    )
    queries = raw.get("queries", [])
    if not isinstance(queries, list) or not all(_is_text(q) for q in queries):
        raise CatalogError(f"{where} needs queries to be a list of text.")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise CatalogError(f"{where} needs its note to be text.")
    figure = BookFigure(
        id=raw["id"],
        measures=raw["measures"].strip(),
        unit=unit,
        sources=sources,
        note=" ".join(note.split()),
        queries=tuple(q.strip() for q in queries),
    )
    if figure.differs and not figure.note:
        raise CatalogError(
            f"{where}: its sources give different values, so it needs a note saying why."
        )
    return figure


def _parse_source(entry: object, where: str, unit: str) -> SourceValue:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where} is not a table.")
    for name in ("document", "value", "quote"):
        if not _is_text(entry.get(name)):
            raise CatalogError(f"{where} needs {name} to be non-empty text.")
    for name in ("said_by", "note"):
        if not isinstance(entry.get(name, ""), str):
            raise CatalogError(f"{where} needs {name} to be text.")
    value, quote = entry["value"].strip(), entry["quote"].strip()
    try:
        figure = parse_value(value)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    expected = _UNIT_KINDS.get(unit, COUNT)
    if figure.kind != expected or (expected != COUNT and figure.unit != unit):
        raise CatalogError(f"{where} gives {value!r}, which is not in the figure's unit {unit}.")
    if not any(figure.same_value(found) for found in extract_figures(quote)):
        raise CatalogError(f"{where} gives {value!r}, but its quote does not state that value.")
    return SourceValue(
        document_id=entry["document"].strip(),
        value=value,
        figure=figure,
        quote=quote,
        said_by=entry.get("said_by", "").strip(),
        note=" ".join(entry.get("note", "").split()),
    )


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_book(
    figures: Sequence[BookFigure], store: Store, *, missing_ok: bool = False
) -> list[str]:
    """One sentence per pinned quote of the book that no longer matches a passage."""
    pins = [(f"Figure {f.id!r}", s.pinned) for f in figures for s in f.sources]
    return check_quotes(pins, store, missing_ok=missing_ok)
