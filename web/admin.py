"""Pages for researchers (login required, see web/auth.py): add, edit, replace and remove
documents, follow an upload's progress, and read the audit log.

Every file is checked before anything is stored (ingest.service.prepare, the same checks as
`kb add`): its size, kind and duplicates at once, in the request; its reading, splitting and
embedding on the upload worker (web/uploads.py), which refuses a scan or a damaged file with the
same sentence as `kb add`, as the job's outcome. The progress page polls `/admin/jobs/<id>`
(JSON) with static/admin.js.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ingest.details import describe
from ingest.details import file_details
from ingest.jobrunner import JobRunner
from ingest.limits import human_size
from ingest.ocr import OcrSettings
from ingest.pipeline import Ingestor
from ingest.service import EDITABLE
from ingest.service import DocumentService
from ingest.service import build_meta
from kb.audit import AuditLog
from kb.catalog import KINDS
from kb.errors import DuplicateDocument
from kb.errors import FileTooLarge
from kb.errors import IngestError
from kb.errors import KBError
from kb.errors import StoreError
from kb.errors import UnsupportedFormat
from kb.factory import open_originals
from kb.jobs import Job
from kb.jobs import Jobs
from kb.models import Document
from kb.models import DocumentMeta
from web.auth import current_user
from web.errors import asks_for_json
from web.extensions import current_kb
from web.extensions import current_settings
from web.uploads import UploadWorker
from web.uploads import max_request_bytes
from web.uploads import read_upload

bp = Blueprint("admin", __name__, url_prefix="/admin")

FIELDS = EDITABLE


def init_app(app: Flask) -> None:
    """The ingestor, jobs, audit log and upload worker in app.extensions, and the pages.

    Config: INGESTOR (default: one over the knowledge base's own store and embedder, so an
    upload is embedded by the model searches use); MAX_CONTENT_LENGTH (default: the settings'
    max_upload_bytes plus room for the form, so an oversized request gets a 413 unread).
    """
    kb = app.extensions["kb"]
    settings = app.config["SETTINGS"]
    originals = open_originals(settings, kb.store)
    ingestor = app.config.get("INGESTOR") or Ingestor(
        kb.store,
        kb.embedder,
        settings.files_dir,
        max_bytes=settings.max_upload_bytes,
        ocr=OcrSettings.from_settings(settings),
        originals=originals,
        late_interaction_up_to=settings.late_interaction_up_to,
    )
    jobs = Jobs(kb.store)
    audit = AuditLog(kb.store)
    documents = DocumentService(
        kb.store, ingestor=ingestor, audit=audit, jobs=jobs, originals=originals
    )
    runner = None
    if settings.uploads == "server":
        runner = JobRunner(
            documents,
            jobs,
            originals,
            settings.data_dir / "uploads",
            lease_seconds=settings.job_lease_seconds,
        )
    app.extensions.update(
        ingestor=ingestor,
        jobs=jobs,
        audit=audit,
        documents=documents,
        originals=originals,
        upload_worker=UploadWorker(runner, keep_polling=not app.config["TESTING"]),
    )
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = max_request_bytes(settings.max_upload_bytes)
    app.register_blueprint(bp)


def _jobs() -> Jobs:
    return current_app.extensions["jobs"]


def _audit() -> AuditLog:
    return current_app.extensions["audit"]


def _documents() -> DocumentService:
    return current_app.extensions["documents"]


def _status(exc: KBError) -> int:
    if isinstance(exc, DuplicateDocument):
        return 409
    if isinstance(exc, FileTooLarge):
        return 413
    if isinstance(exc, UnsupportedFormat):
        return 415
    return 400


# -- the list and the audit log ---------------------------------------------------------------


@bp.get("")
def index():
    """Every document with edit, replace and remove; the latest uploads."""
    documents = current_kb().store.list_documents()
    recent = [(job, job_summary(job)) for job in _jobs().recent(10)]
    return render_template("admin.html", active="admin", documents=documents, recent=recent)


@bp.get("/audit")
def audit():
    """Who added, replaced, edited or removed which document, and when; newest first."""
    entries = _audit().entries(limit=500)
    present = current_kb().store.documents_by_id(e.document_id for e in entries)
    return render_template("admin_audit.html", active="admin", entries=entries, present=present)


# -- adding -----------------------------------------------------------------------------------


@bp.get("/upload")
def upload_form():
    return _upload_page({"kind": "report"})


@bp.post("/upload")
def upload():
    """Check one file and its metadata, then start taking it in; on to the progress page.

    The upload page's script (static/upload.js) posts each of several files so, each with its
    own details, asking for JSON: the job (202) or the refusal ({"error"}) comes back instead
    of a page, and the page shows one progress line per file.
    """
    values = {name: request.form.get(name, "") for name in FIELDS}
    try:
        if len(request.files.getlist("file")) > 1:
            raise IngestError(
                "Choose one file at a time here, or turn on JavaScript to add several, "
                "each with its own details."
            )
        job = _start("add", build_meta(**values))
    except StoreError:
        raise  # the database's trouble, not the input's: a 503 (web.errors)
    except KBError as exc:
        if asks_for_json():
            return _json_refusal(exc)
        return _upload_page(values, error=exc, status=_status(exc))
    if asks_for_json():
        data = job_to_dict(job)
        data["progress_url"] = url_for("admin.progress", job_id=job.id)
        data["job_url"] = url_for("admin.job_status", job_id=job.id)
        return jsonify(data), 202
    return redirect(url_for("admin.progress", job_id=job.id), 303)


@bp.post("/upload/details")
def upload_details():
    """POST /admin/upload/details: the title, publisher and year a file states, as JSON, for
    the upload form to prefill (the researcher checks them). Nothing is stored; a file that
    would be refused on upload is refused here with the same sentence."""
    settings = current_settings()
    try:
        data, name = read_upload(request.files.get("file"), settings.max_upload_bytes)
        details = file_details(current_kb().store, data, name, settings.max_upload_bytes)
    except StoreError:
        raise  # the database's trouble, not the input's: a 503 (web.errors)
    except KBError as exc:
        return _json_refusal(exc)
    return jsonify({**details.to_dict(), "message": describe(details)})


def _json_refusal(exc: KBError):
    body = {"error": str(exc), "status": _status(exc)}
    if isinstance(exc, DuplicateDocument) and exc.document_id:
        body["document_url"] = url_for("pages.document", document_id=exc.document_id)
    return jsonify(body), _status(exc)


def _start(action: str, meta: DocumentMeta, current: Document | None = None) -> Job:
    """The posted file checked and queued by the document service (one transaction for the
    checks against other uploads and the job: web.uploads), then the upload thread woken.

    Args:
        action: "add" or "replace".
        meta: the document's metadata (a new document is given a free id by the service).
        current: the document being replaced, if any.
    """
    settings = current_settings()
    data, name = read_upload(request.files.get("file"), settings.max_upload_bytes)
    # Read on the upload worker, not here: a file's reading is bounded by what it expands to
    # (ingest/limits.py), but even within that it may take seconds the request need not wait.
    job = _documents().queue_upload(
        data,
        name,
        meta,
        action=action,
        user=current_user(),
        max_bytes=settings.max_upload_bytes,
        replacing=current,
    )
    worker: UploadWorker = current_app.extensions["upload_worker"]
    worker.wake()
    return job


def _upload_page(values: dict, error: KBError | None = None, status: int = 200):
    html = render_template(
        "admin_upload.html",
        active="admin",
        values=values,
        kinds=KINDS,
        error=str(error) if error else None,
        existing=error if isinstance(error, DuplicateDocument) else None,
        max_size=human_size(current_settings().max_upload_bytes),
    )
    return html, status


# -- progress ---------------------------------------------------------------------------------


@bp.get("/progress/<job_id>")
def progress(job_id: str):
    """The upload's progress page (static/admin.js keeps it up to date)."""
    job = _jobs().get(job_id)
    return render_template(
        "admin_job.html", active="admin", job=job, summary=job_summary(job), data=job_to_dict(job)
    )


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    """GET /admin/jobs/<id>: the upload's progress and outcome as JSON."""
    return jsonify(job_to_dict(_jobs().get(job_id)))


