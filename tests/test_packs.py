"""Evidence packs: validating a request, resolving it from the store, and every file format.

Each format is parsed back with a reader other than its writer where one exists: Markdown with
markdown-it-py (CommonMark), .docx with python-docx, BibTeX with pybtex, RIS with rispy,
CSL-JSON with citeproc-py (rendered in Cite Them Right Harvard). A note and a title full of
markup, a spreadsheet formula and control characters must come out as the same text in each.
"""

from __future__ import annotations

import io
import json
from datetime import date

import docx
import pytest
import rispy
from citeproc import Citation as CslCitation
from citeproc import CitationItem
from citeproc import CitationStylesBibliography
from citeproc import CitationStylesStyle
from citeproc import formatter
from citeproc.source.json import CiteProcJSON
from conftest import SMALL_CORPUS
from conftest import build_corpus
from markdown_it import MarkdownIt
from pybtex.database import parse_string
from pylatexenc.latex2text import LatexNodes2Text

from export.formats import BIBTEX
from export.formats import CSL_JSON
from export.formats import DOCX
from export.formats import MARKDOWN
from export.formats import RIS
from export.formats import TEXT
from export.formats import file_name
from export.formats import render_pack
from export.text import markdown_escape
from kb.citations import cite
from kb.citations import csl_item
from kb.citations import reference
from kb.models import Document
from kb.models import DocumentMeta
from kb.models import Passage
from kb.models import Source
from kb.myths import Myth
from kb.packs import MAX_ITEMS
from kb.packs import Pack
from kb.packs import PackEntry
from kb.packs import PackError
from kb.packs import PackHeading
from kb.packs import PackItem
from kb.packs import clean_text
from kb.packs import parse_pack
from kb.packs import resolve_pack

BASE = "https://evidence.example.org"
TODAY = date(2026, 12, 1)
# Markup, a spreadsheet formula (DDE), Markdown at line starts, an entity, and control
# characters (NUL, BEL, an ANSI escape, a vertical tab, a non-character) Word's XML refuses.
HOSTILE = (
    "=cmd|' /C calc'!A0 <script>alert(1)</script> **bold** [x](javascript:alert(1)) "
    "&amp; `code` \x00\x07\x1b[31m red\x0b\ufffe\n# not a heading\n- not a list\n1. not numbered"
)
HOSTILE_TITLE = "<b>Brief</b> =SUM(A1) *for* the_branch \x1b[0m"
MYTH = Myth(
    id="sharing-saves-big",
    claim="Sharing saves big money.",
    answer="Savings are small: 1.8% in the best case.",
    queries=("savings",),
    evidence=(),
)


def _ids(store, document_id):
    return [p.id for p in store.passages_of(document_id)]


@pytest.fixture
def corpus(store, embedder):
    build_corpus(store, embedder)
    return store


def _pack(store, items, title=HOSTILE_TITLE):
    request = parse_pack({"title": title, "items": items})
    return resolve_pack(store, request, TODAY, find_myth={MYTH.id: MYTH}.get)


@pytest.fixture
def pack(corpus):
    report, somerset = _ids(corpus, "report-a"), _ids(corpus, "somerset")
    return _pack(
        corpus,
        [
            {"heading": "Savings <i>&</i> myths"},
            {"passage": report[0], "note": HOSTILE, "myth": MYTH.id},
            {"passage": report[1], "myth": MYTH.id},
            {"passage": 999_999},
            {"heading": "Southwest One"},
            {"passage": somerset[0], "note": "Paid twice."},
        ],
    )


# -- the request ------------------------------------------------------------------------------


