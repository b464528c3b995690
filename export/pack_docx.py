"""An evidence pack as a Word file, with Word's own styles (Title, Heading 1, Quote, List
Bullet), so a person can restyle it in one go."""

from __future__ import annotations

import io

import docx
from docx.enum.text import WD_COLOR_INDEX
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import RGBColor
from docx.text.paragraph import Paragraph

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
from export.text import xml_safe
from kb.citations import italic_pieces
from kb.packs import Pack

LINK_COLOUR = RGBColor(0x05, 0x63, 0xC1)  # Word's own hyperlink blue


def pack_docx(pack: Pack, base_url: str) -> bytes:
    """The pack as .docx bytes: title, date line, the missing-items line, headings, myths,
    quotes with their citations and links, notes, and the reference list."""
    document = docx.Document()
    document.core_properties.title = xml_safe(pack.title)
    document.core_properties.author = "Shared-services evidence base"
    document.add_paragraph(xml_safe(pack.title), style="Title")
    document.add_paragraph(xml_safe(intro(pack, base_url)))
    for block in blocks(pack):
        if block.kind == "missing":
            paragraph = document.add_paragraph()
            _run(paragraph, block.text, bold=True).font.highlight_color = WD_COLOR_INDEX.YELLOW
        elif block.kind == "heading":
            document.add_heading(xml_safe(block.heading), level=1)
        elif block.kind == "myth":
            paragraph = document.add_paragraph()
            _run(paragraph, f"{MYTH_LABEL}: ", bold=True)
            _run(paragraph, f"“{block.myth.claim}”")
            answer = document.add_paragraph()
            _run(answer, f"{ANSWER_LABEL}: ", bold=True)
            _run(answer, block.myth.answer)
        else:
            _quote(document, block.item, base_url)
    document.add_heading(REFERENCES_HEADING, level=1)
    for harvard in reference_list(pack):
        _cited(document.add_paragraph(style="List Bullet"), harvard)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _quote(document, item, base_url: str) -> None:
    for line in passage_paragraphs(item):
        document.add_paragraph(xml_safe(line), style="Quote")
    citation = document.add_paragraph()
    _cited(citation, item.citation.short)
    _run(citation, ". ")
    _hyperlink(citation, absolute_url(base_url, item.url), LINK_LABEL)
    if item.note:
        for number, line in enumerate(item.note.splitlines()):
            if not line.strip():
                continue
            note = document.add_paragraph()
            if number == 0:
                _run(note, f"{NOTE_LABEL}: ", bold=True)
            _run(note, line.strip(), italic=True)


def _run(paragraph: Paragraph, text: str, bold: bool = False, italic: bool = False):
    run = paragraph.add_run(xml_safe(text))
    run.bold = bold or None
    run.italic = italic or None
    return run


def _cited(paragraph: Paragraph, citation: str) -> None:
    """A citation from kb.citations with its title in italics."""
    for piece, italic in italic_pieces(citation):
        _run(paragraph, piece, italic=italic)


def _hyperlink(paragraph: Paragraph, url: str, text: str) -> None:
    """A real hyperlink (python-docx has no API for one): a w:hyperlink to an external
    relationship, holding a blue underlined run."""
    rel_id = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel_id)
    run = paragraph.add_run(xml_safe(text))
    run.font.color.rgb = LINK_COLOUR
    run.font.underline = True
    link.append(run._r)  # move the run inside the hyperlink
    paragraph._p.append(link)
