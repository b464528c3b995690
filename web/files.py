"""Serving a document's original file from where it is kept (kb.originals), and only there.

Originals are kept by their sha256 in the data folder's files folder or in the database. A
stored path that resolves outside the files folder is never served, and originals that a
browser would execute (HTML) are sent under a sandboxing policy.
"""

from __future__ import annotations

import io
from pathlib import Path

from flask import abort
from flask import current_app
from flask import send_file

from kb.models import Document
from kb.originals import Originals
from web.extensions import current_kb

# suffix -> (mimetype, inline?, Content-Security-Policy)
_TEXT_POLICY = "default-src 'none'; frame-ancestors 'self'"
_TYPES = {
    # Browsers show PDFs in a built-in viewer that a restrictive policy can break; a PDF runs
    # nothing in our origin, so only framing is limited.
    ".pdf": ("application/pdf", True, "frame-ancestors 'self'"),
    ".md": ("text/plain", True, _TEXT_POLICY),
    ".markdown": ("text/plain", True, _TEXT_POLICY),
    ".txt": ("text/plain", True, _TEXT_POLICY),
    ".text": ("text/plain", True, _TEXT_POLICY),
    ".html": ("text/html", True, "sandbox; " + _TEXT_POLICY),
    ".htm": ("text/html", True, "sandbox; " + _TEXT_POLICY),
}
_DOWNLOAD = ("application/octet-stream", False, _TEXT_POLICY)


def _originals() -> Originals:
    return current_app.extensions["originals"]


def original_suffix(document: Document) -> str | None:
    """The suffix (".pdf") of the document's kept original, or None when none is kept."""
    if not document.file_path or not _originals().has(document.sha256, document.file_path):
        return None
    return Path(document.file_path).suffix.lower()


def is_pdf(suffix: str | None) -> bool:
    return suffix == ".pdf"


def send_original(document_id: str):
    """GET /files/<document_id>: the original file, or 404."""
    document = current_kb().store.get_document(document_id)
    originals = _originals()
    # A file in the folder is streamed; one in the database is read whole (at most the upload
    # limit).
    source: Path | io.BytesIO | None = originals.folder_path(document.file_path)
    if source is None:
        data = originals.read(document.sha256) if document.file_path else None
        if data is None:
            abort(404)
        source = io.BytesIO(data)
    suffix = Path(document.file_path).suffix.lower()
    mimetype, inline, policy = _TYPES.get(suffix, _DOWNLOAD)
    response = send_file(
        source,
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=f"{document.id}{suffix}",
        max_age=3600,
    )
    response.headers["Content-Security-Policy"] = policy
    return response
