"""The details a file states about itself (title, publisher, year, kind), to prefill the upload
form.

Nothing here is trusted: the researcher sees the values and corrects them before the document
goes in (build_meta checks them then). Where the values come from:

- PDF: the document information dictionary (/Title, /Author, /CreationDate) and the XMP packet
  (dc:title, dc:publisher, dc:creator, dc:date, xmp:CreateDate, dc:type), both read by pypdf;
  XMP wins where both have a value (it is the newer, richer record and tools keep it more
  carefully).
- DOCX: the core properties (title, author, created, category; python-docx) and the company in
  the extended properties (docProps/app.xml), which names an organisation more often than the
  author does.
- HTML: <title> or og:title / citation_title / DC.title; the publisher from citation_publisher,
  DC.publisher, og:site_name or author; the year from citation_publication_date,
  article:published_time, DC.date, date, or a <time datetime> in the page; the kind from
  og:type or DC.type.
- The kind only where the file names one of ours (kb.catalog.KINDS) in so many words ("Case
  study", "Briefing paper", og:type "article"); "document" is never offered, it says nothing.
- Markdown and text: the first heading or line as the title; nothing else is stated.

A value that is not usable (a title that is a file name like "Microsoft Word - draft3.doc",
software named as the author, a year outside 1800-2100) is left empty rather than offered.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import asdict
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from pathlib import Path

from ingest.loaders import FORMATS
from ingest.loaders.common import decode_text
from ingest.loaders.common import tidy
from ingest.service import check_kind
from ingest.service import refuse_stored
from kb.errors import CorruptFile
from kb.errors import IngestError
from kb.store import Store

MAX_CHARS = 300  # what build_meta accepts for a title or a publisher
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d|2100)(?!\d)")
# A title that is only the file's name, or a word processor's placeholder, says nothing.
_FILE_NAME_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint|excel) - .*|.*\.(?:docx?|pdf|rtf|odt|pptx?|xlsx?|indd|qxd)"
    r"|untitled.*|document\d*|title|slide \d+|powerpoint presentation)$",
    re.I,
)
# Software that PDF and Word files often name as their author or creator.
_SOFTWARE = re.compile(
    r"\b(?:microsoft|acrobat|adobe|word|libreoffice|openoffice|writer|pdf|fpdf|tcpdf|itext|"
    r"ghostscript|latex|pdftex|quartz|indesign|distiller|reportlab|chrome|skia)\b",
    re.I,
)


@dataclass(frozen=True)
class FileDetails:
    """What a file says about itself; empty strings where it says nothing usable.

    Attributes:
        name: the file name (with the extension its content has).
        title, publisher, year, kind: the suggested values, as the form's fields hold them
            (kind: one of kb.catalog.KINDS).
        sources: for each field found, where it was found ("PDF XMP dc:title"), so the page
            can say it and the researcher knows what to check.
    """

    name: str
    title: str = ""
    publisher: str = ""
    year: str = ""
    kind: str = ""
    sources: dict | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sources"] = dict(self.sources or {})
        return data


class _Found:
    """Collects the first usable value of each field, with where it came from."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sources: dict[str, str] = {}

    def offer(self, field: str, value: object, source: str) -> None:
        if field in self.values or value is None:
            return
        usable = _usable(field, value)
        if usable:
            self.values[field] = usable
            self.sources[field] = source

    def details(self, name: str) -> FileDetails:
        return FileDetails(name=name, **self.values, sources=self.sources)


def _usable(field: str, value: object) -> str:
    if field == "year":
        return _year(value)
    if field == "kind":
        return _kind(value)
    text = tidy(str(value))
    if not text or len(text) > MAX_CHARS or text.lower() in ("unknown", "none", "n/a", "-"):
        return ""
    if field == "title" and _FILE_NAME_TITLE.match(text):
        return ""
    if field == "publisher" and _SOFTWARE.search(text):
        return ""
    return text


