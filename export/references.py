"""References for reference managers (Zotero, Mendeley, EndNote, JabRef): CSL-JSON, RIS and
BibTeX for a set of CSL-JSON items.

All three are made from CSL-JSON items, the one structured form of a citation
(kb.citations.csl_item for a document, source_csl_item for a primary source it cites). RIS is
written by rispy and BibTeX by bibtexparser, with LaTeX's special characters encoded by
pylatexenc (so a title with "&", "%", "{" or "£" stays a valid entry). A source's note (how
we read it: "summarised by CAAF") is RIS N1, BibTeX note and CSL note, never part of the
author; a press release (genre "Press release") is RIS type PRESS.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import bibtexparser
import rispy
from bibtexparser.library import Library
from bibtexparser.model import Entry
from bibtexparser.model import Field
from pylatexenc.latexencode import unicode_to_latex

from kb.citations import PRESS_RELEASE

RIS_TYPES = {
    "report": "RPRT",
    "book": "BOOK",
    "article-journal": "JOUR",
    "article-newspaper": "NEWS",
    "webpage": "ELEC",
    "legislation": "STAT",
}
BIBTEX_TYPES = {
    "report": "techreport",
    "book": "book",
    "article-journal": "article",
    "article-newspaper": "article",
}
_BIBTEX_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_:.-]+")


def _one_line(value: str) -> str:
    """Reference fields are single lines (a line break would end an RIS field early)."""
    return " ".join(str(value).split())


def _year(item: dict) -> str:
    parts = item.get("issued", {}).get("date-parts", [[]])
    return str(parts[0][0]) if parts and parts[0] else ""


def csl_json(items: list[dict]) -> bytes:
    """The items as a CSL-JSON array (UTF-8)."""
    return (json.dumps(items, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _accessed(item: dict) -> str:
    """The date a web source was read, as YYYY-MM-DD (empty when not recorded)."""
    parts = item.get("accessed", {}).get("date-parts", [[]])[0]
    return "-".join(f"{part:02d}" for part in parts)


class _RisWriter(rispy.RisWriter):
    def set_header(self, count: int) -> str:
        return ""  # no "1." line before each record: some importers stumble on it


def ris(items: list[dict]) -> bytes:
    """The items as RIS records (UTF-8, CRLF line ends as the format expects)."""
    records = []
    for item in items:
        record = {
            "type_of_reference": RIS_TYPES.get(item["type"], "GEN"),
            "id": item["id"],
            "title": _one_line(item["title"]),
            "authors": [_one_line(a["literal"]) for a in item["author"]],
            "publisher": _one_line(item["publisher"]),
        }
        if _year(item):
            record["year"] = _year(item)
        if item.get("genre") == PRESS_RELEASE:
            record["type_of_reference"] = "PRESS"
        if item.get("genre"):
            record["type_of_work"] = item["genre"]
        if item.get("URL"):
            record["urls"] = [_one_line(item["URL"])]
        if _accessed(item):
            record["access_date"] = _accessed(item)
        if item.get("note"):
            record["notes"] = [_one_line(item["note"])]
        records.append(record)
    text = rispy.dumps(records, implementation=_RisWriter)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def bibtex(items: list[dict]) -> bytes:
    """The items as BibTeX entries (UTF-8; special characters LaTeX-encoded).

    The title and the corporate author are in double braces, so BibTeX neither changes the
    title's case nor splits "APSE for UNISON Scotland" into a first and last name.
    """
    library = Library()
    for item in items:
        entry_type = BIBTEX_TYPES.get(item["type"], "misc")
        fields = [
            Field("title", "{" + _latex(item["title"]) + "}"),
            Field("author", " and ".join("{" + _latex(a["literal"]) + "}" for a in item["author"])),
        ]
        publisher = _latex(item["publisher"])
        if entry_type == "techreport":
            fields.append(Field("institution", publisher))
        elif entry_type == "article":
            fields.append(Field("journal", publisher))
        else:
            fields.append(Field("publisher", publisher))
        if _year(item):
            fields.append(Field("year", _year(item)))
        if item.get("genre") and entry_type == "techreport":
            fields.append(Field("type", item["genre"]))
        # How we read a source ("summarised by CAAF", "media release"); else a misc entry's kind.
        note = item.get("note") or (item.get("genre") if entry_type == "misc" else "")
        if note:
            fields.append(Field("note", _latex(note)))
        if item.get("URL"):
            fields.append(Field("url", _bibtex_url(item["URL"])))
        if _accessed(item):
            fields.append(Field("urldate", _accessed(item)))
        library.add(Entry(entry_type, _bibtex_key(item["id"]), fields))
    return bibtexparser.write_string(library).encode("utf-8")


def _latex(value: str) -> str:
    return unicode_to_latex(_one_line(value), non_ascii_only=False)


def _bibtex_key(document_id: str) -> str:
    return _BIBTEX_KEY_UNSAFE.sub("-", document_id) or "document"


def _bibtex_url(url: str) -> str:
    """The address as written, with braces, backslashes and spaces percent-encoded (they
    would end the field or be read as LaTeX)."""
    return quote(_one_line(url), safe=":/?#[]@!$&'()*+,;=%~-._")
