"""Adding and managing documents from the browser: upload, progress, edit, replace, remove,
the audit log, and every kind of bad input (refused with one sentence, nothing stored)."""

from __future__ import annotations

import html
import io
import threading
import time
import zipfile
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RESEARCHER
from conftest import both_backends
from conftest import csrf_token
from conftest import log_in
from fpdf import FPDF
from test_limits import ONE_PAGE_EXPANDING
from test_limits import SIX_PAGES_ONE_STREAM

from ingest.pipeline import Ingestor
from kb.embedder import HashingEmbedder
from kb.errors import NotFound
from kb.errors import StoreUnavailable
from kb.factory import open_store
from kb.search import KnowledgeBase
from kb_cli.main import cli
from web import create_app

pytestmark = both_backends

PHRASE = "The quokka procurement consortium saved eleven percent on payroll."
META = {"title": "Quokka payroll study", "publisher": "Test Unit", "year": "2024", "kind": "report"}


# -- files made by the tests ------------------------------------------------------------------


def make_pdf(text: str | None) -> bytes:
    """A one-page PDF with the text, or with only a filled box (no text layer) for None."""
    pdf = FPDF()
    # A fixed date: otherwise two PDFs of the same text made a second apart differ in bytes.
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    if text is None:
        pdf.rect(20, 20, 100, 60, style="F")
    else:
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb() -> bytes:
    """A zip that looks like a Word document and would inflate 5 MB from a few kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", bytes(5_000_000))
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


# -- helpers ----------------------------------------------------------------------------------


def text_of(response) -> str:
    """The page's text with HTML escapes undone (an apostrophe is &#39; in the page)."""
    return html.unescape(response.get_data(as_text=True))


def upload(client, data: bytes, name: str, path: str = "/admin/upload", **fields):
    """POST the form (with its CSRF token) as a browser would."""
    form = {"csrf_token": csrf_token(client, path), **fields}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post(path, data=form, content_type="multipart/form-data")


def wait_for_job(client, location: str, timeout: float = 120) -> dict:
    """Poll the job's JSON (as admin.js does) until it has finished (the timeout only guards
    against a hang)."""
    job_id = location.rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/admin/jobs/{job_id}")
        assert response.status_code == 200, text_of(response)
        job = response.get_json()
        if job["finished"]:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def titles_found(client, query: str) -> list[str]:
    results = client.get("/api/search", query_string={"q": query}).get_json()["results"]
    return [hit["document"]["title"] for hit in results]


def nothing_stored(app, documents_before: int, jobs: int = 0) -> None:
    """No document, kept original or temporary copy (and no job, unless told) came from the
    refused upload."""
    store = app.extensions["kb"].store
    settings = app.config["SETTINGS"]
    assert len(store.list_documents()) == documents_before
    assert len(app.extensions["jobs"].recent()) == jobs
    assert not settings.files_dir.exists() or not any(settings.files_dir.iterdir())
    uploads = settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


# -- adding -----------------------------------------------------------------------------------


def test_upload_form_lists_the_kinds_and_the_limit(logged_in):
    page = logged_in.get("/admin/upload").get_data(as_text=True)
    for kind in ("report", "guidance", "case-study", "briefing"):
        assert f'<option value="{kind}"' in page
    assert 'enctype="multipart/form-data"' in page and "up to\n    50 MB" in page


def test_upload_a_pdf_follow_progress_and_find_it(logged_in, app):
    assert PHRASE.split()[1] not in " ".join(titles_found(logged_in, "quokka consortium"))
    response = upload(logged_in, make_pdf(PHRASE), "quokka.pdf", **META, tags="payroll, test")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/admin/progress/")

    page = logged_in.get(location).get_data(as_text=True)
    assert "admin.js" in page and "data-job-url=" in page and "<script>" not in page
    job = wait_for_job(logged_in, location)
    assert job["status"] == "done" and job["outcome"] == "added", job
    assert job["pages"] == 1 and job["embedded"] == job["to_embed"] > 0
    assert job["summary"].startswith("Added \u201cQuokka payroll study\u201d: 1 passage")
    assert job["document_url"] == "/documents/quokka-payroll-study"

    assert titles_found(logged_in, "quokka procurement consortium")[0] == META["title"]
    document = app.extensions["kb"].store.get_document("quokka-payroll-study")
    assert document.meta.tags == ("payroll", "test") and document.meta.year == 2024
    kept = Path(document.file_path)
    assert kept.parent == app.config["SETTINGS"].files_dir and kept.name.endswith(".pdf")
    assert kept.stem == document.sha256  # the original, kept by its sha256
    assert not any((app.config["SETTINGS"].data_dir / "uploads").iterdir())  # copy removed
    entry = app.extensions["audit"].entries()[0]
    assert (entry.user, entry.action, entry.document_id) == (RESEARCHER, "add", document.id)