# The words by which a file may say what it is, as our kinds (kb.catalog.KINDS); the first
# that matches wins.
_KIND_WORDS = (
    (re.compile(r"\bcase[\s_-]*stud(?:y|ies)\b", re.I), "case-study"),
    (re.compile(r"\bbriefing\b", re.I), "briefing"),
    (re.compile(r"\bguidance\b", re.I), "guidance"),
    (re.compile(r"\breports?\b", re.I), "report"),
    (re.compile(r"\barticle\b", re.I), "article"),
)


def _kind(value: object) -> str:
    text = tidy(str(value))[:MAX_CHARS]
    return next((kind for words, kind in _KIND_WORDS if words.search(text)), "")


def _year(value: object) -> str:
    if isinstance(value, datetime | date):
        year = value.year
    else:
        text = str(value).strip()
        # A PDF date ("D:20190502...") runs the year into the month and day.
        match = _YEAR.match(text[2:6]) if text.startswith("D:") else _YEAR.search(text)
        if not match:
            return ""
        year = int(match[1])
    return str(year) if 1800 <= year <= 2100 else ""


def file_details(store: Store, data: bytes, name: str, max_bytes: int | None) -> FileDetails:
    """The checks an upload of the file would meet first (size, kind by content, the same file
    already stored), then its details; nothing is stored.

    Raises:
        IngestError: a subclass saying why the file would be refused (the upload's sentence).
    """
    name = check_kind(data, name, max_bytes)
    refuse_stored(store, data, name)
    return read_details(data, name, FORMATS[Path(name).suffix.lower()])


def read_details(data: bytes, name: str, kind: str) -> FileDetails:
    """The title, publisher and year a file states, for the researcher to check.

    Args:
        data: the file's bytes (its size and kind already checked: ingest.service.check_kind).
        name: its name, for messages.
        kind: "pdf", "docx", "html", "markdown" or "text" (ingest.loaders.FORMATS).

    Returns:
        The details found (any may be empty).

    Raises:
        IngestError: the file cannot be read as what it is (one sentence naming it).
    """
    reader = {"pdf": _pdf, "docx": _docx, "html": _html}.get(kind, _plain)
    found = _Found()
    try:
        reader(data, name, found)
    except IngestError:
        raise
    except Exception as exc:  # each library raises its own errors on damaged files
        raise CorruptFile(f"{name} is damaged: its details could not be read.") from exc
    return found.details(name)


def _pdf(data: bytes, name: str, found: _Found) -> None:
    from pypdf import PdfReader

    from ingest.loaders.pdf import decrypt

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        decrypt(reader, name)
    xmp = _xmp(reader)
    info = reader.metadata or {}
    if xmp is not None:
        found.offer("title", _first(xmp.dc_title), "the PDF's XMP dc:title")
        found.offer("publisher", _first(xmp.dc_publisher), "the PDF's XMP dc:publisher")
    found.offer("title", info.get("/Title"), "the PDF's document information (Title)")
    if xmp is not None:
        found.offer("publisher", _first(xmp.dc_creator), "the PDF's XMP dc:creator")
    found.offer("publisher", info.get("/Author"), "the PDF's document information (Author)")
    if xmp is not None:
        found.offer("year", _first(xmp.dc_date), "the PDF's XMP dc:date")
        found.offer("year", xmp.xmp_create_date, "the PDF's XMP xmp:CreateDate")
    found.offer("year", info.get("/CreationDate"), "the PDF's document information (date)")
    if xmp is not None:
        for value in xmp.dc_type or ():
            found.offer("kind", value, "the PDF's XMP dc:type")


def _xmp(reader):
    """The XMP packet, or None when there is none or it is not valid XML."""
    try:
        return reader.xmp_metadata
    except Exception:
        return None


def _first(value: object) -> object:
    """The first of an XMP list, or the x-default (else any) entry of a language alternative."""
    if isinstance(value, dict):
        return value.get("x-default") or next(iter(value.values()), None)
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


_APP_XML = "docProps/app.xml"
_COMPANY = re.compile(rb"<(?:\w+:)?Company>([^<]{1,600})</(?:\w+:)?Company>")


