"""What every pack file says, in order, whatever its format: the writers only lay it out.

`blocks` walks a resolved pack into a flat list of what to write; the sentences that frame the
pack are here once, so Word, Markdown and plain text say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.citations import reference
from kb.citations import source_reference
from kb.myths.models import Myth
from kb.packs import Pack
from kb.packs import PackHeading
from kb.packs import PackItem
from kb.packs import missing_sentence

REFERENCES_HEADING = "References"
MYTH_LABEL = "Myth"
ANSWER_LABEL = "The evidence says"
NOTE_LABEL = "Note"
LINK_LABEL = "Read in context"


@dataclass(frozen=True)
class Block:
    """One thing to write: kind is "heading", "myth", "quote" or "missing"."""

    kind: str
    heading: str = ""
    myth: Myth | None = None
    item: PackItem | None = None
    text: str = ""


def intro(pack: Pack, base_url: str) -> str:
    """The line under the title: when and where from."""
    day = f"{pack.created.day} {pack.created:%B %Y}"
    count = len(pack.items)
    quotes = "1 quote" if count == 1 else f"{count} quotes"
    return (
        f"Prepared on {day} from the shared-services evidence base ({base_url.rstrip('/')}): "
        f"{quotes}, each the stored text of its passage with its citation."
    )


def blocks(pack: Pack) -> list[Block]:
    """The pack's content in order: the missing-items line first (when any), then headings,
    each myth's claim and answer before the first of its quotes in a row, and the quotes."""
    out: list[Block] = []
    gone = missing_sentence(pack)
    if gone:
        out.append(Block("missing", text=gone))
    last_myth: str | None = None
    for entry in pack.entries:
        if isinstance(entry, PackHeading):
            out.append(Block("heading", heading=entry.text))
            last_myth = None
            continue
        if entry.myth is not None and entry.myth.id != last_myth:
            out.append(Block("myth", myth=entry.myth))
        last_myth = entry.myth.id if entry.myth else None
        out.append(Block("quote", item=entry))
    return out


def reference_list(pack: Pack) -> list[str]:
    """The Harvard references of every quoted document and of every primary source a quoted
    passage cites (a quote "cited in" our case study names both), once each, alphabetically.

    A reader checks a figure against the primary source, so it must be in the list, not only
    the document that repeats it.
    """
    entries = {reference(document) for document in pack.documents()}
    entries.update(
        source_reference(source) for item in pack.items for source in item.citation.sources
    )
    return sorted(entries, key=lambda entry: entry.replace("*", "").casefold())


def passage_paragraphs(item: PackItem) -> list[str]:
    """The quoted passage's lines (a list or a table in a document keeps its lines)."""
    return [line.strip() for line in item.passage.text.splitlines() if line.strip()]