def test_the_same_file_again_is_already_present_with_a_link(logged_in, app):
    data = make_pdf(PHRASE)
    wait_for_job(logged_in, upload(logged_in, data, "quokka.pdf", **META).headers["Location"])
    again = upload(logged_in, data, "copy.pdf", **{**META, "title": "Another title"})
    assert again.status_code == 409
    text = text_of(again)
    assert "copy.pdf is already in the knowledge base as" in text
    assert 'href="/documents/quokka-payroll-study"' in text
    assert len(app.extensions["jobs"].recent()) == 1


def test_a_second_document_with_the_same_title_gets_its_own_id(logged_in, app):
    first = upload(logged_in, make_pdf(PHRASE), "a.pdf", **META)
    second = upload(logged_in, make_pdf(PHRASE + " Again."), "b.pdf", **META)
    jobs = [wait_for_job(logged_in, r.headers["Location"]) for r in (first, second)]
    assert [job["document_id"] for job in jobs] == [
        "quokka-payroll-study",
        "quokka-payroll-study-2",
    ]


def test_type_comes_from_the_content_not_the_name(logged_in, app):
    response = upload(logged_in, make_pdf(PHRASE), "scan-from-the-printer", **META)
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["status"] == "done" and job["file_name"] == "scan-from-the-printer.pdf"
    kept = app.extensions["kb"].store.get_document(job["document_id"]).file_path
    assert kept.endswith(".pdf")


def test_odd_and_climbing_file_names_are_made_safe(logged_in, app, tmp_path):
    markdown = f"# Notes\n\n{PHRASE}\n".encode()
    name = "../../../évil <notes> & co.md"
    response = upload(logged_in, markdown, name, **META)
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["status"] == "done" and job["file_name"] == "evil_notes__co.md"
    # The job is done when its document is written; the worker's scratch copy goes just
    # after. Stopping the worker waits for the job in hand to be over, scratch copy included.
    app.extensions["upload_worker"].stop()
    assert not list(tmp_path.rglob("*notes*")) and not list(Path.cwd().glob("*notes*"))
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "<notes>" not in page


def test_the_site_keeps_serving_searches_during_an_ingest(kb, settings, researcher):
    release = threading.Event()
    embedding = threading.Event()

    class SlowEmbedder(HashingEmbedder):
        def embed(self, texts):
            embedding.set()
            assert release.wait(10)
            return super().embed(texts)

    ingestor = Ingestor(kb.store, SlowEmbedder(), settings.files_dir)
    app = create_app({"TESTING": True, "SETTINGS": settings, "INGESTOR": ingestor}, kb=kb)
    client = app.test_client()
    assert log_in(client).status_code == 303
    location = upload(client, make_pdf(PHRASE), "quokka.pdf", **META).headers["Location"]
    assert embedding.wait(10)
    job = client.get(location.replace("/progress/", "/jobs/")).get_json()
    assert job["status"] == "running" and job["stage"] == "embed" and job["pages"] == 1
    assert "Read 1 page; embedded 0 of" in job["summary"]
    assert client.get("/api/search?q=savings").status_code == 200  # not blocked
    twice = upload(client, make_pdf(PHRASE), "again.pdf", **META)
    assert twice.status_code == 409
    assert "again.pdf is being added right now as \u201cQuokka payroll study\u201d." in text_of(
        twice
    )
    assert "quokka-payroll-study" not in {d.id for d in kb.store.list_documents()}
    release.set()
    assert wait_for_job(client, location)["outcome"] == "added"