def _docx(data: bytes, name: str, found: _Found) -> None:
    import docx

    from ingest.loaders.docx import MAX_COMPRESSION_RATIO
    from ingest.loaders.docx import MAX_UNCOMPRESSED_BYTES
    from ingest.loaders.docx import check_archive

    check_archive(
        data, name, max_uncompressed=MAX_UNCOMPRESSED_BYTES, max_ratio=MAX_COMPRESSION_RATIO
    )
    properties = docx.Document(io.BytesIO(data)).core_properties
    found.offer("title", properties.title, "the Word document's properties (title)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if _APP_XML in archive.namelist() and archive.getinfo(_APP_XML).file_size < 1_000_000:
            company = _COMPANY.search(archive.read(_APP_XML))
            if company:
                text = company[1].decode("utf-8", errors="replace")
                found.offer("publisher", _unescape(text), "the Word document's company")
    found.offer("publisher", properties.author, "the Word document's properties (author)")
    found.offer("year", properties.created, "the Word document's properties (created)")
    found.offer("kind", properties.category, "the Word document's properties (category)")


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


# (meta attribute value, field, how the page names it), in order of preference.
_HTML_META = (
    ("citation_title", "title"),
    ("dc.title", "title"),
    ("og:title", "title"),
    ("citation_publisher", "publisher"),
    ("dc.publisher", "publisher"),
    ("og:site_name", "publisher"),
    ("author", "publisher"),
    ("citation_author", "publisher"),
    ("dc.creator", "publisher"),
    ("citation_publication_date", "year"),
    ("citation_date", "year"),
    ("article:published_time", "year"),
    ("dc.date", "year"),
    ("dc.date.issued", "year"),
    ("date", "year"),
    ("pubdate", "year"),
    ("dc.type", "kind"),
    ("og:type", "kind"),
)


def _html(data: bytes, name: str, found: _Found) -> None:
    from bs4 import BeautifulSoup

    from ingest.loaders.html import decode_html

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about text that merely looks like a URL
        page = BeautifulSoup(decode_html(data), "lxml")
    metas: dict[str, str] = {}
    for tag in page.find_all("meta"):
        key = (tag.get("name") or tag.get("property") or tag.get("itemprop") or "").lower()
        content = tag.get("content")
        if key and content and key not in metas:
            metas[key] = content
    for key, field in _HTML_META:
        found.offer(field, metas.get(key), f"the page's {key} meta tag")
    title = page.find("title")
    if title is not None:
        text = _without_site_name(tidy(title.get_text(" ")), metas.get("og:site_name", ""))
        found.offer("title", text, "the page's <title>")
    time = page.find("time", attrs={"datetime": True})
    if time is not None:
        found.offer("year", time["datetime"], "the page's first <time datetime>")


def _without_site_name(title: str, site: str) -> str:
    """ "Shared services review | The Herald" without " | The Herald" when the page names its
    site so."""
    site = tidy(site)
    for separator in (" | ", " - ", " \u2013 ", " \u2014 ", " :: "):
        if site and title.endswith(separator + site):
            return title[: -len(separator + site)]
    return title


_MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,2}\s+(.+?)\s*#*\s*$")


def _plain(data: bytes, name: str, found: _Found) -> None:
    """A Markdown file's first heading, or a text file's first line if it is short."""
    lines = [line for line in decode_text(data[:20_000]).splitlines() if line.strip()]
    if not lines:
        return
    heading = _MARKDOWN_HEADING.match(lines[0])
    if heading:
        found.offer("title", heading[1], "the file's first heading")
    elif len(lines[0].strip()) <= 120:
        found.offer("title", lines[0], "the file's first line")


def describe(details: FileDetails) -> str:
    """One sentence for the form: what was filled in, and from where, to be checked."""
    if not details.sources:
        return f"{details.name} states no title, publisher, year or kind: fill them in."
    parts = [f"{field} from {source}" for field, source in details.sources.items()]
    return f"Filled in from {details.name}: " + "; ".join(parts) + ". Check them before adding."
