"""The common output of every loader."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.footnotes import Definition
    from kb.models import Source


@dataclass(frozen=True)
class Block:
    """A run of text with the printed page it sits on and its section path.

    `section` joins the heading path with " > " ("Exposing the myths > Front office");
    `page` is the printed page label ("4", "iv") or None where the format has no pages. When
    the page is known only to lie in a range (a section that runs from p. 9 to p. 11), `page`
    is the first page of it and `page_end` the last.
    Blocks are paragraphs or list items: the splitter never joins text across sections.
    `source_keys` are the source keys the block cites (Markdown footnotes), `line` the line of
    the file it starts on where the format has lines, and `heading` marks a heading's text.
    """

    text: str
    page: str | None
    section: str
    page_end: str | None = None
    source_keys: tuple[str, ...] = ()
    line: int | None = None
    heading: bool = False

    @property
    def pages(self) -> tuple[str | None, str | None]:
        return self.page, self.page_end


@dataclass(frozen=True)
class LoadedFile:
    """What a loader returns: the blocks and a title found in the file itself, if any."""

    blocks: list[Block]
    title: str | None = None
    page_count: int | None = None
    definitions: tuple[Definition, ...] = ()  # Sources entries `[^key]: ...`, as written
    # Pages whose text came from OCR: printed page label -> Tesseract's mean word confidence.
    ocr_pages: dict[str, float] = field(default_factory=dict)

    @property
    def sources(self) -> tuple[Source, ...]:
        """The well-formed Sources entries, the first of each key."""
        found: dict[str, Source] = {}
        for definition in self.definitions:
            if definition.source is not None:
                found.setdefault(definition.key, definition.source)
        return tuple(found.values())
