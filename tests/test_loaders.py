"""Loaders: every format read into blocks, and every bad file refused in one clear sentence."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from pypdf import PdfReader
from pypdf import PdfWriter
from pypdf.constants import PageLabelStyle
from pypdf.errors import DependencyError

from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.loaders import load_bytes
from ingest.loaders import load_file
from ingest.loaders import sniff_kind
from ingest.loaders.docx import load_docx
from kb.errors import CorruptFile
from kb.errors import EmptyDocument
from kb.errors import EncryptedFile
from kb.errors import FileTooLarge
from kb.errors import IngestError
from kb.errors import NoExtractableText
from kb.errors import UnsupportedFormat

LONG = "Shared services promised savings of 1.8% across the councils of the valley. " * 6


def make_pdf(pages: list[list[str]], headings: list[tuple[int, str] | None] | None = None) -> bytes:
    """A PDF with one list of paragraphs per page; headings[i] opens page i as (level, title)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for index, paragraphs in enumerate(pages):
        pdf.add_page()
        if headings and headings[index]:
            level, title = headings[index]
            pdf.start_section(title, level=level)
            pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    return bytes(pdf.output())


def rewrite_pdf(data: bytes, change) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def refusal(path: Path, error: type[IngestError], **kwargs) -> str:
    """Load path expecting error; check its message is one plain sentence naming the file."""
    with pytest.raises(error) as caught:
        load_file(path, **kwargs)
    message = str(caught.value)
    assert path.name in message, message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message, message
    return message


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_reads_pages_with_printed_labels_and_paragraphs(tmp_path):
    data = make_pdf([["Foreword text."], [LONG, "A second paragraph, e.g. short."], ["End."]])

    def label(writer: PdfWriter) -> None:
        writer.set_page_label(0, 0, style=PageLabelStyle.LOWERCASE_ROMAN, start=1)
        writer.set_page_label(1, 2, style=PageLabelStyle.DECIMAL, start=1)

    loaded = load_file(write(tmp_path, "report.pdf", rewrite_pdf(data, label)))
    assert loaded.page_count == 3
    assert [b.page for b in loaded.blocks] == ["i", "1", "1", "2"]
    assert loaded.blocks[1].text == LONG.strip()  # printed lines joined into one paragraph
    assert loaded.blocks[2].text == "A second paragraph, e.g. short."
    assert {b.section for b in loaded.blocks} == {""}


def test_pdf_without_labels_numbers_pages_from_one(tmp_path):
    loaded = load_file(write(tmp_path, "plain.pdf", make_pdf([["One."], ["Two."]])))
    assert [(b.text, b.page) for b in loaded.blocks] == [("One.", "1"), ("Two.", "2")]


def test_pdf_outline_gives_sections(tmp_path):
    data = make_pdf(
        [["Intro text."], ["Front office text."], ["Back office text."]],
        headings=[(0, "Exposing the myths"), (1, "Front office"), (1, "Back office")],
    )
    loaded = load_file(write(tmp_path, "myths.pdf", data))
    assert [(b.text, b.section) for b in loaded.blocks] == [
        ("Intro text.", "Exposing the myths"),
        ("Front office text.", "Exposing the myths > Front office"),
        ("Back office text.", "Exposing the myths > Back office"),
    ]


def test_pdf_encrypted_is_refused(tmp_path):
    data = rewrite_pdf(make_pdf([["Secret."]]), lambda writer: writer.encrypt("secret"))
    message = refusal(write(tmp_path, "locked.pdf", data), EncryptedFile)
    assert message == "locked.pdf is protected by a password; save a copy without it and try again."


def test_pdf_with_only_an_owner_password_is_read(tmp_path):
    data = rewrite_pdf(make_pdf([["Open to read."]]), lambda w: w.encrypt("", "owner"))
    assert load_file(write(tmp_path, "owner.pdf", data)).blocks[0].text == "Open to read."


def test_pdf_encryption_we_cannot_undo_is_refused(tmp_path, monkeypatch):
    def needs_cryptography(self, password):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_cryptography)
    data = rewrite_pdf(make_pdf([["Secret."]]), lambda writer: writer.encrypt("", "owner"))
    message = refusal(write(tmp_path, "aes.pdf", data), EncryptedFile)
    assert message == (
        "aes.pdf is encrypted in a way this installation cannot open; "
        "remove the encryption and try again."
    )


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_pdf_truncated_is_corrupt(tmp_path, cut):
    data = make_pdf([[LONG], [LONG]])
    message = refusal(write(tmp_path, "cut.pdf", data[: int(len(data) * cut)]), CorruptFile)
    assert message.startswith("cut.pdf is cut short")


