"""HTML loader: the page's main text (trafilatura), read with BeautifulSoup over lxml; headings
give sections.

A web page is mostly not its article: navigation, share buttons, account menus and notices sit
in ordinary <div>s. readability-lxml finds the article and keeps its headings, paragraphs, lists
and tables (chosen over trafilatura by bench/html_extraction.py; figures in docs/ingestion.md).
A page with no article to find (a plain document saved as HTML) is read whole.

The bytes are decoded here, not by the declared charset alone: a page that is valid UTF-8 is
UTF-8 whatever it declares (a UTF-8 page declaring gb2312 is common), else the declared charset
if the bytes fit it, else charset-normalizer's best guess.

Not the stdlib's html.parser: the one in Python 3.11.7 rescans to the end of the file for every
`<` that is never closed, so 60 KB of "<a <a <a" took 37 s (quadratic time); lxml reads it in
milliseconds (see tests/test_fuzz.py).
"""

from __future__ import annotations

import logging
import re
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
    """Read an HTML page's main text into blocks with section paths.

    Args:
        data: the file's bytes.
        name: the file's name, for error messages.

    Returns:
        The blocks (paragraphs, list items, quotes, table cells, preformatted text) of the
        article, or of the whole page when no article stands out, and the title from <title>
        or the first h1.
    """
    try:
        markup = decode_html(data)
        with warnings.catch_warnings():
            # bs4 warns about content that merely looks like a URL or a filename.
            warnings.simplefilter("ignore")
            page = BeautifulSoup(markup, "lxml")
            article = article_element(page, markup)
            # An article's own <header> holds its headline; the page's <header> is a banner.
            dropped = DROPPED if article is page else DROPPED - {"header"}
            items = list(_items(article, dropped, link_lists=article is page))
        title_tag = page.find("title") or page.find("h1")
        found_title = tidy(title_tag.get_text(" ")) if title_tag else ""
    except IngestError:
        raise
    except Exception as exc:
        raise CorruptFile(f"{name} is damaged and cannot be read as HTML.") from exc
    blocks, heading_title = assemble(items)
    return LoadedFile(blocks=blocks, title=found_title or heading_title)


_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def decode_html(data: bytes) -> str:
    """The page's text: UTF-8 when the bytes are UTF-8, else the declared charset, else a guess."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = _DECLARED.search(data[:4096])
    if declared:
        try:
            return data.decode(declared[1].decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("cp1252", errors="replace")


def main_text_html(markup: str) -> str | None:
    """readability-lxml's article: its paragraphs (it drops short lists and tables)."""
    from readability import Document  # only the ingesting process loads it

    summary = Document(markup).summary(html_partial=True)
    return summary if summary and summary.strip() else None


# Paragraphs shorter than this are too common ("Share", "Advertisement") to locate the article.
_MIN_LOCATING_CHARS = 40


def article_element(page: BeautifulSoup, markup: str) -> Tag | BeautifulSoup:
    """The element of the page that holds its article: the closest common ancestor of the
    paragraphs readability-lxml keeps. Walking that element of the page itself (rather than
    readability's summary) keeps the article's headings, lists and tables, which readability
    drops; the navigation, share bars and notices outside it are left out."""
    summary = main_text_html(markup)
    if not summary:
        return page
    kept = {
        key
        for p in BeautifulSoup(summary, "lxml").find_all("p")
        if len(key := tidy(p.get_text(" "))) >= _MIN_LOCATING_CHARS
    }
    found = [p for p in page.find_all("p") if tidy(p.get_text(" ")) in kept]
    if not found:
        return page
    # The closest common ancestor: the deepest element on every found paragraph's parent chain.
    chains = [list(reversed(list(p.parents))) for p in found]
    ancestor = None
    for level in zip(*chains, strict=False):
        if any(element is not level[0] for element in level):
            break
        ancestor = level[0]
    return ancestor if ancestor is not None and ancestor.name != "[document]" else page


def _items(
    soup: BeautifulSoup | Tag, dropped: frozenset = DROPPED, link_lists: bool = True
) -> Iterator[Heading | Block]:
    """Walk the tree without recursion (pages can nest thousands deep), emitting text runs.

    Args:
        soup: where to start (the page, or its article).
        dropped: elements left out with everything inside them.
        link_lists: keep a short run of text that is nearly all links ("Facebook Twitter
            Email", a menu); an article's walk leaves them out.
    """
    run: list[str] = []
    linked: list[str] = []  # the part of the run that is link text
    # (children, is a block, inside a link)
    stack: list[tuple[Iterator, bool, bool]] = [(iter(soup.children), True, False)]
    while stack:
        node = next(stack[-1][0], None)
        if node is None:
            _, is_block, _ = stack.pop()
            if is_block:
                yield from _flush(run, linked, link_lists)
            continue
        if isinstance(node, PreformattedString):
            continue  # comments, doctype, CDATA, processing instructions
        if isinstance(node, NavigableString):
            run.append(str(node))
            if stack[-1][2]:
                linked.append(str(node))
        elif isinstance(node, Tag) and _visible(node, dropped):
            if node.name == "br":
                run.append(" ")
            elif node.name in INLINE:
                stack.append((iter(node.children), False, stack[-1][2] or node.name == "a"))
            else:
                yield from _flush(run, linked, link_lists)
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
        stack.append((iter(node.children), True, False))


def _visible(node: Tag, dropped: frozenset = DROPPED) -> bool:
    hidden = node.has_attr("hidden") or node.get("aria-hidden") == "true"
    return node.name not in dropped and not hidden


# A run of text at most this many words and at least this share links is a menu or a share bar.
_LINK_LIST_WORDS = 12
_LINK_LIST_SHARE = 0.8


def _flush(run: list[str], linked: list[str], link_lists: bool = True) -> Iterator[Block]:
    text = tidy("".join(run))
    links = tidy("".join(linked))
    run.clear()
    linked.clear()
    if not text:
        return
    if (
        not link_lists
        and len(text.split()) <= _LINK_LIST_WORDS
        and len(links) >= _LINK_LIST_SHARE * len(text)
    ):
        return
    yield Block(text, None, "")
