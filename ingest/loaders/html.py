"""HTML loader: BeautifulSoup over lxml (libxml2); headings give sections.

Not the stdlib's html.parser: the one in Python 3.11.7 rescans to the end of the file for every
`<` that is never closed, so 60 KB of "<a <a <a" took 37 s (quadratic time); lxml reads it in
milliseconds (see tests/test_fuzz.py).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4 import NavigableString
from bs4 import Tag
from bs4.element import PreformattedString

from ingest.blocks import Block
from ingest.blocks import LoadedFile
from ingest.loaders.common import Heading
from ingest.loaders.common import assemble
from ingest.loaders.common import tidy
from kb.errors import CorruptFile
from kb.errors import IngestError

# A page whose bytes fit no encoding is still read, with replacement characters; bs4 need not
# log that for every such page.
logging.getLogger("bs4.dammit").setLevel(logging.ERROR)

# Page furniture and non-text content: none of it is evidence (the title is read separately).
DROPPED = frozenset(
    "head title script style nav header footer aside noscript form template svg iframe object"
    " button select canvas".split()
)
HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that sit inside a line of text; everything else starts a new block.
INLINE = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd label mark q s samp small"
    " span strong sub sup time tt u var wbr".split()
)


def load_html(data: bytes, name: str) -> LoadedFile:
    """Read an HTML page's visible text into blocks with section paths.

    Args:
        data: the file's bytes (BeautifulSoup honours a declared charset).
        name: the file's name, for error messages.

    Returns:
        The blocks (paragraphs, list items, quotes, table cells, preformatted text) and the
        title from <title> or the first h1.
    """
    try:
        with warnings.catch_warnings():
            # bs4 warns about content that merely looks like a URL or a filename.
            warnings.simplefilter("ignore")
            soup = BeautifulSoup(data, "lxml")
        items = list(_items(soup))
        title_tag = soup.find("title") or soup.find("h1")
        found_title = tidy(title_tag.get_text(" ")) if title_tag else ""
    except IngestError:
        raise
    except Exception as exc:
        raise CorruptFile(f"{name} is damaged and cannot be read as HTML.") from exc
    blocks, heading_title = assemble(items)
    return LoadedFile(blocks=blocks, title=found_title or heading_title)


def _items(soup: BeautifulSoup) -> Iterator[Heading | Block]:
    """Walk the tree without recursion (pages can nest thousands deep), emitting text runs."""
    run: list[str] = []
    stack: list[tuple[Iterator, bool]] = [(iter(soup.children), True)]
    while stack:
        node = next(stack[-1][0], None)
        if node is None:
            _, is_block = stack.pop()
            if is_block:
                yield from _flush(run)
            continue
        if isinstance(node, PreformattedString):
            continue  # comments, doctype, CDATA, processing instructions
        if isinstance(node, NavigableString):
            run.append(str(node))
        elif isinstance(node, Tag) and _visible(node):
            if node.name == "br":
                run.append(" ")
            elif node.name in INLINE:
                stack.append((iter(node.children), False))
            else:
                yield from _flush(run)
                yield from _element(node, stack)


def _element(node: Tag, stack: list) -> Iterator[Heading | Block]:
    """A block-level element: a heading, preformatted text, or a container to walk into."""
    if node.name in HEADINGS:
        yield Heading(HEADINGS[node.name], tidy(node.get_text(" ")))
    elif node.name == "pre":
        text = node.get_text().strip("\n")
        if text.strip():
            yield Block(text, None, "")
    else:
        stack.append((iter(node.children), True))


def _visible(node: Tag) -> bool:
    hidden = node.has_attr("hidden") or node.get("aria-hidden") == "true"
    return node.name not in DROPPED and not hidden


def _flush(run: list[str]) -> Iterator[Block]:
    text = tidy("".join(run))
    run.clear()
    if text:
        yield Block(text, None, "")
