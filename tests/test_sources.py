"""Source keys in our own Markdown: parsed at ingest, kept per passage, enforced by `kb check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import both_backends

from ingest.footnotes import parse_definition
from ingest.footnotes import take_references
from ingest.loaders import load_file
from ingest.source_check import needs_source
from ingest.source_check import source_problems
from ingest.split import split_blocks
from kb.models import Source
from kb_cli.main import cli

pytestmark = both_backends

KEYED = """---
kind: case study
---

# Southwest One

## Summary

Southwest One was formed on 18 September 2007.[^cw-2013] IBM held 75%.[^bbc-2015]

The council left early, in 2015. [^bbc-2015][^cw-2013]

No figure and no quotation here.

## Sources

[^cw-2013]: Computer Weekly (2013) "Southwest One outsourcing misses 90% of target savings". \
https://www.computerweekly.com/news/2240178029 (read 2026-12-01)
[^bbc-2015]: BBC News (2015) "Somerset council to end Southwest One deal". \
https://www.bbc.co.uk/news/uk-england-somerset-35039696
"""


def _load(tmp_path: Path, text: str, name: str = "doc.md"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_file(path)


def test_references_leave_the_text_and_stay_as_keys(tmp_path):
    loaded = _load(tmp_path, KEYED)
    body = [b for b in loaded.blocks if not b.heading and b.section == "Summary"]
    assert [(b.text, b.source_keys) for b in body] == [
        ("Southwest One was formed on 18 September 2007. IBM held 75%.", ("cw-2013", "bbc-2015")),
        ("The council left early, in 2015.", ("bbc-2015", "cw-2013")),
        ("No figure and no quotation here.", ()),
    ]
    assert "[^" not in "".join(b.text for b in loaded.blocks)


def test_definitions_become_sources(tmp_path):
    loaded = _load(tmp_path, KEYED)
    assert loaded.sources == (
        Source(
            "cw-2013",
            "Computer Weekly",
            "2013",
            "Southwest One outsourcing misses 90% of target savings",
            "https://www.computerweekly.com/news/2240178029",
            "2026-12-01",
        ),
        Source(
            "bbc-2015",
            "BBC News",
            "2015",
            "Somerset council to end Southwest One deal",
            "https://www.bbc.co.uk/news/uk-england-somerset-35039696",
            "",
        ),
    )
    # The reader still shows the Sources section, as written after each key.
    listed = [b.text for b in loaded.blocks if b.section == "Sources" and not b.heading]
    assert listed[1].startswith('BBC News (2015) "Somerset council')


def test_definition_forms():
    nd = parse_definition("x", "Audit Scotland (n.d.) \u201cA title.\u201d http://a.org/b", 4)
    assert (nd.source.year, nd.source.title, nd.source.url) == (
        "n.d.",
        "A title.",
        "http://a.org/b",
    )
    assert "no http(s) address" in parse_definition("x", 'A (2011) "T".', 1).problem
    assert "not of the form" in parse_definition("x", "A. https://a.org", 1).problem
    assert "lower-case" in parse_definition("BBC", 'A (2011) "T". https://a.org', 1).problem


def test_take_references_keeps_each_key_once():
    assert take_references("A £4.6m bill.[^a] More [^b][^a] text.") == (
        "A £4.6m bill. More text.",
        ("a", "b"),
    )
    assert take_references("No keys [link][ref].") == ("No keys [link][ref].", ())


def test_passages_carry_the_keys_of_the_paragraphs_they_hold(tmp_path):
    loaded = _load(tmp_path, KEYED)
    _, chunks = split_blocks(loaded.blocks, max_tokens=40, target_tokens=12)
    summary = [c for c in chunks if c.section == "Summary"]
    assert summary and all("[^" not in c.text for c in summary)
    for chunk in summary:
        expected = set()
        if "2007" in chunk.text or "75%" in chunk.text:
            expected |= {"cw-2013", "bbc-2015"}
        if "2015." in chunk.text:
            expected |= {"bbc-2015", "cw-2013"}
        assert set(chunk.source_keys) == expected, chunk


def test_figures_and_quotations_need_a_source():
    assert needs_source("saved £16.2m")
    assert needs_source('called it "Somerset One" in print')
    assert needs_source("called it \u201cSomerset One\u201d")
    assert not needs_source("No figure, and 'single quotes' are not a quotation.")


def test_problems_name_the_file_and_line(tmp_path):
    text = KEYED.replace(
        "No figure and no quotation here.",
        'About 100 staff returned.\n\nIt was called "Somerset One".[^nobody]\n\n- a list item of 3',
    ).replace("[^bbc-2015]: BBC News (2015)", "[^bbc-2015]: BBC News 2015")
    problems = source_problems(_load(tmp_path, text), "corpus/doc.md")
    assert problems == [
        "corpus/doc.md:13: a figure or quotation without a source key (\u201cAbout 100 staff "
        "returned.\u201d); add [^key] and its Sources entry.",
        "corpus/doc.md:15: the key [^nobody] has no entry in Sources.",
        "corpus/doc.md:17: a figure or quotation without a source key (\u201ca list item of "
        "3\u201d); add [^key] and its Sources entry.",
        'corpus/doc.md:22: the source [^bbc-2015] is not of the form Who (Year) "Title". '
        "https://address (read YYYY-MM-DD).",
    ]


def test_a_keyed_document_passes(tmp_path):
    assert source_problems(_load(tmp_path, KEYED), "doc.md") == []


def _corpus(tmp_path: Path, body: str, own: bool = True) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc.md").write_text(body, encoding="utf-8")
    (corpus / "catalog.toml").write_text(
        '[[document]]\nid = "doc"\nfile = "doc.md"\ntitle = "Southwest One"\n'
        'publisher = "Shared Services Evidence Base"\nyear = 2026\nkind = "case-study"\n'
        f"own = {'true' if own else 'false'}\n",
        encoding="utf-8",
    )
    return corpus


def _kb(settings, corpus: Path, *args: str):
    data = ["--data-dir", str(settings.data_dir), "--corpus-dir", str(corpus)]
    return CliRunner().invoke(cli, [*data, "--embedder", "hashing", *args])


def test_ingest_and_check_fail_on_a_figure_without_a_source(tmp_path, backend_settings):
    corpus = _corpus(tmp_path, KEYED)
    assert _kb(backend_settings, corpus, "ingest").exit_code == 0
    assert _kb(backend_settings, corpus, "check").exit_code == 0
    (corpus / "doc.md").write_text(
        KEYED.replace("early, in 2015. [^bbc-2015][^cw-2013]", "early, in 2015.")
    )
    ingest = _kb(backend_settings, corpus, "ingest")
    assert ingest.exit_code == 1
    assert "doc.md:11: a figure or quotation without a source key" in ingest.output
    check = _kb(backend_settings, corpus, "check")
    assert check.exit_code == 1
    assert "doc.md:11: a figure or quotation without a source key" in check.output


def test_kb_search_json_gives_each_hit_its_sources(tmp_path, backend_settings):
    import json

    corpus = _corpus(tmp_path, KEYED)
    assert _kb(backend_settings, corpus, "ingest").exit_code == 0
    found = _kb(backend_settings, corpus, "search", "formed in September 2007", "--json", "-k", "1")
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.output)["results"]
    assert [s["key"] for s in hit["sources"]] == ["cw-2013", "bbc-2015"]
    assert hit["citation"]["short"].startswith('Computer Weekly (2013) "Southwest One')
    text = _kb(backend_settings, corpus, "search", "formed in September 2007", "-k", "1")
    assert "original: https://www.computerweekly.com/news/2240178029" in text.output


def test_a_document_not_our_own_needs_no_keys(tmp_path, backend_settings):
    corpus = _corpus(tmp_path, "# Report\n\n## Findings\n\nIt saved £4m in 2011.\n", own=False)
    assert _kb(backend_settings, corpus, "ingest").exit_code == 0
    assert _kb(backend_settings, corpus, "check").exit_code == 0


# -- stored, cited and shown ------------------------------------------------------------------

CW = "https://www.computerweekly.com/news/2240178029"


def _doc_with_sources():
    from kb.models import Document
    from kb.models import DocumentMeta

    meta = DocumentMeta("swo", "Southwest One", "Shared Services Evidence Base", 2026, "case-study")
    sources = (
        Source(
            "cw-2013", "Computer Weekly", "2013", "Misses 90% of target savings", CW, "2026-12-01"
        ),
        Source("bbc-2015", "BBC News", "2015", "Council to end deal", "https://bbc.co.uk/x"),
    )
    return Document(meta, "", "", "", 2, sources)


def _passage(keys=(), page=None, page_end=None, section="Summary"):
    from kb.models import Passage

    return Passage(1, "swo", 0, "text", page, section, 0, 4, 1, page_end, tuple(keys))


def test_a_passage_with_sources_is_cited_source_first():
    from kb.citations import cite
    from kb.citations import plain_citation

    citation = cite(_doc_with_sources(), _passage(["bbc-2015", "cw-2013", "unknown"]))
    assert citation.short == (
        'BBC News (2015) "Council to end deal"; Computer Weekly (2013) "Misses 90% of target '
        'savings", cited in Shared Services Evidence Base (2026) *Southwest One*, Summary'
    )
    assert [s.key for s in citation.sources] == ["bbc-2015", "cw-2013"]
    assert citation.harvard.startswith(
        'BBC News (2015) "Council to end deal". Available at: https://bbc.co.uk/x. '
        'Computer Weekly (2013) "Misses 90% of target savings". Available at: '
        f"{CW} (Accessed: 2026-12-01). Cited in Shared Services Evidence Base (2026) "
        "*Southwest One*."
    )
    copied = plain_citation(citation, "https://kb.example/documents/swo#p0")
    assert copied.endswith(f"Summary. https://bbc.co.uk/x {CW} https://kb.example/documents/swo#p0")
    assert "*" not in copied


def test_a_passage_without_keys_is_cited_as_before():
    from kb.citations import cite

    citation = cite(_doc_with_sources(), _passage())
    assert citation.short == "Shared Services Evidence Base (2026) *Southwest One*, Summary"
    assert citation.sources == ()


def test_a_range_of_pages_is_never_cited_as_one_page():
    from kb.citations import cite
    from kb.citations import page_label

    assert page_label("9", "11") == "pp. 9\u201311"
    assert page_label("9", None) == page_label("9", "9") == "p. 9"
    assert page_label(None, None) == ""
    citation = cite(_doc_with_sources(), _passage(page="12", page_end="13"))
    assert ", pp. 12\u201313, Summary" in citation.short
    assert citation.harvard.endswith(" pp. 12\u201313.")
    assert "p. 12," not in citation.short


@pytest.fixture
def keyed(kb, tmp_path):
    """The small corpus plus KEYED, ingested through the pipeline (fake embedder)."""
    from ingest.pipeline import IngestItem
    from ingest.pipeline import Ingestor
    from kb.models import DocumentMeta

    path = tmp_path / "southwest-one.md"
    path.write_text(KEYED.replace("# Southwest One", "<!-- pages 9-11 -->\n# Southwest One"))
    meta = DocumentMeta("swo", "Southwest One", "Shared Services Evidence Base", 2026, "case-study")
    outcome = Ingestor(kb.store, kb.embedder, tmp_path / "files").ingest_one(
        IngestItem(path, meta, own=True)
    )
    assert outcome.status == "added", outcome.reason
    return kb


def test_ingest_stores_sources_and_keys(keyed):
    document = keyed.store.get_document("swo")
    assert [s.key for s in document.sources] == ["cw-2013", "bbc-2015"]
    passages = keyed.store.passages_of("swo")
    summary = [p for p in passages if p.section == "Summary"]
    assert summary and all(p.source_keys for p in summary if "2007" in p.text)
    assert all((p.page, p.page_end) == ("9", "11") for p in passages)
    assert all("[^" not in p.text for p in passages)
    # Replacing the document replaces its sources; removing it removes them.
    keyed.store.remove_document("swo")
    rows = keyed.store.connection().execute("SELECT COUNT(*) FROM document_sources")
    assert rows.fetchone()[0] == 0


def test_every_hit_carries_its_sources_in_the_api(keyed, client):
    body = client.get("/api/search?q=Southwest+One+formed+2007&k=3").get_json()
    hit = next(h for h in body["results"] if h["document"]["id"] == "swo")
    assert hit["sources"] and all(s["url"].startswith("https://") for s in hit["sources"])
    assert hit["citation"]["short"].startswith("Computer Weekly (2013)")
    assert (hit["page"], hit["page_end"]) == ("9", "11")
    assert "pp. 9\u201311" in hit["citation"]["short"]
    detail = client.get(f"/api/passages/{hit['id']}").get_json()
    assert detail["sources"] == hit["sources"]
    document = client.get("/api/documents/swo").get_json()
    assert [s["key"] for s in document["sources"]] == ["cw-2013", "bbc-2015"]


def test_pages_show_sources_linked_to_the_original(keyed, client):
    results = client.get("/?q=Southwest+One+formed+2007").get_data(as_text=True)
    assert f'class="source-link" href="{CW}"' in results
    assert '<dd class="page">pp. 9\u201311</dd>' in results
    reader = client.get("/documents/swo").get_data(as_text=True)
    assert f'href="{CW}"' in reader and "cited in Shared Services Evidence Base" in reader
    embed = client.get("/embed?q=Southwest+One+formed+2007").get_data(as_text=True)
    assert f'href="{CW}"' in embed


# -- honest pages in the founding report --------------------------------------------------------

REPORT = Path(__file__).resolve().parent.parent / "corpus/reports/the-front-line-starts-here.md"


def _report_citations() -> list[tuple[str, str]]:
    """(top-level section, citation) of every passage of the founding report."""
    from kb.citations import cite
    from kb.models import Document
    from kb.models import DocumentMeta
    from kb.models import Passage

    meta = DocumentMeta(
        "r", "The front line starts here", "APSE for UNISON Scotland", 2012, "report"
    )
    document = Document(meta, "", "", "")
    _, chunks = split_blocks(load_file(REPORT).blocks)
    return [
        (
            c.section.split(" > ")[0],
            cite(
                document, Passage(0, "r", 0, c.text, c.page, c.section, 0, 0, 0, c.page_end)
            ).short,
        )
        for c in chunks
    ]


@pytest.mark.parametrize(
    ("section", "pages"),
    [
        ("Exposing the myths behind front and back office organisations", "pp. 9\u201311"),
        ("Understanding the basics back office costs and performance issues", "pp. 12\u201313"),
        ("Organisational trends in relation to back office services", "pp. 12\u201313"),
        ("Legal framework", "p. 8"),
    ],
)
def test_report_sections_are_cited_by_the_pages_the_contents_list_supports(section, pages):
    cited = [short for top, short in _report_citations() if top == section]
    assert cited and all(f", {pages}, " in short for short in cited), cited
    # Pages 10, 11 and 13 start no section: no passage may claim it starts on p. 9 or p. 12.
    assert not any(", p. 9," in short or ", p. 12," in short for short in cited)


def test_the_cover_line_claims_no_page():
    first = _report_citations()[0][1]
    assert "p. 3" not in first and "pp." not in first


# -- honest pages in uploaded PDFs ---------------------------------------------------------------


def test_a_pdf_without_page_labels_gives_only_the_printed_pages_it_shows(tmp_path):
    from test_loaders import make_pdf

    pages = [["Cover."], ["One.", "1"], ["Two."], ["Three.", "3"], ["Back cover."]]
    path = tmp_path / "numbered.pdf"
    path.write_bytes(make_pdf(pages))
    loaded = load_file(path)
    # The cover and back have no printed number; page two's is known from its neighbours.
    assert [(b.text, b.page) for b in loaded.blocks] == [
        ("Cover.", None),
        ("One.", "1"),
        ("Two.", "2"),
        ("Three.", "3"),
        ("Back cover.", None),
    ]


def test_printed_pages_rules():
    from ingest.loaders.pdf import printed_pages

    labels = ["1", "2", "3", "4"]
    assert printed_pages(["x\n5"] * 4, labels, labelled=True) == labels
    assert printed_pages(["a", "b", "c", "d"], labels, labelled=False) == labels  # none printed
    assert printed_pages(["a", "b\n7", "c", "d"], labels, labelled=False) == labels  # one alone
    numbered = ["Cover", "Text\nPage 3", "Text", "Text\n- 5 -"]
    assert printed_pages(numbered, labels, labelled=False) == [None, "3", "4", "5"]


# -- the project's corpus ---------------------------------------------------------------------


def test_our_own_catalog_documents_are_held_to_the_source_rule():
    from kb.catalog import load_catalog

    entries = load_catalog(REPORT.parent.parent / "catalog.toml")
    ours = [e.meta.id for e in entries if e.meta.publisher == "Shared Services Evidence Base"]
    assert ours and ours == [e.meta.id for e in entries if e.own]


def test_every_passage_of_our_own_documents_names_a_source_with_an_address(backend_settings):
    from kb.factory import open_store

    corpus = REPORT.parent.parent
    result = _kb(backend_settings, corpus, "ingest")
    assert result.exit_code == 0, result.output
    assert _kb(backend_settings, corpus, "check").exit_code == 0
    store = open_store(backend_settings)
    from kb.citations import cite
    from kb.sources import is_reference_section

    for document in store.list_documents():
        if document.meta.publisher != "Shared Services Evidence Base":
            continue
        for passage in store.passages_of(document.id):
            if is_reference_section(passage.section):
                continue
            citation = cite(document, passage)
            assert citation.sources, (document.id, passage.text[:80])
            assert all(s.url.startswith(("https://", "http://")) for s in citation.sources)
            assert ", cited in Shared Services Evidence Base (2026)" in citation.short
    store.close()


# -- a note on how we read a source, kept apart from its author ---------------------------------

CAAF = "https://caaf-fcar.ca/en/improving-public-sector-efficiency"
CAAF_ENTRY = (
    f'Audit Scotland (2010) "Improving public sector efficiency", summarised by CAAF. {CAAF} '
    "(read 2026-12-01)"
)


def test_a_note_after_the_title_is_kept_apart_from_the_author():
    summarised = parse_definition("caaf-2010", CAAF_ENTRY, 3)
    assert summarised.problem == ""
    assert summarised.source == Source(
        "caaf-2010",
        "Audit Scotland",
        "2010",
        "Improving public sector efficiency",
        CAAF,
        "2026-12-01",
        "summarised by CAAF",
    )
    # A full stop inside the note is the note's own; curly quotes and no read date work too.
    eur_lex = parse_definition(
        "m",
        "Advocate General Mengozzi (2014) \u201cOpinion\u201d, Case C-574/12, "
        "read on EUR-Lex. https://eur-lex.europa.eu/x?uri=CELEX%3A62012CC0574",
        1,
    ).source
    assert (eur_lex.who, eur_lex.title, eur_lex.note, eur_lex.url) == (
        "Advocate General Mengozzi",
        "Opinion",
        "Case C-574/12, read on EUR-Lex",
        "https://eur-lex.europa.eu/x?uri=CELEX%3A62012CC0574",
    )
    signed = parse_definition(
        "s",
        'UNISON Scotland (2004) "Efficient Government", Briefing '
        "No. 86. https://unison-scotland.org.uk/b.html",
        1,
    ).source
    assert (signed.note, signed.url) == ("Briefing No. 86", "https://unison-scotland.org.uk/b.html")


def test_an_entry_without_a_note_reads_as_before():
    plain = parse_definition(
        "cw", f'Computer Weekly (2013) "Misses 90%". {CW} (read 2026-12-01)', 1
    )
    assert plain.source == Source("cw", "Computer Weekly", "2013", "Misses 90%", CW, "2026-12-01")
    assert plain.source.note == ""
    inside = parse_definition("x", 'Audit Scotland (n.d.) "A title, in full." http://a.org/b', 1)
    assert (inside.source.title, inside.source.note) == ("A title, in full.", "")


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (f'Audit Scotland (2010) "Title",. {CAAF}', "has a comma after its title but no note"),
        (f'Audit Scotland (2010) "Title",  . {CAAF}', "has a comma after its title but no note"),
        (
            f'Audit Scotland (2010) "Title", mirror at https://m.example/x. {CAAF}',
            "holds a web address",
        ),
        (
            f'Audit Scotland (2010) "Title", via "The Herald". {CAAF}',
            "holds a quotation mark followed by a comma",
        ),
    ],
)
def test_a_bad_note_is_refused_in_one_sentence(body, sentence):
    definition = parse_definition("k", body, 7)
    assert definition.source is None
    assert sentence in definition.problem and "[^k]" in definition.problem
    assert "\n" not in definition.problem


def test_a_note_written_where_the_author_goes_is_refused_in_our_documents(tmp_path):
    text = KEYED.replace(
        '[^bbc-2015]: BBC News (2015) "Somerset council to end Southwest One deal".',
        '[^bbc-2015]: BBC News, as carried by Yahoo (2015) "Somerset council to end Southwest One'
        ' deal".',
    )
    assert source_problems(_load(tmp_path, text), "doc.md") == [
        "doc.md:18: the author of the source [^bbc-2015] (\u201cBBC News, as carried by "
        "Yahoo\u201d) holds a note: give the author alone and put the note after the title "
        '(Who (Year) "Title", note. https://address).'
    ]
    moved = text.replace(
        'BBC News, as carried by Yahoo (2015) "Somerset council to end Southwest One deal".',
        'BBC News (2015) "Somerset council to end Southwest One deal", as carried by Yahoo.',
    )
    assert source_problems(_load(tmp_path, moved, "moved.md"), "moved.md") == []


def test_the_note_follows_the_title_in_citations_and_the_api():
    from kb.citations import cite
    from kb.sources import source_to_dict

    caaf = parse_definition("caaf-2010", CAAF_ENTRY, 1).source
    document = _doc_with_sources()
    document = type(document)(document.meta, "", "", "", 2, (*document.sources, caaf))
    citation = cite(document, _passage(["caaf-2010", "cw-2013"]))
    assert citation.short.startswith(
        'Audit Scotland (2010) "Improving public sector efficiency" (summarised by CAAF); '
        'Computer Weekly (2013) "Misses 90% of target savings", cited in '
    )
    assert citation.harvard.startswith(
        'Audit Scotland (2010) "Improving public sector efficiency" (summarised by CAAF). '
        f"Available at: {CAAF} (Accessed: 2026-12-01). Computer Weekly"
    )
    assert source_to_dict(caaf)["who"] == "Audit Scotland"
    assert source_to_dict(caaf)["note"] == "summarised by CAAF"


NOTED = KEYED.replace(
    '[^bbc-2015]: BBC News (2015) "Somerset council to end Southwest One deal".',
    '[^bbc-2015]: BBC News (2015) "Somerset council to end Southwest One deal", as carried by'
    " Yahoo.",
)


def test_a_note_is_stored_and_shown_on_the_pages_and_in_the_api(kb, client, tmp_path):
    from ingest.pipeline import IngestItem
    from ingest.pipeline import Ingestor
    from kb.models import DocumentMeta

    path = tmp_path / "southwest-one.md"
    path.write_text(NOTED)
    meta = DocumentMeta("swo", "Southwest One", "Shared Services Evidence Base", 2026, "case-study")
    outcome = Ingestor(kb.store, kb.embedder, tmp_path / "files").ingest_one(
        IngestItem(path, meta, own=True)
    )
    assert outcome.status == "added", outcome.reason
    stored = {s.key: s for s in kb.store.get_document("swo").sources}
    assert (stored["bbc-2015"].who, stored["bbc-2015"].note) == ("BBC News", "as carried by Yahoo")
    assert stored["cw-2013"].note == ""
    body = client.get("/api/search?q=council+left+early+2015&k=5").get_json()
    hit = next(h for h in body["results"] if h["document"]["id"] == "swo" and h["sources"])
    noted = next(s for s in hit["sources"] if s["key"] == "bbc-2015")
    assert (noted["who"], noted["note"]) == ("BBC News", "as carried by Yahoo")
    assert "(as carried by Yahoo)" in hit["citation"]["short"]
    page = client.get("/?q=council+left+early+2015").get_data(as_text=True)
    assert '<span class="source-note">(as carried by Yahoo)</span>' in page
    embed = client.get("/embed?q=council+left+early+2015").get_data(as_text=True)
    assert "The page we read: BBC News (2015), as carried by Yahoo" in embed


def test_kb_check_names_stored_sources_that_differ_from_the_file(tmp_path, backend_settings):
    corpus = _corpus(tmp_path, KEYED)
    assert _kb(backend_settings, corpus, "ingest").exit_code == 0
    (corpus / "doc.md").write_text(NOTED, encoding="utf-8")
    check = _kb(backend_settings, corpus, "check")
    assert check.exit_code == 1
    assert "doc.md: its Sources entries differ from the stored ones" in check.output
    assert "run `kb ingest`" in check.output
    ingest = _kb(backend_settings, corpus, "ingest")
    assert ingest.exit_code == 0 and "1 replaced" in ingest.output, ingest.output
    assert _kb(backend_settings, corpus, "check").exit_code == 0
