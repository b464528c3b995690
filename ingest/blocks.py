"""The common output of every loader."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """A run of text with the printed page it sits on and its section path.

    `section` joins the heading path with " > " ("Exposing the myths > Front office");
    `page` is the printed page label ("4", "iv") or None where the format has no pages.
    Blocks are paragraphs or list items: the splitter never joins text across sections.
    """

    text: str
    page: str | None
    section: str


@dataclass(frozen=True)
class LoadedFile:
    """What a loader returns: the blocks and a title found in the file itself, if any."""

    blocks: list[Block]
    title: str | None = None
    page_count: int | None = None