def test_a_request_keeps_order_headings_notes_and_myths():
    request = parse_pack(
        {
            "title": "  Briefing\r\nfor the branch ",
            "items": [{"heading": "Costs"}, {"passage": 7, "note": "Key.\r\n", "myth": "m"}],
        }
    )
    assert request.title == "Briefing for the branch"
    assert request.entries == (PackHeading("Costs"), PackEntry(7, "Key.", "m"))
    assert parse_pack({"items": [{"passage": 1}]}).title == "Evidence pack"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"items": "1,2"}, "'items' must be a list"),
        ({"items": []}, "empty"),
        ({"items": [{"heading": "only"}]}, "only headings"),
        ({"items": [{"passage": "7"}]}, "Item 1 needs 'passage'"),
        ({"items": [{"passage": True}]}, "Item 1 needs 'passage'"),
        ({"items": [{"passage": 0}]}, "Item 1 needs 'passage'"),
        ({"items": [{"passage": 2**63}]}, "Item 1 needs 'passage'"),
        ({"items": [{"passage": 1}, 5]}, "Item 2 must be an object"),
        ({"items": [{"passage": 1, "heading": "x"}]}, "both"),
        ({"items": [{"heading": " \x07 "}, {"passage": 1}]}, "heading of item 1 is empty"),
        ({"items": [{"passage": 1, "note": 5}]}, "note of item 1 must be text"),
        ({"items": [{"passage": 1, "note": "x" * 2001}]}, "2,001 characters long; the limit"),
        ({"title": "t" * 201, "items": [{"passage": 1}]}, "'title' is 201 characters"),
        ({"items": [{"passage": 1, "myth": 3}]}, "myth id"),
        ({"items": [{"passage": 1}] * (MAX_ITEMS + 1)}, "201 items; the limit is 200"),
    ],
)
def test_bad_requests_say_what_to_fix(body, message):
    with pytest.raises(PackError, match=message):
        parse_pack(body)


def test_a_note_of_exactly_the_limit_and_200_items_are_accepted():
    parse_pack({"items": [{"passage": 1, "note": "n" * 2000}] * MAX_ITEMS})


def test_clean_text_removes_control_characters_but_keeps_markup_and_lines():
    assert clean_text("a\x00b\x1b[31mc\r\nd\u0085e\ufffe <b>") == "ab[31mc\nde <b>"


# -- resolving --------------------------------------------------------------------------------


def test_a_resolved_pack_takes_text_and_citations_from_the_store(pack, corpus):
    items = pack.items
    stored = corpus.get_passage(items[0].passage.id)
    assert items[0].passage == stored
    assert items[0].citation == cite(corpus.get_document("report-a"), stored)
    assert items[0].url == f"/documents/report-a#p{stored.ordinal}"
    assert items[0].myth == MYTH and items[0].note == clean_text(HOSTILE)
    assert [d.id for d in pack.documents()] == ["report-a", "somerset"]
    assert [(m.position, m.passage_id) for m in pack.missing] == [(4, 999_999)]


def test_an_unknown_myth_drops_only_the_answer(corpus):
    pack = _pack(corpus, [{"passage": _ids(corpus, "report-a")[0], "myth": "no-such-myth"}])
    assert pack.items[0].myth is None and not pack.missing


# -- formats ----------------------------------------------------------------------------------


def _markdown_text(markdown: str) -> tuple[str, list[str]]:
    """The visible text of CommonMark (html on: raw HTML would pass through) and the kinds of
    the block and inline elements it made."""
    tokens = MarkdownIt("commonmark", {"html": True}).parse(markdown)
    kinds, text = [], []
    for token in tokens:
        kinds.append(token.type if token.type != "heading_open" else token.tag)
        for child in token.children or []:
            kinds.append(child.type)
            if child.type in ("text", "code_inline"):
                text.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                text.append("\n")
    return "".join(text), kinds


def test_markdown_shows_hostile_text_as_text(pack):
    markdown = render_pack(pack, MARKDOWN, BASE).decode()
    text, kinds = _markdown_text(markdown)
    note = clean_text(HOSTILE)
    assert note in text  # every line of the note, literally
    assert clean_text(HOSTILE_TITLE).strip() in text
    assert "html_inline" not in kinds and "html_block" not in kinds
    assert "code_inline" not in kinds and "bullet_list_open" in kinds  # only the references
    assert kinds.count("h1") == 1  # the title; the note's "# not a heading" is not one
    assert kinds.count("h2") == 3  # two headings and the references
    assert kinds.count("link_open") == 3  # one "Read in context" per quote, no javascript:
    assert "javascript:" not in "".join(t.attrs.get("href", "") for t in _links(markdown))
    assert kinds.count("ordered_list_open") == 0


def _links(markdown):
    for token in MarkdownIt("commonmark").parse(markdown):
        for child in token.children or []:
            if child.type == "link_open":
                yield child


