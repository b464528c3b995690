"""Recognising a file's kind from its bytes, whatever its name says."""

from __future__ import annotations

import codecs
import io
import re
import zipfile

from ingest.loaders.common import decode_text

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
DOCX_MAIN_PART = "word/document.xml"

# Readers tolerate a little junk before the PDF header; Acrobat looks in the first 1,024 bytes.
_PDF_HEADER_WINDOW = 1024
# A text file may hold the odd control character (a form feed, an escape) but not many.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f\v")
_HTML_START = re.compile(
    r"\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S
)
_OTHER_MAGIC = (
    (b"\xd0\xcf\x11\xe0", "an old-style Office file (.doc, .xls or .ppt)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)
_PHRASES = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "zip": "a zip archive",
    "html": "HTML",
    "text": "plain text",
}


def _detect(data: bytes) -> str:
    """Name the content: "pdf", "docx", "zip", "html", "text" or "binary"."""
    if PDF_MAGIC in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    if data.startswith(ZIP_MAGIC):
        return "docx" if _zip_has(data, DOCX_MAIN_PART) else "zip"
    if not looks_like_text(data):
        return "binary"
    return "html" if _HTML_START.match(decode_text(data[:4096])) else "text"


def _zip_has(data: bytes, member: str) -> bool:
    """Whether data is a readable zip holding member; reading the directory inflates nothing."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return member in archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return False


def looks_like_text(data: bytes) -> bool:
    """Whether data is text: no NUL bytes (unless UTF-16 with a BOM) and few control characters.

    Args:
        data: the file's bytes.

    Returns:
        True when the bytes decode as text a person wrote.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data.decode("utf-16")
        except UnicodeDecodeError:
            return False
        return True
    if b"\x00" in data:
        return False
    controls = sum(data.count(bytes([byte])) for byte in _CONTROL_BYTES)
    return controls <= len(data) * _MAX_CONTROL_SHARE


def sniff_kind(data: bytes) -> str | None:
    """Say what a file really is from its bytes, for checking uploads against their names.

    Args:
        data: the whole file (a DOCX is recognised by its zip directory, at the end).

    Returns:
        "pdf", "docx", "html" or "text", or None for anything we cannot read.
    """
    kind = _detect(data)
    return kind if kind in ("pdf", "docx", "html", "text") else None


def describe_content(data: bytes) -> str:
    """A phrase for error messages saying what the bytes look like ("a PDF", "a PNG image")."""
    kind = _detect(data)
    if kind != "binary":
        return _PHRASES[kind]
    return next((phrase for magic, phrase in _OTHER_MAGIC if data.startswith(magic)), "binary data")
