"""DOCX loader: python-docx; heading styles give sections, tables are read row by row."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.blocks import Block
from ingest.blocks import LoadedFile
from ingest.loaders.common import Heading
from ingest.loaders.common import assemble
from ingest.loaders.common import tidy
from kb.errors import CorruptFile
from kb.errors import IngestError

# A large real report (text, tables, a few hundred images) unpacks to well under 200 MB, and
# text compresses about 10:1; far beyond either is a zip bomb, refused before anything inflates.
MAX_UNCOMPRESSED_BYTES = 200_000_000
MAX_COMPRESSION_RATIO = 100
# Small members can have high ratios innocently (a run of spaces); only big ones are judged.
RATIO_CHECK_FROM_BYTES = 1_000_000
MAX_MEMBERS = 10_000
MAIN_PART = "word/document.xml"
_HEADING_STYLE = re.compile(r"heading\s*(\d*)", re.I)


def load_docx(
    data: bytes,
    name: str,
    *,
    max_uncompressed: int = MAX_UNCOMPRESSED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> LoadedFile:
    """Read a Word document's paragraphs and table rows into blocks with section paths.

    Args:
        data: the file's bytes (already known to be a zip).
        name: the file's name, for error messages.
        max_uncompressed: refuse archives that would unpack to more bytes than this.
        max_ratio: refuse large members compressed more than this many times.

    Returns:
        The blocks and the title (the "Title" style, a lone leading Heading 1, or the
        document properties).

    Raises:
        CorruptFile: the zip is damaged, is not a Word document, or looks like a zip bomb.
    """
    check_archive(data, name, max_uncompressed=max_uncompressed, max_ratio=max_ratio)
    try:
        document = docx.Document(io.BytesIO(data))
        items = list(_items(document))
        property_title = tidy(document.core_properties.title or "")
    except IngestError:
        raise
    except Exception as exc:  # bad XML, missing parts, broken relationships
        raise CorruptFile(f"{name} is damaged and cannot be read as a Word document.") from exc
    blocks, title = assemble(items)
    return LoadedFile(blocks=blocks, title=title or property_title or None)


def check_archive(data: bytes, name: str, *, max_uncompressed: int, max_ratio: float) -> None:
    """Refuse a zip that is damaged, holds no Word document, or would inflate dangerously.

    The sizes come from the zip directory; Python's zipfile stops inflating a member at its
    declared size, so a lying directory cannot get past these checks.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:
        raise CorruptFile(f"{name} is damaged: it is not a readable .docx (zip) file.") from exc
    if MAIN_PART not in {member.filename for member in members}:
        raise CorruptFile(f"{name} is a zip file but not a Word document ({MAIN_PART} missing).")
    total = sum(member.file_size for member in members)
    if len(members) > MAX_MEMBERS or total > max_uncompressed:
        raise CorruptFile(
            f"{name} would unpack to {total:,} bytes in {len(members):,} parts, over the safe "
            f"limit, so it was not opened (it may be a zip bomb)."
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_CHECK_FROM_BYTES and ratio > max_ratio:
            raise CorruptFile(
                f"{name} is compressed {ratio:,.0f} to 1 ({member.filename}), far beyond any "
                f"real document, so it was not opened (it may be a zip bomb)."
            )


def _items(document: Document) -> Iterator[Heading | Block]:
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            yield from _table_rows(part)
        else:
            yield from _paragraph(part)


def _paragraph(paragraph: Paragraph) -> Iterator[Heading | Block]:
    text = tidy(paragraph.text)
    if not text:
        return
    style = paragraph.style.name if paragraph.style is not None else ""
    heading = _HEADING_STYLE.fullmatch(style or "")
    if style == "Title":
        yield Heading(0, text)
    elif heading:
        yield Heading(int(heading.group(1) or 1), text)
    else:
        yield Block(text, None, "")


def _table_rows(table: Table) -> Iterator[Block]:
    """One block per row, cells joined by " | "; a merged cell is read once per row."""
    for row in table.rows:
        seen: list = []  # cell elements; kept alive so identity comparison is sound
        cells: list[str] = []
        for cell in row.cells:
            if any(cell._tc is element for element in seen):
                continue
            seen.append(cell._tc)
            if text := tidy(" ".join(p.text for p in cell.paragraphs)):
                cells.append(text)
            for nested in cell.tables:
                yield from _table_rows(nested)
        if cells:
            yield Block(" | ".join(cells), None, "")