def test_two_server_processes_one_data_folder(logged_in, app, settings, embedder):
    """A document added through one app is searchable in another over the same data folder,
    without a restart, and the other reports the job's progress too."""
    store = open_store(settings)
    other_kb = KnowledgeBase(store, embedder, settings.data_dir / "other-index.faiss")
    other = create_app({"TESTING": True, "SETTINGS": settings}, kb=other_kb).test_client()
    try:
        assert META["title"] not in titles_found(other, "quokka procurement consortium")
        location = upload(logged_in, make_pdf(PHRASE), "quokka.pdf", **META).headers["Location"]
        wait_for_job(logged_in, location)
        assert titles_found(other, "quokka procurement consortium")[0] == META["title"]
        other.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        assert log_in(other).status_code == 303
        job = other.get(location.replace("/progress/", "/jobs/")).get_json()
        assert job["outcome"] == "added"
    finally:
        store.close()


def test_a_failure_while_ingesting_is_reported_and_stores_nothing(kb, settings, researcher):
    from kb.errors import StoreError

    class BrokenEmbedder(HashingEmbedder):
        def embed(self, texts):
            raise StoreError("The disk is full at /data; nothing was written.")

    ingestor = Ingestor(kb.store, BrokenEmbedder(), settings.files_dir)
    app = create_app({"TESTING": True, "SETTINGS": settings, "INGESTOR": ingestor}, kb=kb)
    client = app.test_client()
    assert log_in(client).status_code == 303
    before = len(kb.store.list_documents())
    job = wait_for_job(
        client, upload(client, make_pdf(PHRASE), "q.pdf", **META).headers["Location"]
    )
    assert job["status"] == "failed"
    assert job["summary"] == "The disk is full at /data; nothing was written."
    assert len(kb.store.list_documents()) == before
    assert app.extensions["audit"].entries() == []


def test_stale_temporary_copies_are_swept(settings, kb):
    import os

    old = settings.data_dir / "uploads" / "upload-old"
    fresh = settings.data_dir / "uploads" / "upload-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "a.pdf").write_bytes(b"%PDF-")
    os.utime(old, (0, 0))
    create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    assert not old.exists() and fresh.exists()


