"""Helpers the loaders share: decoding text, tidying whitespace, turning headings into sections."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from dataclasses import replace

from ingest.blocks import Block

SECTION_SEPARATOR = " > "

_SPACE = re.compile(r"\s+")
# Soft hyphens, zero-width characters and stray byte-order marks are invisible in print but split
# words for search and tokenizers.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def tidy(text: str) -> str:
    """Collapse every run of whitespace to one space and drop invisible characters."""
    return _SPACE.sub(" ", text.translate(_INVISIBLE)).strip()


def decode_text(data: bytes) -> str:
    """Decode a text file: a byte-order mark wins, then UTF-8, then cp1252, then latin-1.

    Args:
        data: the file's bytes.

    Returns:
        The text with Windows and old Mac line endings turned into "\\n".
    """
    text = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            break
    for encoding in ("utf-8", "cp1252"):
        if text is not None:
            break
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if text is None:
        # latin-1 maps every byte, so this always succeeds: the last resort.
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Heading:
    """A heading met while reading a file; level 0 is an explicit document title."""

    level: int
    text: str


def assemble(items: list[Heading | Block]) -> tuple[list[Block], str | None]:
    """Give each block the section path of the headings above it.

    A lone H1 that is the first heading is the document's title, so sections start at H2;
    several H1s are sections themselves (the first still names the document).

    Args:
        items: headings and blocks in reading order; the blocks' sections are ignored.

    Returns:
        The blocks with their sections set, and the title found (or None).
    """
    headings = [item for item in items if isinstance(item, Heading) and item.text]
    title_heading = next((h for h in headings if h.level == 0), None)
    h1s = [h for h in headings if h.level == 1]
    if title_heading is None and len(h1s) == 1 and headings[0] is h1s[0]:
        title_heading = h1s[0]
    title = title_heading.text if title_heading else (h1s[0].text if h1s else None)

    stack: list[Heading] = []
    blocks: list[Block] = []
    last_heading: Block | None = None
    for item in items:
        if isinstance(item, Heading) and item.text and item is not title_heading and item.level > 0:
            while stack and stack[-1].level >= item.level:
                stack.pop()
            stack.append(item)
            # The heading is text of the document too: it opens its section's first passage, so
            # a passage can be found (and quoted) by the words of its heading.
            path = SECTION_SEPARATOR.join(h.text for h in stack)
            if not any(b.section for b in blocks):
                # Text before the first heading (a cover line, a standfirst) is read as the
                # start of the first section, rather than a stray passage of its own.
                blocks = [replace(b, section=path) for b in blocks]
            if blocks and blocks[-1] is last_heading:
                # A heading with no text of its own (straight into a sub-heading) would be a
                # passage of a few words; its words live on in the sub-sections' paths.
                blocks.pop()
            last_heading = Block(text=item.text, page=None, section=path, heading=True)
            blocks.append(last_heading)
        elif isinstance(item, Block):
            path = SECTION_SEPARATOR.join(h.text for h in stack)
            blocks.append(replace(item, section=path))
    if blocks and blocks[-1] is last_heading:
        blocks.pop()  # a last heading with nothing under it
    if not stack and title:
        # A document with no sections at all: cite its text under the title.
        blocks = [replace(b, section=title) for b in blocks]
    return _pages_for_headings(blocks), title


def _pages_for_headings(blocks: list[Block]) -> list[Block]:
    """A heading is printed on the page (or in the range of pages) of the text that follows it.

    Only a heading takes a page from elsewhere: text before the first page marker has no page
    we know, and neither does a heading over it.
    """
    result = list(blocks)
    following: tuple[str | None, str | None] = (None, None)
    for i in range(len(result) - 1, -1, -1):
        block = result[i]
        if not block.heading:
            following = block.pages
        elif block.page is None and following[0] is not None:
            result[i] = replace(block, page=following[0], page_end=following[1])
    return result
