"""Making any text safe for a file format, and the addresses written into files."""

from __future__ import annotations

import re
from urllib.parse import quote

# Characters XML 1.0 cannot hold at all (python-docx refuses them): C0 controls but tab, line
# feed and carriage return, lone surrogates and the two non-characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# CommonMark: characters that may start inline markup (emphasis, code, links, HTML, entities,
# GFM tables and strikethrough) anywhere in a line; each is shown literally after a backslash.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>&|~!#])")
# ...and what starts a block at the beginning of a line: a list, a quote, a setext underline,
# a heading, a thematic break, a numbered list ("1." / "1)").
_MD_LINE_START = re.compile(r"^([=+\->])|^(\d+)([.)])")


def xml_safe(text: str) -> str:
    """The text without the characters XML (so a .docx) cannot hold."""
    return _NOT_XML.sub("", text)


def markdown_escape(text: str) -> str:
    """One line of text that CommonMark shows exactly as written, never as markup (spaces at
    either end are kept: a caller strips a line before it starts one)."""
    line = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(
        lambda m: "\\" + m.group(0) if m.group(1) else m.group(2) + "\\" + m.group(3), line
    )


def markdown_lines(text: str) -> list[str]:
    """Text as escaped Markdown lines, blank lines dropped (a caller joins them)."""
    return [markdown_escape(line.strip()) for line in text.splitlines() if line.strip()]


def absolute_url(base_url: str, path: str) -> str:
    """Our site's address for a path such as /documents/<id>#p3, safe to put in a link."""
    return base_url.rstrip("/") + quote(path, safe="/#")


def plain_lines(text: str) -> list[str]:
    """Text as lines for a plain-text file, blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]
