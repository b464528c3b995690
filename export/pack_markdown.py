"""An evidence pack as Markdown (CommonMark) and as plain text for an email: the same content
as the Word file. Every piece of text from a person or a document is escaped (Markdown) or
written as it is (plain text), so nothing in it becomes markup."""

from __future__ import annotations

from export.pack_content import ANSWER_LABEL
from export.pack_content import LINK_LABEL
from export.pack_content import MYTH_LABEL
from export.pack_content import NOTE_LABEL
from export.pack_content import REFERENCES_HEADING
from export.pack_content import blocks
from export.pack_content import intro
from export.pack_content import passage_paragraphs
from export.pack_content import reference_list
from export.text import absolute_url
from export.text import markdown_escape
from export.text import markdown_lines
from export.text import plain_lines
from kb.citations import italic_pieces
from kb.packs import Pack

HARD_BREAK = "\\\n"  # CommonMark: a backslash at the end of a line breaks the line


def pack_markdown(pack: Pack, base_url: str) -> bytes:
    """The pack as UTF-8 Markdown."""
    out = [f"# {markdown_escape(pack.title)}", markdown_escape(intro(pack, base_url))]
    for block in blocks(pack):
        if block.kind == "missing":
            out.append(f"**{markdown_escape(block.text)}**")
        elif block.kind == "heading":
            out.append(f"## {markdown_escape(block.heading)}")
        elif block.kind == "myth":
            claim = markdown_escape(f"“{block.myth.claim}”")
            answer = markdown_escape(block.myth.answer)
            out.append(f"**{MYTH_LABEL}:** {claim}{HARD_BREAK}**{ANSWER_LABEL}:** {answer}")
        else:
            item = block.item
            quoted = [markdown_escape(line) for line in passage_paragraphs(item)]  # stripped
            out.append("> " + (HARD_BREAK + "> ").join(quoted))
            link = absolute_url(base_url, item.url)
            out.append(f"— {_markdown_citation(item.citation.short)}. [{LINK_LABEL}](<{link}>)")
            if item.note:
                out.append(f"*{NOTE_LABEL}:* " + HARD_BREAK.join(markdown_lines(item.note)))
    out.append(f"## {REFERENCES_HEADING}")
    out.append("\n".join(f"- {_markdown_citation(h)}" for h in reference_list(pack)))
    return ("\n\n".join(out) + "\n").encode("utf-8")


def _markdown_citation(citation: str) -> str:
    return "".join(
        f"*{markdown_escape(piece)}*" if italic else markdown_escape(piece)
        for piece, italic in italic_pieces(citation)
    )


def pack_text(pack: Pack, base_url: str) -> bytes:
    """The pack as UTF-8 plain text, for pasting into an email."""
    out = [_underlined(pack.title, "="), intro(pack, base_url)]
    for block in blocks(pack):
        if block.kind == "missing":
            out.append(f"NOTE: {block.text}")
        elif block.kind == "heading":
            out.append(_underlined(block.heading, "-"))
        elif block.kind == "myth":
            claim, answer = block.myth.claim, block.myth.answer
            out.append(f"{MYTH_LABEL}: “{claim}”\n{ANSWER_LABEL}: {answer}")
        else:
            item = block.item
            quoted = "\n    ".join(passage_paragraphs(item))
            link = absolute_url(base_url, item.url)
            lines = [f"    “{quoted}”"]
            lines.append(f"— {_plain_citation(item.citation.short)}. {link}")
            if item.note:
                lines.append(f"{NOTE_LABEL}: " + "\n".join(plain_lines(item.note)))
            out.append("\n".join(lines))
    out.append(_underlined(REFERENCES_HEADING, "-"))
    out.append("\n".join(f"* {_plain_citation(h)}" for h in reference_list(pack)))
    return ("\n\n".join(out) + "\n").encode("utf-8")


def _plain_citation(citation: str) -> str:
    return "".join(piece for piece, _italic in italic_pieces(citation))


def _underlined(text: str, mark: str) -> str:
    line = " ".join(plain_lines(text))
    return f"{line}\n{mark * max(3, len(line))}"
