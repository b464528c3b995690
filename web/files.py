"""Serving a document's original file from the data folder, and only from there.

The store records where ingestion kept each original (named by its sha256 under
`settings.files_dir`). A stored path that resolves outside that folder is never served, and
originals that a browser would execute (HTML) are sent under a sandboxing policy.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort
from flask import send_file

from kb.models import Document
from kb.settings import Settings
from web.extensions import current_kb
from web.extensions import current_settings

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


def original_path(settings: Settings, document: Document) -> Path | None:
    """The original file of a document if it exists under the data folder's files dir.

    Args:
        settings: gives `files_dir`.
        document: the stored document (its `file_path` may be absolute or relative).

    Returns:
        The resolved path, or None when there is no file or it lies outside files_dir.
    """
    if not document.file_path:
        return None
    root = settings.files_dir.resolve()
    stored = Path(document.file_path)
    # A relative path was relative to wherever ingestion ran; the file name under files_dir
    # still finds it when the server runs elsewhere or the data folder moved.
    for candidate in (stored, root / stored.name):
        resolved = candidate.resolve()
        if resolved.is_relative_to(root) and resolved != root and resolved.is_file():
            return resolved
    return None


def is_pdf(path: Path | None) -> bool:
    return path is not None and path.suffix.lower() == ".pdf"


def send_original(document_id: str):
    """GET /files/<document_id>: the original file, or 404."""
    document = current_kb().store.get_document(document_id)
    path = original_path(current_settings(), document)
    if path is None:
        abort(404)
    mimetype, inline, policy = _TYPES.get(path.suffix.lower(), _DOWNLOAD)
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=f"{document.id}{path.suffix.lower()}",
        max_age=3600,
    )
    response.headers["Content-Security-Policy"] = policy
    return response
