"""Source keys in our own Markdown: parsed at ingest, kept per passage, enforced by `kb check`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ingest.footnotes import parse_definition
from ingest.footnotes import take_references
from ingest.loaders import load_file
from ingest.source_check import needs_source
from ingest.source_check import source_problems
from ingest.split import split_blocks
from kb.models import Source
from kb_cli.main import cli

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


def _kb(tmp_path: Path, corpus: Path, *args: str):
    data = ["--data-dir", str(tmp_path / "data"), "--corpus-dir", str(corpus)]
    return CliRunner().invoke(cli, [*data, "--embedder", "hashing", *args])


def test_ingest_and_check_fail_on_a_figure_without_a_source(tmp_path):
    corpus = _corpus(tmp_path, KEYED)
    assert _kb(tmp_path, corpus, "ingest").exit_code == 0
    assert _kb(tmp_path, corpus, "check").exit_code == 0
    (corpus / "doc.md").write_text(
        KEYED.replace("early, in 2015. [^bbc-2015][^cw-2013]", "early, in 2015.")
    )
    ingest = _kb(tmp_path, corpus, "ingest")
    assert ingest.exit_code == 1
    assert "doc.md:11: a figure or quotation without a source key" in ingest.output
    check = _kb(tmp_path, corpus, "check")
    assert check.exit_code == 1
    assert "doc.md:11: a figure or quotation without a source key" in check.output


def test_a_document_not_our_own_needs_no_keys(tmp_path):
    corpus = _corpus(tmp_path, "# Report\n\n## Findings\n\nIt saved £4m in 2011.\n", own=False)
    assert _kb(tmp_path, corpus, "ingest").exit_code == 0
    assert _kb(tmp_path, corpus, "check").exit_code == 0