def job_to_dict(job: Job) -> dict:
    data = job.to_dict()
    data["summary"] = job_summary(job)
    data["percent"] = _percent(job)
    data["document_url"] = (
        url_for("pages.document", document_id=job.document_id) if job.status == "done" else None
    )
    return data


def _percent(job: Job) -> int:
    """Rough progress: reading is the first tenth, embedding the rest."""
    if job.finished:
        return 100
    if job.stage == "embed" and job.to_embed:
        return 10 + int(89 * job.embedded / job.to_embed)
    return 10 if job.stage == "read" else 0


def job_summary(job: Job) -> str:
    """One sentence on where an upload is, or how it ended."""
    title = f"\u201c{job.title}\u201d"
    passages = f"{job.passages} passage{'s' if job.passages != 1 else ''}"
    if job.status == "failed":
        return job.message
    if job.status == "done":
        return {
            "added": f"Added {title}: {passages}, searchable now.",
            "replaced": f"Replaced the file of {title}: {passages}, searchable now.",
            "updated": f"Updated the details of {title}.",
        }.get(job.outcome, f"{job.file_name} is already stored for {title}; nothing changed.")
    if job.status == "queued":  # a message says why it is waiting again (kb.jobs.release)
        return job.message or f"{job.file_name} is waiting for another upload to finish."
    pages = f"Read {job.pages} page{'s' if job.pages != 1 else ''}"
    if job.stage == "embed":
        return f"{pages}; embedded {job.embedded} of {job.to_embed} passages and sentences."
    if job.stage == "ocr":
        return f"OCR page {job.ocr_done} of {job.ocr_total} (scanned pages have no text layer)."
    return f"{pages}; splitting into passages." if job.stage == "read" else "Reading the file."


