"""Turning highlight spans and citations into HTML, escaping every piece of document text.

Document text is data from outside: it is escaped piece by piece and only our own <mark> and
<em> tags are added between the pieces, so the result can be marked safe without `|safe`
ever touching raw document text.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from flask import Flask
from markupsafe import Markup
from markupsafe import escape

from kb.citations import italic_pieces
from kb.citations import page_label
from kb.citations import plain_citation
from kb.models import Citation
from kb.models import Span

SENTENCE_OPEN = '<mark class="hl-sentence">'
TERM_OPEN = '<mark class="hl-term">'
QUOTE_OPEN = '<mark class="hl-quote">'
CLOSE = "</mark>"


def highlight_html(text: str, spans: Iterable[Span]) -> Markup:
    """The passage as HTML: the best sentence and the matched terms wrapped in <mark>.

    Args:
        text: the passage text (plain, untrusted).
        spans: character offsets into text; "sentence" spans mark the best sentence, "quote"
            spans a myth's pinned quote (kb.myths), any other kind marks a matched term.
            Out-of-range or empty spans are ignored.

    Returns:
        Escaped HTML with properly nested <mark> elements.
    """
    size = len(text)
    sentences, terms, quotes = _split_spans(spans, size)
    cuts = sorted({0, size, *(p for s in sentences + terms + quotes for p in s)})
    out: list[str] = []
    in_block: str | None = None  # the open tag of the sentence or quote we are inside
    for start, end in pairwise(cuts):
        block = None
        if _covered(start, end, quotes):
            block = QUOTE_OPEN
        elif _covered(start, end, sentences):
            block = SENTENCE_OPEN
        if block != in_block:
            out.append((CLOSE if in_block else "") + (block or ""))
            in_block = block
        piece = str(escape(text[start:end]))
        out.append(f"{TERM_OPEN}{piece}{CLOSE}" if _covered(start, end, terms) else piece)
    if in_block:
        out.append(CLOSE)
    return Markup("".join(out))


def _split_spans(spans: Iterable[Span], size: int) -> tuple[list, list, list]:
    sentences: list[tuple[int, int]] = []
    terms: list[tuple[int, int]] = []
    quotes: list[tuple[int, int]] = []
    for span in spans:
        start, end = max(0, span.start), min(size, span.end)
        if start < end:
            kinds = {"sentence": sentences, "quote": quotes}
            kinds.get(span.kind, terms).append((start, end))
    return sentences, terms, quotes


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def citation_html(citation: str) -> Markup:
    """A citation whose *title* is in asterisks (see kb.citations) with the title in <em>."""
    out = [
        f"<em>{escape(piece)}</em>" if italic else str(escape(piece))
        for piece, italic in italic_pieces(citation)
    ]
    return Markup("".join(out))


def citation_text(citation: Citation, absolute_url: str) -> str:
    """The plain text a person copies (built by kb.citations.plain_citation)."""
    return plain_citation(citation, absolute_url)


def is_web_url(url: str) -> bool:
    """True for http(s) links; a document's `javascript:` URL must never become an href."""
    return url.lower().startswith(("https://", "http://"))


def init_app(app: Flask) -> None:
    """Make the renderers available as Jinja filters and the URL check as a test."""
    app.add_template_filter(highlight_html, "highlight")
    app.add_template_filter(citation_html, "citation")
    app.add_template_global(page_label, "page_label")
    app.add_template_test(is_web_url, "web_url")
