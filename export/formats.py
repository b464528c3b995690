"""The formats a pack and a document's references can be downloaded in, and their writers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from export.pack_markdown import pack_markdown
from export.pack_markdown import pack_text
from export.references import bibtex
from export.references import csl_json
from export.references import ris
from kb.citations import csl_item
from kb.citations import source_csl_item
from kb.models import Document
from kb.packs import Pack


@dataclass(frozen=True)
class FileFormat:
    name: str  # as the API and URLs say it
    label: str  # as a person reads it on a button
    extension: str
    media_type: str


DOCX = FileFormat(
    "docx",
    "Word",
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)
MARKDOWN = FileFormat("md", "Markdown", "md", "text/markdown; charset=utf-8")
TEXT = FileFormat("txt", "Plain text", "txt", "text/plain; charset=utf-8")
RIS = FileFormat("ris", "RIS", "ris", "application/x-research-info-systems")
BIBTEX = FileFormat("bib", "BibTeX", "bib", "application/x-bibtex; charset=utf-8")
CSL_JSON = FileFormat("csl", "CSL-JSON", "json", "application/vnd.citationstyles.csl+json")

REFERENCE_FORMATS: dict[str, FileFormat] = {f.name: f for f in (RIS, BIBTEX, CSL_JSON)}
PACK_FORMATS: dict[str, FileFormat] = {
    f.name: f for f in (DOCX, MARKDOWN, TEXT, *REFERENCE_FORMATS.values())
}

_REFERENCE_WRITERS: dict[str, Callable[[list[dict]], bytes]] = {
    "ris": ris,
    "bib": bibtex,
    "csl": csl_json,
}


def _pack_docx(pack: Pack, base_url: str) -> bytes:
    # python-docx (and lxml's document model) cost a server about a third of a second to
    # import; only a Word download needs them, so they load on the first one.
    from export.pack_docx import pack_docx

    return pack_docx(pack, base_url)


_PACK_WRITERS: dict[str, Callable[[Pack, str], bytes]] = {
    "docx": _pack_docx,
    "md": pack_markdown,
    "txt": pack_text,
}


def render_pack(pack: Pack, file_format: FileFormat, base_url: str) -> bytes:
    """The pack as a file; the reference formats hold the pack's documents and the primary
    sources its quotes cite."""
    if file_format.name in _REFERENCE_WRITERS:
        items = [csl_item(document) for document in pack.documents()]
        sources = {s.url: s for item in pack.items for s in item.citation.sources}
        for number, source in enumerate(sources.values(), start=1):
            # Keys are per document: two documents may give one key to different sources.
            items.append({**source_csl_item(source), "id": f"source-{number}-{source.key}"})
        return _REFERENCE_WRITERS[file_format.name](items)
    return _PACK_WRITERS[file_format.name](pack, base_url)


def render_references(documents: list[Document], file_format: FileFormat) -> bytes:
    """References for the documents in one of REFERENCE_FORMATS."""
    return _REFERENCE_WRITERS[file_format.name]([csl_item(d) for d in documents])


def file_name(title: str, file_format: FileFormat) -> str:
    """A safe ASCII file name from a title: "Briefing: Tayside!" -> "briefing-tayside.docx"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    return f"{slug or 'evidence-pack'}.{file_format.extension}"