def test_unknown_job_is_404_json(logged_in):
    response = logged_in.get("/admin/jobs/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "There is no upload job with id 'nope'."


# -- bad input: one sentence, and nothing stored ----------------------------------------------

BAD_FILES = [
    pytest.param(
        PNG,
        "report.pdf",
        415,
        "report.pdf is named .pdf but its content is a PNG image, not a PDF.",
        id="content-not-the-claimed-type",
    ),
    pytest.param(
        make_pdf(PHRASE),
        "notes.txt",
        415,
        "notes.txt is named .txt but its content is a PDF, not text; rename it to .pdf",
        id="pdf-named-text",
    ),
    pytest.param(
        PNG,
        "photo",
        415,
        "photo is a PNG image, not a PDF, Word (.docx), HTML, Markdown or text file.",
        id="unreadable-content-without-extension",
    ),
    pytest.param(b"   \n", "empty.md", 400, "empty.md is empty", id="empty-file"),
]

# Refused by reading them, which the upload worker does (the request only looks at the bytes).
UNREADABLE_FILES = [
    pytest.param(
        make_pdf(None),
        "scan.pdf",
        "scan.pdf has no extractable text; it needs OCR.",
        id="pdf-without-text",
    ),
    pytest.param(
        make_docx(PHRASE)[:2000],
        "cut.docx",
        "cut.docx is damaged: it is not a readable .docx (zip) file.",
        id="corrupt-docx",
    ),
    pytest.param(zip_bomb(), "bomb.docx", "bomb.docx is compressed", id="zip-bomb-as-docx"),
    pytest.param(
        SIX_PAGES_ONE_STREAM,
        "shared.pdf",
        "shared.pdf expands to more than 1.1 MB of page content from 7.1 KB",
        id="six-pages-sharing-a-2-mb-stream",
    ),
    pytest.param(
        ONE_PAGE_EXPANDING,
        "expanding.pdf",
        "expanding.pdf expands to more than 1.9 MB of page content",
        id="one-page-expanding-to-6-mb",
    ),
]


@pytest.mark.parametrize(("data", "name", "status", "message"), BAD_FILES)
def test_bad_files_are_refused_before_anything_is_stored(
    logged_in, app, data, name, status, message
):
    before = len(app.extensions["kb"].store.list_documents())
    response = upload(logged_in, data, name, **META)
    assert response.status_code == status
    text = text_of(response)
    assert message in text
    assert f'value="{META["title"]}"' in text  # the form keeps what was typed
    nothing_stored(app, before)


@pytest.mark.parametrize(("data", "name", "message"), UNREADABLE_FILES)
def test_unreadable_files_fail_their_job_in_one_sentence_and_store_nothing(
    logged_in, app, data, name, message
):
    before = len(app.extensions["kb"].store.list_documents())
    response = upload(logged_in, data, name, **META)
    assert response.status_code == 303
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["status"] == "failed" and message in job["summary"], job
    assert "\n" not in job["summary"] and job["summary"].endswith(".")
    assert message in text_of(logged_in.get(response.headers["Location"]))
    nothing_stored(app, before, jobs=1)


def test_the_upload_request_does_not_wait_for_the_reading(logged_in, app, monkeypatch):
    """The file is read on the worker: the request is answered while the reading is held."""
    import ingest.pipeline

    reading, release = threading.Event(), threading.Event()
    readers: list[str] = []
    load_file = ingest.pipeline.load_file

    def held(path, **kwargs):
        readers.append(threading.current_thread().name)
        reading.set()
        release.wait(10)  # bounded: if the request waited for this, it is answered after 10 s
        return load_file(path, **kwargs)

    monkeypatch.setattr(ingest.pipeline, "load_file", held)
    response = upload(logged_in, make_pdf(PHRASE), "held.pdf", **META)
    answered_while_held = not release.is_set()
    release.set()
    assert response.status_code == 303 and answered_while_held
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["status"] == "done" and readers == ["kb-uploads"]
    assert reading.is_set()


BAD_META = [
    pytest.param(
        {"title": "", "publisher": "", "year": "2024", "kind": "report"},
        "Fill in the title and publisher: they are required.",
        id="missing-title-and-publisher",
    ),
    pytest.param({**META, "year": ""}, "Fill in the year: it is required.", id="missing-year"),
    pytest.param(
        {**META, "year": "twenty"},
        "The year must be a number such as 2024, not 'twenty'.",
        id="year-not-a-number",
    ),
    pytest.param(
        {**META, "year": "3000"},
        "has year 3000; give the year it was published, from 1800 to 2100.",
        id="year-out-of-range",
    ),
    pytest.param({**META, "kind": "novel"}, "has kind 'novel'; use one of", id="unknown-kind"),
    pytest.param(
        {**META, "url": "javascript:alert(1)"},
        "The source URL must be a web address starting with https:// or http://.",
        id="script-url",
    ),
    pytest.param({k: v for k, v in META.items() if k != "kind"}, "kind", id="kind-not-sent"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_META)
def test_bad_metadata_is_refused_before_anything_is_stored(logged_in, app, fields, message):
    before = len(app.extensions["kb"].store.list_documents())
    response = upload(logged_in, make_pdf(PHRASE), "quokka.pdf", **fields)
    assert response.status_code == 400
    assert message in text_of(response)
    nothing_stored(app, before)


def test_no_file_chosen(logged_in, app):
    response = upload(logged_in, None, "", **META)
    assert response.status_code == 400
    assert "Choose a file to upload." in text_of(response)
    nothing_stored(app, 3)


@pytest.fixture
def small_limit_app(kb, settings, tmp_path, researcher):
    """The app with a 2 KB upload limit (and the form allowance on top of it)."""
    settings = replace(settings, corpus_dir=tmp_path, max_upload_bytes=2048)
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    client = app.test_client()
    assert log_in(client).status_code == 303
    return app, client


def test_a_file_over_the_limit_is_413_with_its_size(small_limit_app):
    app, client = small_limit_app
    response = upload(client, b"word " * 1000, "long.txt", **META)
    assert response.status_code == 413
    assert "long.txt is 4.9 KB, over the 2 KB limit for one file." in response.text
    nothing_stored(app, 3)


def test_an_oversized_request_is_413_before_it_is_read(small_limit_app):
    app, client = small_limit_app
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = upload(client, big, "huge.txt", **META)
    assert response.status_code == 413
    assert "The upload is larger than the 2 KB limit for one file." in response.text
    nothing_stored(app, 3)


def test_kb_add_shares_the_checks_with_the_upload_page(logged_in, app, tmp_path):
    """`kb add` and the page refuse the same files with the same sentence, and both see
    a file the other added as already present."""
    settings = app.config["SETTINGS"]
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_pdf(None))
    base = ["--data-dir", str(settings.data_dir), "--embedder", "hashing", "add", str(scan)]
    options = ["--title", "T", "--publisher", "P", "--year", "2024", "--kind", "report"]
    refused = CliRunner().invoke(cli, base + options)
    assert refused.exit_code == 1
    web = upload(logged_in, scan.read_bytes(), "scan.pdf", **META)
    job = wait_for_job(logged_in, web.headers["Location"])
    assert "scan.pdf has no extractable text; it needs OCR." in refused.output
    assert job["summary"] == "scan.pdf has no extractable text; it needs OCR."

    paper = tmp_path / "paper.pdf"
    paper.write_bytes(make_pdf(PHRASE))
    added = CliRunner().invoke(cli, [*base[:-1], str(paper), *options])
    assert added.exit_code == 0, added.output
    again = upload(logged_in, paper.read_bytes(), "paper.pdf", **META)
    assert again.status_code == 409 and "already in the knowledge base as" in again.text


# -- managing ---------------------------------------------------------------------------------


def test_admin_lists_documents_with_their_actions(logged_in):
    page = logged_in.get("/admin").get_data(as_text=True)
    for action in ("edit", "replace", "remove"):
        assert f'href="/admin/documents/report-a/{action}"' in page
    assert 'href="/admin/upload"' in page and 'href="/admin/audit"' in page


def test_edit_metadata(logged_in, app):
    form = logged_in.get("/admin/documents/somerset/edit").get_data(as_text=True)
    assert 'value="Southwest One in Somerset"' in form
    fields = {
        "title": "Southwest One in Somerset",
        "publisher": "Shared Services Evidence Base",
        "year": "2015",
        "kind": "case-study",
        "tags": "southwest-one, technology, ibm",
        "csrf_token": csrf_token(logged_in, "/admin/documents/somerset/edit"),
    }
    response = logged_in.post("/admin/documents/somerset/edit", data=fields)
    assert response.status_code == 303
    note = logged_in.get("/admin").get_data(as_text=True)
    assert "Saved the changes to \u201cSouthwest One in Somerset\u201d (year, tags)." in note
    meta = app.extensions["kb"].store.get_document("somerset").meta
    assert meta.year == 2015 and meta.tags == ("southwest-one", "technology", "ibm")
    entry = app.extensions["audit"].entries()[0]
    assert (entry.action, entry.document_id, entry.detail) == (
        "edit",
        "somerset",
        "changed year, tags",
    )


def test_edit_with_bad_metadata_changes_nothing(logged_in, app):
    token = csrf_token(logged_in, "/admin/documents/somerset/edit")
    data = {"title": "", "publisher": "P", "year": "2015", "kind": "report", "csrf_token": token}
    response = logged_in.post("/admin/documents/somerset/edit", data=data)
    assert response.status_code == 400 and "Fill in the title: it is required." in response.text
    assert app.extensions["kb"].store.get_document("somerset").meta.year == 2026
    assert app.extensions["audit"].entries() == []


def test_replace_the_file_under_the_same_id(logged_in, app):
    location = upload(logged_in, make_pdf(PHRASE), "v1.pdf", **META).headers["Location"]
    doc_id = wait_for_job(logged_in, location)["document_id"]
    newer = "The wombat shared service centre closed after two years."
    path = f"/admin/documents/{doc_id}/replace"
    response = upload(logged_in, make_pdf(newer), "v2.pdf", path=path)
    assert response.status_code == 303
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["outcome"] == "replaced" and job["document_id"] == doc_id
    assert titles_found(logged_in, "wombat shared service centre")[0] == META["title"]
    passages = app.extensions["kb"].store.passages_of(doc_id)
    assert all("quokka" not in p.text for p in passages)
    assert [e.action for e in app.extensions["audit"].entries()] == ["replace", "add"]

    same = upload(logged_in, make_pdf(newer), "v2-again.pdf", path=path)
    assert same.status_code == 409 and "nothing changed" in same.text


def test_replace_refuses_bad_files_and_keeps_the_old_version(logged_in, app):
    before = app.extensions["kb"].store.passages_of("report-a")
    path = "/admin/documents/report-a/replace"
    response = upload(logged_in, PNG, "scan.pdf", path=path)
    assert response.status_code == 415 and "content is a PNG image" in text_of(response)
    response = upload(logged_in, make_pdf(None), "scan.pdf", path=path)
    assert response.status_code == 303
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["status"] == "failed" and "needs OCR" in job["summary"]
    assert app.extensions["kb"].store.passages_of("report-a") == before


def test_remove_goes_through_a_confirmation(logged_in, app):
    confirm = logged_in.get("/admin/documents/report-a/remove")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Remove \u201cThe front line starts here\u201d?" in text
    token = csrf_token(logged_in, "/admin/documents/report-a/remove")
    unconfirmed = logged_in.post("/admin/documents/report-a/remove", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert app.extensions["kb"].store.get_document("report-a")

    done = logged_in.post(
        "/admin/documents/report-a/remove", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 303
    assert "Removed \u201cThe front line starts here\u201d" in logged_in.get("/admin").text
    with pytest.raises(NotFound):
        app.extensions["kb"].store.get_document("report-a")
    assert "The front line starts here" not in titles_found(logged_in, "savings 1.8%")
    entry = app.extensions["audit"].entries()[0]
    assert (entry.user, entry.action, entry.document_id) == (RESEARCHER, "remove", "report-a")


def test_managing_a_missing_document_is_404(logged_in):
    for action in ("edit", "replace", "remove"):
        assert logged_in.get(f"/admin/documents/nope/{action}").status_code == 404


def test_audit_log_shows_who_did_what_to_which_document_and_when(logged_in, app):
    location = upload(logged_in, make_pdf(PHRASE), "quokka.pdf", **META).headers["Location"]
    wait_for_job(logged_in, location)
    token = csrf_token(logged_in, "/admin/documents/tayside/remove")
    logged_in.post("/admin/documents/tayside/remove", data={"csrf_token": token, "confirm": "yes"})
    page = logged_in.get("/admin/audit")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    rows = text.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    assert "remove" in rows[0] and "Tayside Contracts" in rows[0] and RESEARCHER in rows[0]
    assert "<time datetime=" in rows[0]
    assert "add" in rows[1] and 'href="/documents/quokka-payroll-study"' in rows[1]


def test_an_upload_while_the_database_is_unreachable_is_a_503_not_a_refusal(
    logged_in, app, monkeypatch
):
    """The database's trouble is not the file's: the site's 503 with its one sentence and
    Retry-After, as every other page (was: a 400 telling the researcher to check
    KB_DATABASE_URL)."""
    store = app.extensions["kb"].store

    def unreachable(*args, **kwargs):
        raise StoreUnavailable("The database server at db:5432/kb cannot be reached (refused).")

    monkeypatch.setattr(store, "find_by_sha256", unreachable)
    data = make_pdf(PHRASE)
    details = logged_in.post(
        "/admin/upload/details",
        data={
            "csrf_token": csrf_token(logged_in, "/admin/upload"),
            "file": (io.BytesIO(data), "a.pdf"),
        },
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    for response in (upload(logged_in, data, "a.pdf", **META), details):
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "cannot be reached right now" in text_of(response)
        assert "KB_DATABASE_URL" not in text_of(response)
    monkeypatch.undo()
    assert len(app.extensions["jobs"].recent()) == 0
