"""The upload form's prefill: the title, publisher and year a file states about itself (PDF
document information and XMP, DOCX core and extended properties, HTML title and meta tags),
read without storing anything, and the upload page's JSON answers for several files."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC
from datetime import datetime

import pytest
from conftest import csrf_token
from fpdf import FPDF
from pypdf import PdfReader
from pypdf import PdfWriter
from pypdf.xmp import XmpInformation
from test_upload import META
from test_upload import PHRASE
from test_upload import make_pdf
from test_upload import nothing_stored
from test_upload import upload
from test_upload import wait_for_job

from ingest.details import read_details
from kb.errors import CorruptFile
from kb.errors import EncryptedFile


def info_pdf(title="Shared services in Tayside", author="Audit Scotland", year=2019) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creation_date(datetime(year, 5, 2, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, PHRASE)
    return bytes(pdf.output())


def with_xmp(data: bytes, **values) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    xmp = XmpInformation.create()
    for name, value in values.items():
        setattr(xmp, name, value)
    writer.xmp_metadata = xmp
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(title="", author="", created=None, company="") -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = author
    if created:
        document.core_properties.created = created
    document.add_paragraph(PHRASE)
    out = io.BytesIO()
    document.save(out)
    if not company:
        return out.getvalue()
    # python-docx does not write the extended properties: add docProps/app.xml as Word does.
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != "docProps/app.xml":
                target.writestr(item, source.read(item.filename))
        target.writestr(
            "docProps/app.xml",
            '<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/extended-properties"><Company>{company}</Company></Properties>',
        )
    return rebuilt.getvalue()


# -- what each format states ------------------------------------------------------------------


def test_pdf_document_information():
    details = read_details(info_pdf(), "review.pdf", "pdf")
    assert (details.title, details.publisher, details.year) == (
        "Shared services in Tayside",
        "Audit Scotland",
        "2019",
    )
    assert details.sources["year"] == "the PDF's document information (date)"


def test_pdf_xmp_wins_over_the_document_information():
    data = with_xmp(
        info_pdf(title="Microsoft Word - draft3.docx", author="jsmith"),
        dc_title={"x-default": "Clyde Valley review of shared services"},
        dc_publisher=["Clyde Valley Community Planning Partnership"],
        dc_date=[datetime(2009, 11, 1, tzinfo=UTC)],
    )
    details = read_details(data, "cv.pdf", "pdf")
    assert details.title == "Clyde Valley review of shared services"
    assert details.publisher == "Clyde Valley Community Planning Partnership"
    assert details.year == "2009"
    assert details.sources["title"] == "the PDF's XMP dc:title"


def test_file_names_and_software_are_not_offered():
    data = info_pdf(title="Microsoft Word - draft3.docx", author="Microsoft Word")
    details = read_details(data, "draft.pdf", "pdf")
    assert (details.title, details.publisher) == ("", "")


def test_docx_properties_and_company():
    data = docx_file("Back office review", "jsmith", datetime(2016, 3, 1), "Fife Council")
    details = read_details(data, "review.docx", "docx")
    assert (details.title, details.publisher, details.year) == (
        "Back office review",
        "Fife Council",
        "2016",
    )
    assert read_details(docx_file(author="jsmith"), "r.docx", "docx").publisher == "jsmith"


def test_html_title_and_meta_tags():
    page = (
        b'<html><head><meta charset="utf-8"><title>Sharing the back office | The Herald</title>'
        b'<meta property="og:site_name" content="The Herald">'
        b'<meta name="author" content="Jane Roe">'
        b'<meta property="article:published_time" content="2021-06-04T10:00:00Z">'
        b"</head><body><p>Text.</p></body></html>"
    )
    details = read_details(page, "article.html", "html")
    assert (details.title, details.publisher, details.year) == (
        "Sharing the back office",
        "The Herald",
        "2021",
    )
    scholarly = (
        b'<head><meta name="citation_title" content="Shared services: a review">'
        b'<meta name="citation_publisher" content="Scottish Government">'
        b'<meta name="citation_publication_date" content="2011/06/29"></head><p>x</p>'
    )
    details = read_details(scholarly, "paper.html", "html")
    assert (details.title, details.publisher, details.year) == (
        "Shared services: a review",
        "Scottish Government",
        "2011",
    )


def test_the_kind_where_the_file_names_one_of_ours():
    pdf = with_xmp(info_pdf(), dc_type=["Text", "Case Study"])
    assert read_details(pdf, "c.pdf", "pdf").kind == "case-study"
    assert read_details(pdf, "c.pdf", "pdf").sources["kind"] == "the PDF's XMP dc:type"
    assert read_details(info_pdf(), "r.pdf", "pdf").kind == ""  # says nothing
    import docx

    document = docx.Document(io.BytesIO(docx_file("Back office review")))
    document.core_properties.category = "Briefing paper"
    out = io.BytesIO()
    document.save(out)
    assert read_details(out.getvalue(), "b.docx", "docx").kind == "briefing"
    for og_type, kind in (("article", "article"), ("website", ""), ("document", "")):
        page = f'<head><meta property="og:type" content="{og_type}"></head><p>x</p>'.encode()
        assert read_details(page, "p.html", "html").kind == kind


def test_markdown_heading_and_nothing_stated():
    assert read_details(b"# Notes on payroll\n\nText.", "n.md", "markdown").title == (
        "Notes on payroll"
    )
    details = read_details(b"\n".join([b"word " * 40] * 3), "n.txt", "text")
    assert (details.title, details.publisher, details.year, details.kind) == ("", "", "", "")
    assert details.sources == {}


def test_damaged_and_locked_files_get_one_sentence():
    with pytest.raises(CorruptFile, match=r"^broken\.pdf is damaged"):
        read_details(b"%PDF-1.7\n garbage %%EOF", "broken.pdf", "pdf")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(info_pdf())))
    writer.encrypt("secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(EncryptedFile, match="protected by a password"):
        read_details(out.getvalue(), "locked.pdf", "pdf")


# -- the upload page's endpoints --------------------------------------------------------------


def post_details(client, data: bytes, name: str):
    form = {"csrf_token": csrf_token(client, "/admin/upload"), "file": (io.BytesIO(data), name)}
    return client.post("/admin/upload/details", data=form, content_type="multipart/form-data")


def test_details_endpoint_reads_without_storing(logged_in, app):
    before = len(app.extensions["kb"].store.list_documents())
    response = post_details(logged_in, info_pdf(), "review.pdf")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["title"], body["publisher"], body["year"]) == (
        "Shared services in Tayside",
        "Audit Scotland",
        "2019",
    )
    assert body["message"].startswith("Filled in from review.pdf: title from the PDF's")
    nothing_stored(app, before)


def test_details_endpoint_refuses_bad_files_in_one_sentence(logged_in, app):
    before = len(app.extensions["kb"].store.list_documents())
    png = post_details(logged_in, b"\x89PNG\r\n\x1a\n" + bytes(200), "photo.pdf")
    assert png.status_code == 415
    assert png.get_json()["error"].startswith("photo.pdf is named .pdf but its content is")
    nothing_stored(app, before)

    data = make_pdf(PHRASE)
    wait_for_job(logged_in, upload(logged_in, data, "q.pdf", **META).headers["Location"])
    again = post_details(logged_in, data, "copy.pdf")
    assert again.status_code == 409
    assert again.get_json()["document_url"] == "/documents/quokka-payroll-study"
    assert "copy.pdf is already in the knowledge base" in again.get_json()["error"]


def test_details_need_a_login(client):
    form = {"file": (io.BytesIO(info_pdf()), "review.pdf")}
    response = client.post("/admin/upload/details", data=form)
    assert response.status_code == 401 and "error" in response.get_json()


def json_upload(client, data: bytes, name: str, **fields):
    form = {"csrf_token": csrf_token(client, "/admin/upload"), "file": (io.BytesIO(data), name)}
    return client.post(
        "/admin/upload",
        data={**form, **fields},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def test_several_files_each_with_its_own_details_and_job(logged_in, app):
    first = json_upload(logged_in, make_pdf(PHRASE), "a.pdf", **META)
    second = json_upload(
        logged_in, info_pdf(), "b.pdf", **{**META, "title": "Tayside", "year": "2019"}
    )
    refused = json_upload(
        logged_in, make_pdf(PHRASE + " More."), "c.pdf", **{**META, "year": "soon"}
    )
    assert first.status_code == second.status_code == 202
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "The year must be a number such as 2024, not 'soon'."
    jobs = [wait_for_job(logged_in, r.get_json()["job_url"]) for r in (first, second)]
    assert [(j["title"], j["status"]) for j in jobs] == [
        ("Quokka payroll study", "done"),
        ("Tayside", "done"),
    ]
    assert first.get_json()["progress_url"] == f"/admin/progress/{jobs[0]['id']}"
    years = {d.meta.title: d.meta.year for d in app.extensions["kb"].store.list_documents()}
    assert years["Tayside"] == 2019 and "c.pdf" not in str(years)


def test_several_files_in_one_form_without_javascript_are_refused(logged_in, app):
    before = len(app.extensions["kb"].store.list_documents())
    form = {
        "csrf_token": csrf_token(logged_in, "/admin/upload"),
        "file": [(io.BytesIO(make_pdf(PHRASE)), "a.pdf"), (io.BytesIO(info_pdf()), "b.pdf")],
        **META,
    }
    response = logged_in.post("/admin/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose one file at a time here" in response.get_data(as_text=True)
    nothing_stored(app, before)