def test_markdown_holds_quotes_citations_myths_missing_line_and_references(pack, corpus):
    markdown = render_pack(pack, MARKDOWN, BASE).decode()
    text, _ = _markdown_text(markdown)
    first = pack.items[0]
    assert first.passage.text in text
    assert first.citation.short.replace("*", "") in text
    links = [t.attrs["href"] for t in _links(markdown)]
    assert links[0] == f"{BASE}/documents/report-a#p{first.passage.ordinal}"
    assert text.count(MYTH.claim) == 1  # once for its two quotes in a row
    assert MYTH.answer in text
    assert "item 4 (passage 999999)" in text
    references = markdown.split("## References")[1]
    for document in pack.documents():
        assert reference(document).replace("*", "") in _markdown_text(references)[0]


def test_markdown_escape_round_trips_every_ascii_character():
    line = "".join(chr(c) for c in range(33, 127))
    for text in (line, "- x", "+ x", "= x", "> x", "12) x", "3. x", "#x", "---", "***"):
        rendered, kinds = _markdown_text(markdown_escape(text))
        assert rendered == text
        assert kinds == ["paragraph_open", "inline", "text", "paragraph_close"]


def test_plain_text_writes_text_as_it_is(pack):
    text = render_pack(pack, TEXT, BASE).decode()
    assert clean_text(HOSTILE) in text
    assert clean_text(HOSTILE_TITLE) in text
    assert "\x1b" not in text and "\x00" not in text
    first = pack.items[0]
    assert f"— {first.citation.short.replace('*', '')}. {BASE}{first.url}" in text
    assert "item 4 (passage 999999)" in text
    assert "*" not in text.split("References")[1].replace("* ", "")


def test_word_file_uses_real_styles_and_holds_everything(pack):
    document = docx.Document(io.BytesIO(render_pack(pack, DOCX, BASE)))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Title", clean_text(HOSTILE_TITLE))
    assert paragraphs[1][1].startswith("Prepared on 1 December 2026")
    headings = [text for style, text in paragraphs if style == "Heading 1"]
    assert headings == ["Savings <i>&</i> myths", "Southwest One", "References"]
    quotes = [text for style, text in paragraphs if style == "Quote"]
    assert quotes == [item.passage.text for item in pack.items]
    texts = [text for _style, text in paragraphs]
    for item in pack.items:
        assert f"{item.citation.short.replace('*', '')}. Read in context" in texts
    note_lines = clean_text(HOSTILE).splitlines()
    assert f"Note: {note_lines[0]}" in texts and all(line in texts for line in note_lines[1:])
    assert f"Myth: “{MYTH.claim}”" in texts and texts.count(f"Myth: “{MYTH.claim}”") == 1
    missing = [t for t in texts if "item 4 (passage 999999)" in t]
    assert len(missing) == 1
    references = [text for style, text in paragraphs if style == "List Bullet"]
    assert references == sorted(r.replace("*", "") for r in map(reference, pack.documents()))
    # Real hyperlinks, one per quote, to the passages; none made from the note's text.
    links = [r.target_ref for r in document.part.rels.values() if r.is_external]
    assert links == [f"{BASE}{item.url}" for item in pack.items]
    italic = [r.text for p in document.paragraphs for r in p.runs if r.italic]
    assert "The front line starts here" in italic


def test_word_file_survives_only_control_characters_and_long_notes(corpus):
    passage = _ids(corpus, "report-a")[0]
    pack = _pack(corpus, [{"passage": passage, "note": "\x01\x02" + "é" * 1998}], title="\x00")
    document = docx.Document(io.BytesIO(render_pack(pack, DOCX, BASE)))
    assert document.paragraphs[0].text == "Evidence pack"


# -- references -------------------------------------------------------------------------------

ODD = DocumentMeta(
    "odd-1",
    "Costs & savings: 50% of £4.6m {braces} \\ #1 _x_ ^ ~ $ “quoted” <b>x</b>",
    "Smith & Jones {Ltd}",
    2011,
    "news",
    "https://example.org/a b{c}",
)


@pytest.fixture
def odd_corpus(store, embedder):
    corpus = [*SMALL_CORPUS, (ODD, [("Some text about costs.", "2", "Intro")])]
    build_corpus(store, embedder, corpus)
    return store


