"""Turn a file into blocks of text, refusing clearly anything we cannot read.

`load_file` picks the loader by extension, then checks that the content is what the name says.
Every refusal is an `IngestError` whose message is one sentence naming the file.

The format loaders (pypdf, python-docx, BeautifulSoup and lxml: about 25 MB and a second of
imports) are imported when a file of their format is read, so a server that never takes a file
in does not carry them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.blocks import LoadedFile
from ingest.loaders.common import decode_text
from ingest.loaders.sniff import ZIP_MAGIC
from ingest.loaders.sniff import describe_content
from ingest.loaders.sniff import sniff_kind
from ingest.loaders.text import load_text
from ingest.ocr import OcrSettings
from kb.errors import EmptyDocument
from kb.errors import FileTooLarge
from kb.errors import IngestError
from kb.errors import UnsupportedFormat

__all__ = ["SUPPORTED_EXTENSIONS", "check_bytes", "load_bytes", "load_file", "sniff_kind"]

FORMATS = {
    ".pdf": "pdf",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}
SUPPORTED_EXTENSIONS = tuple(sorted(FORMATS))
_TEXT_FORMATS = ("markdown", "text", "html")
_EXPECTED = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "markdown": "text",
    "text": "text",
    "html": "text",
}
_RENAME_TO = {"pdf": ".pdf", "docx": ".docx", "html": ".html"}


def load_file(
    path: Path,
    max_bytes: int | None = None,
    *,
    max_pages: int | None = None,
    ocr: OcrSettings | None = None,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> LoadedFile:
    """Read a document file into blocks.

    Args:
        path: the file (.pdf, .md/.markdown, .txt/.text, .html/.htm or .docx).
        max_bytes: refuse files bigger than this; None for no limit.
        max_pages: refuse PDFs with more pages than this (None: the PDF loader's
            DEFAULT_MAX_PAGES).
        ocr: OCR limits for PDF pages with no usable text layer (None: no OCR).
        on_ocr_page: called with (pages done, pages to do) as OCR goes.

    Returns:
        The file's blocks, title and page count.

    Raises:
        IngestError: the file is missing or unreadable; or a subclass saying why its content
            was refused (UnsupportedFormat, FileTooLarge, EmptyDocument, CorruptFile,
            EncryptedFile, NoExtractableText).
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path.name} not found (looked for {path}).")
    if not path.is_file():
        raise IngestError(f"{path.name} is a folder, not a file.")
    _format_for(path.name)  # an unsupported name fails before the file is read
    _check_size(path.name, path.stat().st_size, max_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name} could not be read ({exc.strerror or exc}).") from exc
    return load_bytes(
        data, path.name, max_bytes=max_bytes, max_pages=max_pages, ocr=ocr, on_ocr_page=on_ocr_page
    )


def load_bytes(
    data: bytes,
    name: str,
    *,
    max_bytes: int | None = None,
    max_pages: int | None = None,
    ocr: OcrSettings | None = None,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> LoadedFile:
    """Read a document held in memory (an upload) into blocks; the name chooses the loader.

    Args:
        data: the file's bytes.
        name: the file's name, with its extension.
        max_bytes: refuse content bigger than this; None for no limit.
        max_pages: refuse PDFs with more pages than this (None: the PDF loader's
            DEFAULT_MAX_PAGES).
        ocr: OCR limits for PDF pages with no usable text layer (None: no OCR).
        on_ocr_page: called with (pages done, pages to do) as OCR goes.

    Returns:
        The file's blocks, title and page count.

    Raises:
        IngestError: a subclass saying why the content was refused (see `load_file`).
    """
    kind = check_bytes(data, name, max_bytes=max_bytes)
    if kind == "pdf":
        from ingest.loaders.pdf import DEFAULT_MAX_PAGES
        from ingest.loaders.pdf import load_pdf

        loaded = load_pdf(
            data,
            name,
            max_pages=DEFAULT_MAX_PAGES if max_pages is None else max_pages,
            ocr=ocr,
            on_ocr_page=on_ocr_page,
        )
    elif kind == "markdown":
        from ingest.loaders.markdown import load_markdown

        loaded = load_markdown(data, name)
    elif kind == "html":
        from ingest.loaders.html import load_html

        loaded = load_html(data, name)
    elif kind == "docx":
        from ingest.loaders.docx import load_docx

        loaded = load_docx(data, name)
    else:
        loaded = load_text(data, name)
    if not loaded.blocks:
        raise EmptyDocument(f"{name} holds no text to take in, only layout or markup.")
    return loaded


def check_bytes(data: bytes, name: str, *, max_bytes: int | None = None) -> str:
    """The checks that need no reading, only a look at the bytes: the extension is supported,
    the size within the limit, the file not empty, the content of the kind the name says.

    Returns:
        The format ("pdf", "docx", "markdown", "text" or "html").

    Raises:
        IngestError: a subclass saying why, in one sentence naming the file.
    """
    kind = _format_for(name)
    _check_size(name, len(data), max_bytes)
    if not data.strip() or (kind in _TEXT_FORMATS and not decode_text(data).strip()):
        raise EmptyDocument(f"{name} is empty; there is no text to take in.")
    _check_content(kind, data, name)
    return kind


def _format_for(name: str) -> str:
    extension = Path(name).suffix.lower()
    if extension not in FORMATS:
        shown = f"the extension {extension}" if extension else "no extension"
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise UnsupportedFormat(f"{name} has {shown}; supported files are {supported}.")
    return FORMATS[extension]


def _check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(
            f"{name} is {_human(size)}, over the {_human(max_bytes)} limit for one file."
        )


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _check_content(kind: str, data: bytes, name: str) -> None:
    """Refuse content that does not match the extension, saying what it looks like instead."""
    sniffed = sniff_kind(data)
    if kind == "pdf" and sniffed == "pdf":
        return
    # Any zip named .docx goes to the DOCX loader, which says precisely what is wrong with it.
    if kind == "docx" and data.startswith(ZIP_MAGIC):
        return
    if kind in _TEXT_FORMATS and sniffed in ("text", "html"):
        return
    extension = Path(name).suffix.lower()
    message = (
        f"{name} is named {extension} but its content is {describe_content(data)}, "
        f"not {_EXPECTED[kind]}"
    )
    if sniffed in _RENAME_TO and _RENAME_TO[sniffed] != extension:
        message += f"; rename it to {_RENAME_TO[sniffed]} and try again"
    raise UnsupportedFormat(message + ".")