# -- managing one document --------------------------------------------------------------------


@bp.route("/documents/<document_id>/edit", methods=["GET", "POST"])
def edit(document_id: str):
    """Change a document's metadata (its passages and vectors stay as they are)."""
    document = current_kb().store.get_document(document_id)
    if request.method == "GET":
        return _edit_page(document, _values(document.meta))
    values = {name: request.form.get(name, "") for name in FIELDS}
    try:
        meta, changed = _documents().edit(document.id, values, user=current_user())
    except StoreError:
        raise  # the database's trouble, not the input's: a 503 (web.errors)
    except KBError as exc:
        return _edit_page(document, values, error=str(exc), status=400)
    if not changed:
        flash(f"Nothing changed in \u201c{meta.title}\u201d.")
        return redirect(url_for("admin.index"), 303)
    flash(f"Saved the changes to \u201c{meta.title}\u201d ({', '.join(changed)}).")
    return redirect(url_for("admin.index"), 303)


def _values(meta: DocumentMeta) -> dict:
    return {
        "title": meta.title,
        "publisher": meta.publisher,
        "year": "" if meta.year is None else str(meta.year),
        "kind": meta.kind,
        "url": meta.url,
        "tags": ", ".join(meta.tags),
    }


def _edit_page(document: Document, values: dict, error: str | None = None, status: int = 200):
    html = render_template(
        "admin_edit.html",
        active="admin",
        document=document,
        values=values,
        kinds=KINDS,
        error=error,
    )
    return html, status


@bp.route("/documents/<document_id>/replace", methods=["GET", "POST"])
def replace_file(document_id: str):
    """Upload a new version of a document's file: re-read and re-embedded under the same id."""
    document = current_kb().store.get_document(document_id)
    if request.method == "GET":
        return _replace_page(document)
    try:
        job = _start("replace", document.meta, current=document)
    except StoreError:
        raise  # the database's trouble, not the input's: a 503 (web.errors)
    except KBError as exc:
        return _replace_page(document, error=exc, status=_status(exc))
    return redirect(url_for("admin.progress", job_id=job.id), 303)


def _replace_page(document: Document, error: KBError | None = None, status: int = 200):
    html = render_template(
        "admin_replace.html",
        active="admin",
        document=document,
        error=str(error) if error else None,
        existing=error if isinstance(error, DuplicateDocument) else None,
        pinned_by=_pinning_myths(document.id),
        max_size=human_size(current_settings().max_upload_bytes),
    )
    return html, status


@bp.route("/documents/<document_id>/remove", methods=["GET", "POST"])
def remove(document_id: str):
    """GET: the confirmation page. POST (from it): remove the document and its passages."""
    document = current_kb().store.get_document(document_id)
    if request.method == "GET":
        return render_template(
            "admin_remove.html",
            active="admin",
            document=document,
            pinned_by=_pinning_myths(document.id),
        )
    if request.form.get("confirm") != "yes":
        message = "Confirm the removal with the button on the confirmation page."
        return render_template(
            "admin_remove.html",
            active="admin",
            document=document,
            pinned_by=_pinning_myths(document.id),
            error=message,
        ), 400
    removed = _documents().remove(document.id, user=current_user())
    flash(f"Removed \u201c{removed.meta.title}\u201d and its {removed.passage_count} passages.")
    return redirect(url_for("admin.index"), 303)


def _pinning_myths(document_id: str) -> list:
    """The myths that pin quotes to the document (they lose that evidence if it goes)."""
    book = current_app.extensions.get("myths")
    if not book:
        return []
    return [m for m in book if any(p.document_id == document_id for p in m.evidence)]