@pytest.fixture
def reference_pack(odd_corpus):
    items = [{"passage": _ids(odd_corpus, d)[0]} for d in ("report-a", "odd-1", "somerset")]
    return _pack(odd_corpus, items, title="References")


def test_bibtex_parses_back_with_pybtex(reference_pack):
    text = render_pack(reference_pack, BIBTEX, BASE).decode()
    parsed = parse_string(text, "bibtex")
    assert list(parsed.entries) == ["report-a", "odd-1", "somerset"]

    def decode(latex: str) -> str:
        # pylatexenc reads \textasciicircum as U+02C6 (the modifier letter), not "^".
        return LatexNodes2Text().latex_to_text(latex).replace("\u02c6", "^")

    odd = parsed.entries["odd-1"]
    assert odd.type == "article"
    assert decode(odd.fields["title"]) == ODD.title
    assert decode(odd.fields["journal"]) == ODD.publisher
    assert [decode(str(p)) for p in odd.persons["author"]] == [ODD.publisher]
    assert odd.fields["year"] == "2011"
    assert odd.fields["url"] == "https://example.org/a%20b%7Bc%7D"
    report = parsed.entries["report-a"]
    assert (
        report.type == "techreport" and report.fields["institution"] == "APSE for UNISON Scotland"
    )
    assert [str(p) for p in report.persons["author"]] == ["{APSE for UNISON Scotland}"]


def test_ris_parses_back_with_rispy(reference_pack):
    raw = render_pack(reference_pack, RIS, BASE)
    assert b"\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"\n").strip()[:2]
    records = rispy.loads(raw.decode())
    assert [r["id"] for r in records] == ["report-a", "odd-1", "somerset"]
    odd = records[1]
    assert odd["type_of_reference"] == "NEWS"
    assert odd["title"] == ODD.title and odd["authors"] == [ODD.publisher]
    assert odd["year"] == "2011" and odd["urls"] == [ODD.url]
    assert records[0]["type_of_reference"] == "RPRT"
    assert "urls" not in records[2]  # a case study of ours without an address