def test_pdf_with_garbage_body_is_corrupt(tmp_path):
    data = b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
    message = refusal(write(tmp_path, "junk.pdf", data), CorruptFile)
    assert message == "junk.pdf is damaged and cannot be read as a PDF."


def test_pdf_without_text_needs_ocr(tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    message = refusal(write(tmp_path, "scan.pdf", bytes(pdf.output())), NoExtractableText)
    assert message == "scan.pdf has no extractable text; it needs OCR."


def test_pdf_page_limit(tmp_path):
    path = write(tmp_path, "long.pdf", make_pdf([["a."], ["b."], ["c."]]))
    message = refusal(path, FileTooLarge, max_pages=2)
    assert message == "long.pdf has 3 pages, over the limit of 2."


# --- DOCX -----------------------------------------------------------------------------------


def content(blocks):
    """The blocks that are not headings (each heading is also a block opening its section)."""
    return [b for b in blocks if b.text != b.section.rsplit(" > ", 1)[-1]]


def test_headings_are_blocks_that_open_their_sections(tmp_path):
    text = "# Title\n\nCover line.\n\n## Costs\n\n<!-- page 4 -->\n\nText.\n"
    loaded = load_file(write(tmp_path, "h.md", text.encode()))
    # The cover line comes before the first page marker: its page is not known, so none is given.
    assert [(b.text, b.page, b.section) for b in loaded.blocks] == [
        ("Cover line.", None, "Costs"),
        ("Costs", "4", "Costs"),
        ("Text.", "4", "Costs"),
    ]


def test_a_heading_with_no_text_of_its_own_is_not_a_block(tmp_path):
    text = "# T\n\n## Parent\n\n### Child\n\nText.\n\n## Empty at the end\n"
    loaded = load_file(write(tmp_path, "p.md", text.encode()))
    assert [(b.text, b.section) for b in loaded.blocks] == [
        ("Child", "Parent > Child"),
        ("Text.", "Parent > Child"),
    ]


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("The front line starts here", 0)
    document.add_paragraph("Opening words.")
    document.add_heading("Exposing the myths", 1)
    document.add_heading("Back office", 2)
    document.add_paragraph("Sharing services rarely saves money.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Council", "Saving"), ("Tayside", "£0")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_heading("Front office", 2)
    document.add_paragraph("Local offices matter.", style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_headings_paragraphs_and_tables(tmp_path):
    loaded = load_file(write(tmp_path, "report.docx", make_docx()))
    assert loaded.title == "The front line starts here"
    assert [(b.text, b.section, b.page) for b in content(loaded.blocks)] == [
        ("Opening words.", "Exposing the myths", None),
        ("Sharing services rarely saves money.", "Exposing the myths > Back office", None),
        ("Council | Saving", "Exposing the myths > Back office", None),
        ("Tayside | £0", "Exposing the myths > Back office", None),
        ("Local offices matter.", "Exposing the myths > Front office", None),
    ]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_docx_junk_zip_is_corrupt(tmp_path):
    path = write(tmp_path, "junk.docx", zip_bytes({"notes.txt": b"hello"}))
    message = refusal(path, CorruptFile)
    assert message == "junk.docx is a zip file but not a Word document (word/document.xml missing)."


def test_docx_bad_xml_is_corrupt(tmp_path):
    data = zip_bytes({"word/document.xml": b"<w:document><unclosed>", "[Content_Types].xml": b"<"})
    message = refusal(write(tmp_path, "bad.docx", data), CorruptFile)
    assert message == "bad.docx is damaged and cannot be read as a Word document."


def test_docx_truncated_zip_is_corrupt(tmp_path):
    data = make_docx()
    message = refusal(write(tmp_path, "cut.docx", data[: len(data) // 2]), CorruptFile)
    assert message == "cut.docx is damaged: it is not a readable .docx (zip) file."


def test_docx_zip_bomb_is_refused_unopened(tmp_path):
    # 300 MB of zeros deflates to about 300 KB: written in pieces so memory stays small.
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(bytes(1 << 20))
    assert path.stat().st_size < 2_000_000
    message = refusal(path, CorruptFile)
    assert "zip bomb" in message and message.startswith("bomb.docx would unpack to 314,572,800")


def test_docx_extreme_compression_is_refused(tmp_path):
    data = zip_bytes({"word/document.xml": bytes(5_000_000)})
    message = refusal(write(tmp_path, "dense.docx", data), CorruptFile)
    assert "zip bomb" in message and "word/document.xml" in message


def test_docx_size_limit_is_configurable():
    with pytest.raises(CorruptFile, match="small.docx would unpack"):
        load_docx(make_docx(), "small.docx", max_uncompressed=1000)


# --- HTML, Markdown, text -------------------------------------------------------------------

HTML = """<!doctype html><html><head><title>Shared services</title>
<style>p { color: red }</style><script>var secret = "dropped";</script></head>
<body><header>Site banner</header><nav><a href="/">Home</a></nav>
<h1>Shared services</h1><p>Intro <b>bold</b> words.<br>Same block.</p>
<h2>Costs</h2><ul><li>One item</li><li>Two <em>items</em></li></ul>
<h3>Detail</h3><table><tr><td>Cell A</td><td>Cell B</td></tr></table>
<blockquote><p>A quote.</p></blockquote><pre>line 1
line 2</pre><!-- a comment --><aside>Related links</aside>
<form><input name="q"><button>Search</button></form><footer>Copyright</footer></body></html>"""


def test_html_drops_furniture_and_keeps_sections(tmp_path):
    loaded = load_file(write(tmp_path, "page.html", HTML))
    assert loaded.title == "Shared services"
    assert [(b.text, b.section) for b in content(loaded.blocks)] == [
        ("Intro bold words. Same block.", "Costs"),
        ("One item", "Costs"),
        ("Two items", "Costs"),
        ("Cell A", "Costs > Detail"),
        ("Cell B", "Costs > Detail"),
        ("A quote.", "Costs > Detail"),
        ("line 1\nline 2", "Costs > Detail"),
    ]


def test_html_deep_nesting_does_not_overflow(tmp_path):
    page = "<div>" * 5000 + "Deep text." + "</div>" * 5000
    assert load_file(write(tmp_path, "deep.htm", page)).blocks[0].text == "Deep text."


MARKDOWN = """---
title: ignored front matter
tags: [a, b]
---
# The front line starts here

*A report, 2012*

<!-- page 4 -->
## Exposing the myths

Intro with **bold**, _stress_ and a [link](https://example.org/x "t").
<!-- an editor's note
over two lines -->
### Back office
- First item
  continues here.
- Second item

<!-- page 5 -->
Text on page five.

## Sources
1. A source
"""


def test_markdown_sections_pages_and_inline_text(tmp_path):
    loaded = load_file(write(tmp_path, "report.md", MARKDOWN))
    assert loaded.title == "The front line starts here"
    assert [(b.text, b.page, b.section) for b in content(loaded.blocks)] == [
        ("A report, 2012", None, "Exposing the myths"),  # before the first page marker
        ("Intro with bold, stress and a link.", "4", "Exposing the myths"),
        ("First item continues here.", "4", "Exposing the myths > Back office"),
        ("Second item", "4", "Exposing the myths > Back office"),
        ("Text on page five.", "5", "Exposing the myths > Back office"),
        ("A source", "5", "Sources"),
    ]


def test_markdown_with_several_h1s_uses_them_as_sections(tmp_path):
    text = "# Part one\n\nAlpha.\n\n## Detail\n\nBeta.\n\n# Part two\n\nGamma.\n"
    loaded = load_file(write(tmp_path, "parts.markdown", text))
    assert [(b.text, b.section) for b in content(loaded.blocks)] == [
        ("Alpha.", "Part one"),
        ("Beta.", "Part one > Detail"),
        ("Gamma.", "Part two"),
    ]


def test_text_in_cp1252_with_paragraphs(tmp_path):
    data = "Café costs £5 – “quoted”.\nSame paragraph.\n\n\nNext paragraph.".encode("cp1252")
    loaded = load_file(write(tmp_path, "notes.txt", data))
    assert [(b.text, b.page, b.section) for b in loaded.blocks] == [
        ("Café costs £5 – “quoted”. Same paragraph.", None, ""),
        ("Next paragraph.", None, ""),
    ]


def test_text_in_utf8_with_bom(tmp_path):
    data = "\ufeffÜber shared services.".encode()
    assert load_file(write(tmp_path, "bom.text", data)).blocks[0].text == "Über shared services."


# --- refusals before any loader runs --------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"  \n\t \r\n"])
@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_empty_files(tmp_path, name, content):
    message = refusal(write(tmp_path, name, content), EmptyDocument)
    assert message == f"{name} is empty; there is no text to take in."


def test_markdown_with_only_markup_is_empty(tmp_path):
    message = refusal(write(tmp_path, "bare.md", "# Title\n\n<!-- page 1 -->\n"), EmptyDocument)
    assert message == "bare.md holds no text to take in, only layout or markup."


def test_unknown_extension(tmp_path):
    message = refusal(write(tmp_path, "slides.pptx", b"PK\x03\x04"), UnsupportedFormat)
    supported = ", ".join(SUPPORTED_EXTENSIONS)
    assert message == f"slides.pptx has the extension .pptx; supported files are {supported}."


def test_no_extension(tmp_path):
    message = refusal(write(tmp_path, "README", "text"), UnsupportedFormat)
    assert message.startswith("README has no extension; supported files are .docx")


def test_pdf_that_is_really_text(tmp_path):
    message = refusal(write(tmp_path, "fake.pdf", "Just some words."), UnsupportedFormat)
    assert message == "fake.pdf is named .pdf but its content is plain text, not a PDF."


def test_text_that_is_really_a_pdf(tmp_path):
    message = refusal(write(tmp_path, "notes.txt", make_pdf([["x"]])), UnsupportedFormat)
    assert message == (
        "notes.txt is named .txt but its content is a PDF, not text; "
        "rename it to .pdf and try again."
    )


def test_text_that_is_really_a_word_document(tmp_path):
    message = refusal(write(tmp_path, "notes.md", make_docx()), UnsupportedFormat)
    assert "is a Word document, not text; rename it to .docx" in message


def test_text_that_is_binary(tmp_path):
    message = refusal(write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00"), UnsupportedFormat)
    assert message == "image.txt is named .txt but its content is a PNG image, not text."


def test_docx_that_is_really_text(tmp_path):
    message = refusal(write(tmp_path, "letter.docx", "Dear all"), UnsupportedFormat)
    assert (
        message == "letter.docx is named .docx but its content is plain text, not a Word document."
    )


def test_missing_file(tmp_path):
    message = refusal(tmp_path / "gone.pdf", IngestError)
    assert message.startswith("gone.pdf not found")


def test_folder_is_not_a_file(tmp_path):
    (tmp_path / "folder.md").mkdir()
    assert refusal(tmp_path / "folder.md", IngestError) == "folder.md is a folder, not a file."


def test_size_limit(tmp_path):
    message = refusal(write(tmp_path, "big.txt", "x" * 2000), FileTooLarge, max_bytes=1000)
    assert message == "big.txt is 2.0 KB, over the 1.0 KB limit for one file."


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (make_pdf([["x"]]), "pdf"),
        (make_docx(), "docx"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "html"),
        (b"  <html lang='en'>", "html"),
        ("plain words, café".encode("cp1252"), "text"),
        (b"# Markdown\n\ntext", "text"),
        (zip_bytes({"a.txt": b"a"}), None),
        (b"\x89PNG\r\n\x1a\n\x00", None),
        (b"text with a NUL \x00 byte", None),
    ],
)
def test_sniff_kind(data, kind):
    assert sniff_kind(data) == kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["x.pdf", "x.docx", "x.html", "x.md", "x.txt"]),
    head=st.sampled_from([b"", b"%PDF-1.4\n", b"PK\x03\x04", b"<html>"]),
    body=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
    tail=st.sampled_from([b"", b"\n%%EOF\n"]),
)
def test_any_bytes_load_or_fail_with_an_ingest_error(name, head, body, tail):
    try:
        loaded = load_bytes(head + body + tail, name)
    except IngestError as exc:
        assert name in str(exc) and "\n" not in str(exc)
    else:
        assert all(block.text.strip() for block in loaded.blocks)
