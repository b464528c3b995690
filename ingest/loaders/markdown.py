"""Markdown loader: ATX headings give sections, `<!-- page N -->` lines give printed pages,
`<!-- pages N-M -->` lines a range of pages where the page is not known exactly, and footnote
references `[^key]` the source keys of a paragraph (see ingest/footnotes.py)."""

from __future__ import annotations

import re

from ingest.blocks import Block
from ingest.blocks import LoadedFile
from ingest.footnotes import DEFINITION
from ingest.footnotes import Definition
from ingest.footnotes import parse_definition
from ingest.footnotes import take_references
from ingest.loaders.common import Heading
from ingest.loaders.common import assemble
from ingest.loaders.common import decode_text
from ingest.loaders.common import tidy

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
# `<!-- page 9 -->`: the text below is on printed page 9. `<!-- pages 9-11 -->`: it is somewhere
# on pages 9 to 11 (a section's pages known only from a contents list). `<!-- page ? -->`: its
# page is not known (a back cover).
_PAGE_MARKER = re.compile(
    r"^[ \t]*<!--\s*(?:pages[\s:]*(\S+?)\s*[-\u2013]\s*(\S+?)|page[\s:]*(\S+?))\s*-->[ \t]*$",
    re.I | re.M,
)
# An unclosed comment runs to the end of the file, as a browser would read it.
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# NUL never occurs in text we accept, so it safely marks where a page marker stood.
_PAGE_SENTINEL = re.compile(r"^\x00page (\d+)\x00$")
# Every pattern here runs in time linear in the line: no two unbounded runs can trade characters
# (possessive quantifiers), and an opening mark's span stops at the next mark of its kind. The
# earlier lazy `(.+?)` forms rescanned to the end of the paragraph for every unclosed mark, so
# 80 KB of "**a " took 19 s (quadratic time; tests/test_fuzz.py).
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]++(.*))?$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_RULE = re.compile(r"^\s*+\|?\s*+:?-++:?\s*+(?:\|\s*+:?-++:?\s*+)*+\|?\s*+$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
# A link's text has no brackets inside; its address may hold one level of parentheses (and a
# title in quotes).
_LABEL = r"\[([^\[\]]*+)\]"
_TARGET = r"\((?:[^()]|\([^()]*+\))*+\)"
_INLINE = (
    (re.compile(r"!" + _LABEL + _TARGET), r"\1"),  # images keep their alt text
    (re.compile(_LABEL + _TARGET), r"\1"),
    (re.compile(r"\[([^\[\]]++)\]\[[^\[\]]*+\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^<>\s]++)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^<>]*+>"), ""),
    (re.compile(r"`+([^`]*)`+"), r"\1"),
)
# Emphasis runs twice, so that a mark nested in another ("**a *b* c**") is removed too.
_EMPHASIS = (
    (re.compile(r"\*\*(?=\S)([^*]++)(?<=\S)\*\*"), r"\1"),
    (re.compile(r"__(?=\S)([^_]++)(?<=\S)__"), r"\1"),
    (re.compile(r"\*(?=\S)([^*]++)(?<=\S)\*"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)([^_]++)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)([^~]++)(?<=\S)~~"), r"\1"),
)
# Escaped characters hide in a private-use plane while the markup is removed.
_HIDE = 0xF0000


def load_markdown(data: bytes, name: str) -> LoadedFile:
    """Read Markdown into paragraph and list-item blocks with section paths and printed pages.

    Args:
        data: the file's bytes.
        name: the file's name (unused: Markdown cannot be damaged, only odd).

    Returns:
        The blocks and the title (a lone leading H1).
    """
    lines, pages = _prepare(decode_text(data))
    definitions: list[Definition] = []
    blocks, title = assemble(_items(lines, pages, definitions))
    return LoadedFile(blocks=blocks, title=title, definitions=tuple(definitions))


def _prepare(text: str) -> tuple[list[str], list[tuple[str, str | None]]]:
    """Drop front matter and comments, keeping page markers as sentinel lines.

    Every line keeps its number (what is dropped leaves blank lines), so that a problem can be
    reported at its line of the file. Returns the lines and the pages the sentinels stand for.
    """
    text = text.lstrip("\ufeff")
    text = _FRONT_MATTER.sub(lambda m: "\n" * m.group().count("\n"), text, count=1)
    pages: list[tuple[str, str | None]] = []

    def sentinel(match: re.Match) -> str:
        first, last, single = match.groups()
        if single == "?":
            pages.append((None, None))
        else:
            pages.append((single, None) if single else (first, last if last != first else None))
        return f"\x00page {len(pages) - 1}\x00"

    text = _PAGE_MARKER.sub(sentinel, text)
    text = _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    return text.split("\n"), pages


def _items(
    lines: list[str], pages: list[tuple[str, str | None]], definitions: list[Definition]
) -> list[Heading | Block]:
    items: list[Heading | Block] = []
    paragraph: list[str] = []
    page: str | None = None
    page_end: str | None = None
    fence: str | None = None
    first_line = 0

    def flush(raw: bool = False) -> None:
        if raw:
            text, keys = "\n".join(paragraph).strip(), ()
        else:
            text, keys = take_references(" ".join(paragraph))
            text = inline_text(text)
        if text:
            items.append(Block(text, page, "", page_end, keys, first_line))
        paragraph.clear()

    def start(number: int) -> None:
        nonlocal first_line
        if not paragraph:
            first_line = number

    for number, line in enumerate(lines, start=1):
        if marker := _PAGE_SENTINEL.match(line):
            flush(raw=fence is not None)  # a page turn splits even a code block: one page each
            page, page_end = pages[int(marker.group(1))]
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                flush(raw=True)
            else:
                start(number)
                paragraph.append(line)
            continue
        heading = _HEADING.match(line)
        if heading or not line.strip() or _FENCE.match(line) or _is_row(line):
            flush()
        if heading:
            text, _ = take_references(_without_closing_hashes(heading.group(2) or ""))
            items.append(Heading(len(heading.group(1)), inline_text(text)))
        elif _FENCE.match(line):
            fence = _FENCE.match(line).group(1)
        elif len(paragraph) == 1 and _SETEXT.match(line) and not _ITEM.match(paragraph[0]):
            text, _ = take_references(" ".join(paragraph))
            items.append(Heading(1 if "=" in line else 2, inline_text(text)))
            paragraph.clear()
        elif definition := DEFINITION.match(line):
            # A Sources entry: kept as the document's source, and as text the reader shows.
            flush()
            found = parse_definition(definition.group(1), definition.group(2), number)
            definitions.append(found)
            if text := inline_text(found.text):
                items.append(Block(text, page, "", page_end, (), number))
        elif _RULE.match(line) or _TABLE_RULE.match(line) or _LINK_DEFINITION.match(line):
            flush()
        elif _is_row(line):
            row, keys = take_references(line)
            cells = [inline_text(cell) for cell in row.strip().strip("|").split("|")]
            text = " | ".join(cell for cell in cells if cell)
            items.append(Block(text, page, "", page_end, keys, number))
        elif line.strip():
            if _ITEM.match(line):
                flush()
            start(number)
            paragraph.append(_QUOTE.sub("", _ITEM.sub("", line, count=1), count=1))
    flush(raw=fence is not None)
    return [item for item in items if not isinstance(item, Block) or item.text]


def _without_closing_hashes(text: str) -> str:
    """A heading's text without the optional closing run of #s ("## Costs ##")."""
    text = text.rstrip(" \t")
    bare = text.rstrip("#")
    return bare.rstrip(" \t") if bare != text and bare[-1:] in (" ", "\t") else text


def _is_row(line: str) -> bool:
    return line.lstrip().startswith("|") and not _TABLE_RULE.match(line)


def inline_text(text: str) -> str:
    """Reduce inline Markdown to its text: emphasis, code, links and tags go, words stay.

    Args:
        text: one paragraph's Markdown.

    Returns:
        Plain text with whitespace tidied.
    """
    text = _ESCAPE.sub(lambda m: chr(_HIDE + ord(m.group(1))), text)
    for pattern, replacement in (*_INLINE, *_EMPHASIS, *_EMPHASIS):
        text = pattern.sub(replacement, text)
    text = re.sub(r"[\U000F0000-\U000F00FF]", lambda m: chr(ord(m.group()) - _HIDE), text)
    return tidy(text)
