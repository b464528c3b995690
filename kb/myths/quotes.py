"""Reading corpus/myths.toml and checking that every pinned quote sits in a stored passage."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kb.catalog import SLUG
from kb.catalog import read_entries
from kb.errors import CatalogError
from kb.models import Passage
from kb.myths.models import _QUOTES
from kb.myths.models import _REQUIRED
from kb.myths.models import Myth
from kb.myths.models import PinnedQuote

if TYPE_CHECKING:
    from kb.store import Store


def load_myths(path: Path) -> list[Myth]:
    """Read and check `myths.toml`.

    Args:
        path: the myths file.

    Returns:
        The myths in file order.

    Raises:
        CatalogError: the file is missing or not TOML, a myth lacks a field or has one of the
            wrong type, or two myths share an id.
    """
    myths: list[Myth] = []
    seen: set[str] = set()
    for number, raw in enumerate(read_entries(path, "myth", "The myths file"), start=1):
        myth = _parse_myth(raw, f"Myth {number} ({raw.get('id', 'no id')}) in {path}")
        if myth.id in seen:
            raise CatalogError(f"The myths file {path} uses the id {myth.id!r} twice.")
        seen.add(myth.id)
        myths.append(myth)
    return myths


def _parse_myth(raw: dict, where: str) -> Myth:
    missing = [name for name in _REQUIRED if name not in raw]
    if missing:
        raise CatalogError(f"{where} lacks {', '.join(missing)}.")
    for name in ("id", "claim", "answer"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise CatalogError(f"{where} needs {name} to be non-empty text.")
    if not SLUG.match(raw["id"]):
        raise CatalogError(f"{where} needs an id of lower-case letters, digits and hyphens.")
    queries = raw["queries"]
    if not isinstance(queries, list) or not queries or not all(_is_text(q) for q in queries):
        raise CatalogError(f"{where} needs queries to be a non-empty list of text.")
    evidence = raw["evidence"]
    if not isinstance(evidence, list) or not evidence:
        raise CatalogError(f"{where} needs at least one [[myth.evidence]] entry.")
    other_side = raw.get("other_side", [])
    if not isinstance(other_side, list):
        raise CatalogError(f"{where} needs other_side to be [[myth.other_side]] entries.")
    return Myth(
        id=raw["id"],
        claim=raw["claim"].strip(),
        answer=raw["answer"].strip(),
        queries=tuple(q.strip() for q in queries),
        evidence=_quotes(evidence, f"{where} has an evidence entry"),
        other_side=_quotes(other_side, f"{where} has an other_side entry"),
    )


def _quotes(entries: list, where: str) -> tuple[PinnedQuote, ...]:
    """[[myth.evidence]] or [[myth.other_side]] entries: document, quote and optional note."""
    quotes = []
    for entry in entries:
        if not isinstance(entry, dict) or not (
            _is_text(entry.get("document")) and _is_text(entry.get("quote"))
        ):
            raise CatalogError(f"{where} without a document and a quote.")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise CatalogError(f"{where} whose note is not text.")
        quotes.append(PinnedQuote(entry["document"].strip(), entry["quote"].strip(), note.strip()))
    return tuple(quotes)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


# -- pinned quotes ----------------------------------------------------------------------------


def _fold(text: str) -> tuple[str, list[int]]:
    """Text lower-cased, curly quotes straightened and whitespace runs made one space, with the
    index in the original text of each folded character."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                where.append(index)
            continue
        for folded in char.translate(_QUOTES).lower():
            chars.append(folded)
            where.append(index)
    return "".join(chars), where


def _folded(text: str) -> str:
    """The folded text alone, quickly (string methods in C), for containment tests."""
    return " ".join(text.translate(_QUOTES).lower().split())


def contains_quote(text: str, quote: str) -> bool:
    """Whether the quote is in the text, ignoring case, whitespace and curly quotation marks."""
    needle = _folded(quote)
    return bool(needle) and needle in _folded(text)


def quote_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where a quote sits in a text, ignoring case and whitespace differences, as (start, end)
    offsets into the text; None when it is not there."""
    needle, _ = _fold(quote)
    needle = needle.strip()
    if not needle:
        return None
    haystack, where = _fold(text)
    start = haystack.find(needle)
    if start < 0:
        return None
    return where[start], where[start + len(needle) - 1] + 1


def resolve_quote(store: Store, pinned: PinnedQuote) -> Passage | None:
    """The first passage of the quote's document that contains the whole quote.

    The quote must lie inside one passage: a quote that only spans two consecutive passages
    does not resolve, so that the passage shown always holds the words quoted.
    """
    return _first_holding(store.passages_of(pinned.document_id), pinned.quote)


def _first_holding(passages: Sequence[Passage], quote: str) -> Passage | None:
    return next((p for p in passages if contains_quote(p.text, quote)), None)


def check_pinned(myths: Sequence[Myth], store: Store, *, missing_ok: bool = False) -> list[str]:
    """One sentence per pinned quote that no longer matches a passage (empty when all do).

    A quote whose document is not in the store counts as broken, unless missing_ok (a data
    folder holding other documents than the corpus, where only present documents are checked).
    """
    pins = [(f"Myth {myth.id!r}", pinned) for myth in myths for pinned in myth.evidence]
    pins += [
        (f"Myth {myth.id!r} (the other side's quote)", quoted)
        for myth in myths
        for quoted in myth.other_side
    ]
    return check_quotes(pins, store, missing_ok=missing_ok)


def check_quotes(
    pins: Iterable[tuple[str, PinnedQuote]], store: Store, *, missing_ok: bool = False
) -> list[str]:
    """One sentence per quote that no longer matches a passage of its document.

    Args:
        pins: (who pins it, e.g. "Myth 'sharing-saves-big'", the pinned quote).
        store: where the passages are.
        missing_ok: a quote whose document is not in the store is not counted as broken.
    """
    problems = []
    passages: dict[str, list[Passage]] = {}
    for who, pinned in pins:
        if pinned.document_id not in passages:
            passages[pinned.document_id] = store.passages_of(pinned.document_id)
        found = passages[pinned.document_id]
        words = _first_words(pinned.quote)
        if not found and not missing_ok:
            problems.append(
                f'{who} pins the quote "{words}" to {pinned.document_id!r}, '
                f"which is not in the store."
            )
        elif found and _first_holding(found, pinned.quote) is None:
            problems.append(
                f'{who} pins the quote "{words}" to {pinned.document_id!r}, '
                f"but no passage of that document contains it."
            )
    return problems


def _first_words(quote: str, count: int = 8) -> str:
    words = quote.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


# -- evidence ---------------------------------------------------------------------------------
