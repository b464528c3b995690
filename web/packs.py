"""Evidence packs on the site: the /pack page, POST /api/packs/render, and each document's
"cite this document" downloads.

The pack itself lives in the person's browser (localStorage, web/static/pack.js); the server
keeps nothing. To show or download a pack, the browser sends passage ids, headings, notes and a
title; the text and citations come from the store (kb.packs), the files from export/.

POST /api/packs/render is a cookie-less JSON endpoint (web.auth.COOKIELESS_ENDPOINTS): it needs
no login and no CSRF token, reads no cookie and changes nothing stored. It accepts only
`Content-Type: application/json`, which a page on another site cannot send without a CORS
preflight, and preflights are granted to GET only (web/cors.py).
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import render_template
from flask import request

from export.formats import PACK_FORMATS
from export.formats import REFERENCE_FORMATS
from export.formats import FileFormat
from export.formats import file_name
from export.formats import render_pack
from export.formats import render_references
from kb.errors import NotFound
from kb.myths import Myth
from kb.packs import MAX_HEADING_CHARS
from kb.packs import MAX_ITEMS
from kb.packs import MAX_NOTE_CHARS
from kb.packs import MAX_TITLE_CHARS
from kb.packs import Pack
from kb.packs import PackError
from kb.packs import PackHeading
from kb.packs import missing_sentence
from kb.packs import parse_pack
from kb.packs import resolve_pack
from kb.serialize import document_to_dict
from kb.serialize import passage_to_dict
from web import api_models
from web.errors import error_response
from web.extensions import current_kb
from web.links import site_root
from web.openapi import JSON
from web.openapi import describe
from web.uploads import FORM_ALLOWANCE_BYTES

bp = Blueprint("packs", __name__)

# The allowance the production server gives any request but an upload (1 MiB, web/production.py
# refuses more before reading it): 200 notes of 2,000 characters fit in it unless most of their
# characters take 3 or 4 bytes in UTF-8.
MAX_BODY_BYTES = FORM_ALLOWANCE_BYTES
PREVIEW_FORMAT = "json"  # the pack page's preview: the resolved pack as JSON


@bp.get("/pack")
def pack_page():
    """The pack page: filled in by pack.js from localStorage (or a shared link)."""
    limits = {
        "items": MAX_ITEMS,
        "note": MAX_NOTE_CHARS,
        "title": MAX_TITLE_CHARS,
        "heading": MAX_HEADING_CHARS,
    }
    return render_template(
        "pack.html",
        active="pack",
        formats=list(PACK_FORMATS.values()),
        reference_formats=set(REFERENCE_FORMATS),
        limits=limits,
    )


@bp.post("/api/packs/render")
@describe(
    "An evidence pack as a file: Word, Markdown or plain text with every citation and a "
    "reference list, or the references of its documents (RIS, BibTeX, CSL-JSON); json gives "
    "the pack as resolved. Text and citations are the stored ones; passages no longer stored "
    "are left out and named. Send Content-Type: application/json; no cookie or token is needed.",
    ok=api_models.PackPreview,
    errors=(400, 413, 415, 503),
    media_type=(*dict.fromkeys(f.media_type.split(";")[0] for f in PACK_FORMATS.values()), JSON),
    request=api_models.PackRenderRequest,
)
def render():
    """POST /api/packs/render: {"title", "items", "format"} -> the file, or JSON for "json"."""
    if not request.is_json:
        return error_response("Send the pack as JSON, with Content-Type: application/json.", 415)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return error_response(
            "A pack request may be at most 1 MiB; shorten the notes or split the pack.", 413
        )
    request.max_content_length = MAX_BODY_BYTES  # also bounds a body sent without a length
    data = request.get_json(silent=True)
    if data is None:
        raise PackError("The request body is not valid JSON.")
    requested = parse_pack(data)  # data is a dict from here on
    wanted = _format(data.get("format"))
    pack = resolve_pack(current_kb().store, requested, datetime.now(UTC).date(), _find_myth)
    if wanted == PREVIEW_FORMAT:
        return pack_to_dict(pack)
    file_format = PACK_FORMATS[wanted]
    body = render_pack(pack, file_format, site_root())
    return _download(body, file_format, file_name(pack.title, file_format))


def _format(raw: object) -> str:
    names = [*PACK_FORMATS, PREVIEW_FORMAT]
    if raw not in names:
        shown = repr(raw)[:30] if raw is not None else "missing"
        raise PackError(f"'format' must be one of {', '.join(names)}, not {shown}.")
    return str(raw)


def _find_myth(myth_id: str) -> Myth | None:
    book = current_app.extensions.get("myths")
    if book is None:
        return None
    try:
        return book.get(myth_id)
    except NotFound:
        return None


def pack_to_dict(pack: Pack) -> dict:
    """The resolved pack as the pack page shows it: every entry at its position (gone ones
    too, flagged), with the stored text and citation of each passage."""
    gone = {m.position: m.passage_id for m in pack.missing}
    entries = iter(pack.entries)
    items: list[dict] = []
    for position in range(1, len(pack.entries) + len(pack.missing) + 1):
        if position in gone:
            items.append({"position": position, "missing": True, "passage_id": gone[position]})
            continue
        entry = next(entries)
        if isinstance(entry, PackHeading):
            items.append({"position": position, "heading": entry.text})
            continue
        myth = entry.myth
        items.append(
            {
                "position": position,
                "passage": passage_to_dict(entry.passage),
                "document": document_to_dict(entry.document),
                "citation": {"short": entry.citation.short, "harvard": entry.citation.harvard},
                "url": entry.url,
                "note": entry.note,
                "myth": None
                if myth is None
                else {"id": myth.id, "claim": myth.claim, "answer": myth.answer},
            }
        )
    return {
        "title": pack.title,
        "created": pack.created.isoformat(),
        "items": items,
        "missing": [{"position": m.position, "passage_id": m.passage_id} for m in pack.missing],
        "missing_sentence": missing_sentence(pack),
    }


@bp.get("/documents/<document_id>/cite.<fmt>")
def cite_document(document_id: str, fmt: str):
    """The "cite this document" downloads: the document's reference as RIS, BibTeX or CSL."""
    file_format = REFERENCE_FORMATS.get(fmt)
    if file_format is None:
        abort(404)
    document = current_kb().store.get_document(document_id)  # NotFound -> 404
    body = render_references([document], file_format)
    return _download(body, file_format, file_name(document.id, file_format))


def _download(body: bytes, file_format: FileFormat, name: str) -> Response:
    response = Response(body, content_type=file_format.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    # A pack holds a person's notes: no shared cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response