def test_csl_json_renders_with_citeproc(reference_pack, odd_corpus):
    items = json.loads(render_pack(reference_pack, CSL_JSON, BASE))
    assert items == [csl_item(d) for d in reference_pack.documents()]
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(CslCitation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert any(ODD.title in entry and "(2011)" in entry for entry in rendered), rendered
    assert any("APSE for UNISON Scotland (2012) The front line starts here" in e for e in rendered)


def test_file_names_are_plain_ascii():
    assert file_name("Briefing: Tayside & “Clyde”!", DOCX) == "briefing-tayside-clyde.docx"
    assert file_name("<>", CSL_JSON) == "evidence-pack.json"
    assert file_name("Ç" * 300, MARKDOWN) == "c" * 60 + ".md"


CW_URL = "https://www.computerweekly.com/news/2240178029"


def test_the_reference_list_names_the_primary_sources_the_quotes_cite():
    cw = Source("cw-2013", "Computer Weekly", "2013", "Misses 90% of target savings", CW_URL)
    unused = Source("bbc-2015", "BBC News", "2015", "Council to end deal", "https://bbc.co.uk/x")
    meta = DocumentMeta("swo", "Southwest One", "Shared Services Evidence Base", 2026, "case-study")
    document = Document(meta, "", "", "", 1, (cw, unused))
    passage = Passage(1, "swo", 0, "IBM held 75%.", None, "Summary", 0, 13, 4, None, ("cw-2013",))
    item = PackItem(passage, document, cite(document, passage), "/passages/1")
    pack = Pack("Sources", TODAY, [item])
    for rendered in (render_pack(pack, MARKDOWN, BASE), render_pack(pack, TEXT, BASE)):
        text = rendered.decode().split("References")[1]
        assert "Computer Weekly (2013) " in text and CW_URL in text
        assert "Shared Services Evidence Base (2026)" in text  # the document too
        assert "bbc.co.uk" not in text  # a source no quote cites is not listed
    word = docx.Document(io.BytesIO(render_pack(pack, DOCX, BASE)))
    texts = [p.text for p in word.paragraphs]
    assert any(t.startswith('Computer Weekly (2013) "Misses 90%') for t in texts)


def test_reference_files_hold_the_primary_sources_the_quotes_cite():
    cw = Source("cw-2013", "Computer Weekly", "2013", "Misses 90% of target", CW_URL, "2026-12-01")
    meta = DocumentMeta("swo", "Southwest One", "Shared Services Evidence Base", 2026, "case-study")
    document = Document(meta, "", "", "", 1, (cw,))
    passage = Passage(1, "swo", 0, "IBM held 75%.", None, "Summary", 0, 13, 4, None, ("cw-2013",))
    pack = Pack("Sources", TODAY, [PackItem(passage, document, cite(document, passage), "/p")])

    records = rispy.loads(render_pack(pack, RIS, BASE).decode())
    assert [r["id"] for r in records] == ["swo", "source-1-cw-2013"]
    assert records[1]["type_of_reference"] == "ELEC" and records[1]["urls"] == [CW_URL]
    assert records[1]["authors"] == ["Computer Weekly"] and records[1]["year"] == "2013"
    assert records[1]["access_date"] == "2026-12-01"

    entry = parse_string(render_pack(pack, BIBTEX, BASE).decode(), "bibtex").entries
    assert entry["source-1-cw-2013"].fields["url"] == CW_URL
    assert entry["source-1-cw-2013"].fields["urldate"] == "2026-12-01"

    items = json.loads(render_pack(pack, CSL_JSON, BASE))
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(CslCitation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert any("Computer Weekly (2013) Misses 90% of target" in e for e in rendered), rendered


CAAF_URL = "https://caaf-fcar.ca/en/improving-public-sector-efficiency"


def _noted_pack() -> Pack:
    """A quote citing a source read through another (a note) and a media release."""
    caaf = Source(
        "caaf-2010",
        "Audit Scotland",
        "2010",
        "Improving public sector efficiency",
        CAAF_URL,
        "2026-12-01",
        "summarised by CAAF",
    )
    lga = Source(
        "lga-2012",
        "Local Government Association",
        "2012",
        "Councils save millions by sharing services",
        "http://www.local.gov.uk/media-releases/3677841",
        "",
        "media release",
    )
    meta = DocumentMeta("asl", "Audit figures", "Shared Services Evidence Base", 2026, "case-study")
    document = Document(meta, "", "", "", 1, (caaf, lga))
    passage = Passage(
        1, "asl", 0, "£839m.", None, "Summary", 0, 6, 2, None, ("caaf-2010", "lga-2012")
    )
    return Pack("Sources", TODAY, [PackItem(passage, document, cite(document, passage), "/p")])


def test_a_source_s_note_is_a_note_in_every_reference_format_never_its_author():
    pack = _noted_pack()
    records = {r["id"]: r for r in rispy.loads(render_pack(pack, RIS, BASE).decode())}
    caaf, lga = records["source-1-caaf-2010"], records["source-2-lga-2012"]
    assert caaf["authors"] == ["Audit Scotland"] and caaf["notes"] == ["summarised by CAAF"]
    assert caaf["type_of_reference"] == "ELEC" and caaf["urls"] == [CAAF_URL]
    assert lga["authors"] == ["Local Government Association"] and lga["notes"] == ["media release"]
    assert lga["type_of_reference"] == "PRESS"
    assert "notes" not in records["asl"]

    entries = parse_string(render_pack(pack, BIBTEX, BASE).decode(), "bibtex").entries
    entry = entries["source-1-caaf-2010"]
    assert [str(p) for p in entry.persons["author"]] == ["{Audit Scotland}"]
    assert entry.fields["note"] == "summarised by CAAF"
    assert entries["source-2-lga-2012"].fields["note"] == "media release"

    items = {item["id"]: item for item in json.loads(render_pack(pack, CSL_JSON, BASE))}
    assert items["source-1-caaf-2010"]["author"] == [{"literal": "Audit Scotland"}]
    assert items["source-1-caaf-2010"]["note"] == "summarised by CAAF"
    assert "genre" not in items["source-1-caaf-2010"]
    assert items["source-2-lga-2012"]["genre"] == "Press release"

    for rendered in (render_pack(pack, MARKDOWN, BASE), render_pack(pack, TEXT, BASE)):
        text = rendered.decode()
        assert (
            'Audit Scotland (2010) "Improving public sector efficiency" (summarised by CAAF)'
            in (text.replace("\\", ""))
        )
        assert "CAAF, summarising" not in text
