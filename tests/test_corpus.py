"""The default corpus: every catalog entry is usable and every document cites its sources."""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import ROOT

from kb.catalog import KINDS
from kb.catalog import REQUIRED
from kb.catalog import load_catalog

CATALOG = ROOT / "corpus" / "catalog.toml"
RAW = tomllib.loads(CATALOG.read_text(encoding="utf-8"))["document"]
ADDRESS = re.compile(r"https?://\S+")


def test_the_catalog_loads_with_unique_ids():
    entries = load_catalog(CATALOG)
    assert len(entries) == len(RAW) >= 12
    assert len({e.meta.id for e in entries}) == len(entries)


@pytest.mark.parametrize("raw", RAW, ids=lambda raw: raw.get("id", "?"))
def test_each_entry(raw):
    missing = [name for name in REQUIRED if not raw.get(name)]
    assert not missing, f"{raw.get('id')} lacks {missing}"
    assert (CATALOG.parent / raw["file"]).is_file(), raw["file"]
    assert isinstance(raw["year"], int) and 1900 <= raw["year"] <= 2100
    assert raw["kind"] in KINDS
    assert isinstance(raw.get("tags", []), list) and raw.get("tags"), "tags help filtering"


OWN = [raw for raw in RAW if raw["kind"] in ("case-study", "guidance")]


@pytest.mark.parametrize("raw", OWN, ids=lambda raw: raw["id"])
def test_our_documents_have_front_matter_a_summary_and_sources(raw):
    text = (CATALOG.parent / raw["file"]).read_text(encoding="utf-8")
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert front, "front matter with kind, date and tags"
    for key in ("kind", "date", "tags"):
        assert re.search(rf"^{key}: \S", front.group(1), re.M), f"front matter lacks {key}"
    assert re.search(r"^# \S", text, re.M), "a title"
    assert "\n## Summary\n" in text
    sources = text.split("\n## Sources\n", 1)
    assert len(sources) == 2, "a Sources section"
    assert ADDRESS.search(sources[1]), "at least one address under Sources"


def test_the_founding_report_has_printed_pages_before_every_section():
    text = (ROOT / "corpus" / "reports" / "the-front-line-starts-here.md").read_text()
    sections = re.findall(r"(<!-- (?:page \d+|pages \d+-\d+) -->\s*)?\n## ", text)
    assert sections and all(marker for marker in sections)


def _definitions(raw):
    from ingest.footnotes import DEFINITION
    from ingest.footnotes import parse_definition

    text = (CATALOG.parent / raw["file"]).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if match := DEFINITION.match(line):
            yield parse_definition(match.group(1), match.group(2), number).source


@pytest.mark.parametrize("raw", OWN, ids=lambda raw: raw["id"])
def test_a_source_that_is_a_catalog_document_is_named_as_the_catalog_names_it(raw):
    # A Sources entry's "who" becomes the author of every citation, RIS, BibTeX and CSL record
    # made from it: a note about the address written there ("APSE for UNISON Scotland; the
    # address is ...") was cited as the report's author. (Another item at the same address,
    # such as the launch press release, has a title of its own.)
    catalog = {(entry["url"], entry["title"]): entry for entry in RAW if entry.get("url")}
    for source in _definitions(raw):
        entry = catalog.get((source.url, source.title)) if source else None
        if entry is None:
            continue
        assert (source.who, source.year, source.title) == (
            entry["publisher"],
            str(entry["year"]),
            entry["title"],
        ), f"[^{source.key}] in {raw['file']}"


# How we read a source, once written where the author goes ("CAAF, summarising Audit Scotland"),
# and so cited and exported as the author. It belongs in the note after the title.
CHANNEL_IN_AUTHOR = re.compile(
    r", (summarising|summarised|as listed|listed by|mirror|media release|press release|"
    r"press notice|earlier page|via|from the|formerly|copy|on|report by|briefing)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("raw", OWN, ids=lambda raw: raw["id"])
def test_a_source_s_author_is_only_its_author(raw):
    sources = [source for source in _definitions(raw) if source is not None]
    assert sources, f"{raw['file']} has Sources entries"
    for source in sources:
        assert not CHANNEL_IN_AUTHOR.search(source.who), f"[^{source.key}] in {raw['file']}"
        assert not re.search(r",\s+[a-z]", source.who), f"[^{source.key}] in {raw['file']}"


def test_the_entries_that_named_a_channel_as_author_now_name_the_author():
    found = {}
    for raw in OWN:
        for source in filter(None, _definitions(raw)):
            found[source.key] = (source.who, source.note)
    assert found["caaf-2010"] == ("Audit Scotland", "summarised by CAAF")
    assert found["policyscotland-2021"] == ("Policy Scotland", "mirror copy at quantic.ac.uk")
    assert found["lga-2012"] == ("Local Government Association", "media release")
    assert found["tayside-about-old"] == ("Tayside Contracts", "earlier page of the site")
    assert found["pac-2008"] == ("Committee of Public Accounts", "press notice")
    assert found["nao-2011-research-councils"] == (
        "National Audit Office",
        "as listed by the Accountability Index",
    )
    assert found["careappointments-herald-2010"] == (
        "The Herald",
        "as carried by Care Appointments",
    )


def test_every_sources_entry_of_ours_reads_and_passes_the_check():
    from ingest.loaders import load_file
    from ingest.source_check import source_problems

    for raw in OWN:
        path = CATALOG.parent / raw["file"]
        assert source_problems(load_file(path), raw["file"]) == []
        assert all(_definitions(raw)), raw["file"]
