"""Myths: the corpus file, pinned quotes, evidence, matching a query to a myth, `kb myths`."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from click.testing import CliRunner
from conftest import ROOT
from conftest import both_backends
from conftest import build_corpus
from conftest import ingest_catalog

from kb.errors import CatalogError
from kb.errors import NotFound
from kb.factory import open_store
from kb.highlight import sentence_spans
from kb.models import DocumentMeta
from kb.models import Passage
from kb.myths import MATCH_THRESHOLD
from kb.myths import Myth
from kb.myths import MythBook
from kb.myths import PinnedQuote
from kb.myths import check_pinned
from kb.myths import evidence_to_dict
from kb.myths import load_myths
from kb.myths import match_myth
from kb.myths import myth_evidence
from kb.myths import quote_span
from kb.myths import resolve_quote
from kb.search import KnowledgeBase
from kb.search import near_duplicate
from kb.settings import Settings
from kb_cli.main import cli

pytestmark = both_backends

CORPUS = ROOT / "corpus"
MYTHS_PATH = CORPUS / "myths.toml"
CATALOG = {d["id"]: d for d in tomllib.loads((CORPUS / "catalog.toml").read_text())["document"]}
CORPUS_MYTHS = load_myths(MYTHS_PATH)
PINNED = [(m.id, p) for m in CORPUS_MYTHS for p in m.evidence]
OTHER_SIDE = [(m.id, p) for m in CORPUS_MYTHS for p in m.other_side]


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# -- the corpus's myths file ------------------------------------------------------------------


def test_corpus_myths_cover_the_report():
    ids = {m.id for m in CORPUS_MYTHS}
    assert len(CORPUS_MYTHS) >= 8
    for wanted in (
        "sharing-saves-big",
        "split-front-and-back",
        "cutting-admin-saves",
        "technology-fixes-it",
        "bigger-is-better",
        "consultants-deliver",
        "structure-first",
        "back-office-separable",
    ):
        assert wanted in ids


@pytest.mark.parametrize("myth", CORPUS_MYTHS, ids=lambda m: m.id)
def test_each_myth_is_complete(myth: Myth):
    assert len(myth.evidence) >= 2, f"{myth.id} needs at least two pinned quotes"
    assert 2 <= len(myth.queries) <= 4, myth.id
    assert 2 <= len(sentence_spans(myth.answer)) <= 4, f"{myth.id}: answer of 2-4 sentences"
    for pinned in myth.evidence:
        assert pinned.document_id in CATALOG, f"{myth.id}: unknown document {pinned.document_id}"


@pytest.mark.parametrize("myth", CORPUS_MYTHS, ids=lambda m: m.id)
def test_answers_are_in_our_own_words(myth: Myth):
    """No run of eight words in an answer is copied from a document it cites."""
    words = _words(myth.answer)
    for document_id in {p.document_id for p in myth.evidence}:
        source = " " + " ".join(_words((CORPUS / CATALOG[document_id]["file"]).read_text())) + " "
        for i in range(len(words) - 7):
            run = " ".join(words[i : i + 8])
            assert f" {run} " not in source, f"{myth.id} copies {run!r} from {document_id}"


@pytest.mark.parametrize(
    ("myth_id", "pinned"), PINNED, ids=[f"{m}:{p.quote[:30]}" for m, p in PINNED]
)
def test_pinned_quote_is_verbatim_in_its_markdown(myth_id: str, pinned: PinnedQuote):
    """Read the Markdown directly: the quote is in one line, without formatting, 8-40 words."""
    markdown = (CORPUS / CATALOG[pinned.document_id]["file"]).read_text(encoding="utf-8")
    lines = [line for line in markdown.split("\n") if _fold(pinned.quote) in _fold(line)]
    assert lines, f"{myth_id}: quote not found on any one line of {pinned.document_id}"
    assert "**" not in pinned.quote and "*" not in pinned.quote
    assert 8 <= len(pinned.quote.split()) <= 40, f"{myth_id}: quote of 8-40 words"


@pytest.mark.parametrize(
    ("myth_id", "quoted"), OTHER_SIDE, ids=[f"{m}:{p.quote[:30]}" for m, p in OTHER_SIDE]
)
def test_other_side_quote_is_verbatim_in_its_markdown(myth_id: str, quoted: PinnedQuote):
    """What the other side will say is quoted like the evidence: on one line, unformatted."""
    markdown = (CORPUS / CATALOG[quoted.document_id]["file"]).read_text(encoding="utf-8")
    assert any(_fold(quoted.quote) in _fold(line) for line in markdown.split("\n")), (
        f"{myth_id}: the other side's quote is not on any one line of {quoted.document_id}"
    )
    assert "*" not in quoted.quote and "[^" not in quoted.quote


# -- loading ----------------------------------------------------------------------------------

GOOD = """
[[myth]]
id = "m1"
claim = "A claim."
answer = "An answer. A second sentence."
queries = ["one query"]
[[myth.evidence]]
document = "report-a"
quote = "sharing back office services will yield only savings"
"""


def _myths_toml(document: str, quote: str) -> str:
    """GOOD with its one pinned quote replaced."""
    return GOOD.replace('"report-a"', f'"{document}"').replace(
        "sharing back office services will yield only savings", quote
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[myth]\nid = 1", "not valid TOML"),
        ("title = 'no myths'", r"holds no \[\[myth\]\] entries"),
        ("myth = [1, 2]", r"Entry 1 \(\[\[myth\]\]\) in .* is not a table"),
        (GOOD.replace('claim = "A claim."\n', ""), r"Myth 1 \(m1\) in .* lacks claim"),
        (GOOD.replace('id = "m1"\n', ""), r"Myth 1 \(no id\) in .* lacks id"),
        (GOOD.replace('queries = ["one query"]', "queries = []"), "non-empty list of text"),
        (GOOD.replace('queries = ["one query"]', 'queries = "one query"'), "list of text"),
        (GOOD.replace('answer = "An answer. A second sentence."', "answer = 3"), "answer"),
        (GOOD.replace('id = "m1"', 'id = "Not A Slug"'), "lower-case letters"),
        (GOOD + '[[myth.other_side]]\ndocument = "report-a"\n', "other_side entry without"),
        (
            GOOD + '[[myth.other_side]]\ndocument = "a"\nquote = "q"\nnote = 1\n',
            "note is not text",
        ),
        (
            GOOD.replace('quote = "sharing back office services will yield only savings"', ""),
            "without a document and a quote",
        ),
        (GOOD.split("[[myth.evidence]]")[0], "lacks evidence"),
        (GOOD + GOOD, "uses the id 'm1' twice"),
    ],
)
def test_load_myths_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "myths.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as raised:
        load_myths(path)
    assert "\n" not in str(raised.value)
    assert str(raised.value).endswith(".")


def test_load_myths_reports_a_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_myths(tmp_path / "myths.toml")


def test_load_myths_reads_a_good_file(tmp_path):
    path = tmp_path / "myths.toml"
    path.write_text(GOOD, encoding="utf-8")
    (myth,) = load_myths(path)
    assert myth == Myth(
        "m1",
        "A claim.",
        "An answer. A second sentence.",
        ("one query",),
        (PinnedQuote("report-a", "sharing back office services will yield only savings"),),
    )


# -- pinned quotes ----------------------------------------------------------------------------


def test_quote_span_ignores_case_whitespace_and_curly_quotes():
    text = "Before.  It’s  HERE\nnow, after."
    start, end = quote_span(text, "it's here now")
    assert text[start:end] == "It’s  HERE\nnow"
    assert quote_span(text, "not there") is None
    assert quote_span(text, "   ") is None


def test_resolve_quote_finds_the_passage(kb):
    passage = resolve_quote(
        kb.store, PinnedQuote("report-a", "SHARING back   office\nservices will yield only")
    )
    assert passage is not None and passage.ordinal == 0
    assert resolve_quote(kb.store, PinnedQuote("somerset", "sharing back office")) is None
    assert resolve_quote(kb.store, PinnedQuote("no-such-document", "sharing back")) is None


def test_resolve_quote_needs_the_quote_inside_one_passage(kb):
    across = "even in the best case scenario. There is no simple distinction"
    assert resolve_quote(kb.store, PinnedQuote("report-a", across)) is None


def _myth(myth_id="savings", evidence=(), queries=("savings from sharing back office",)):
    return Myth(myth_id, "Sharing saves a lot.", "It does not. Look.", tuple(queries), evidence)


def test_check_pinned_reports_each_broken_quote_naming_the_myth(kb):
    good = PinnedQuote("report-a", "will yield only savings of 1.8% even in the best case")
    missing = PinnedQuote("report-a", "this sentence appears nowhere in the report at all")
    unknown = PinnedQuote("no-such-document", "duplicate payments reached four million")
    problems = check_pinned(
        [_myth("ok", (good,)), _myth("broken", (good, missing)), _myth("lost", (unknown,))],
        kb.store,
    )
    assert len(problems) == 2
    assert "'broken'" in problems[0] and "'report-a'" in problems[0]
    assert "this sentence appears nowhere in the report" in problems[0]
    assert "'lost'" in problems[1] and "'no-such-document'" in problems[1]
    assert "not in the store" in problems[1]
    assert check_pinned([_myth("ok", (good,))], kb.store) == []


# -- evidence ---------------------------------------------------------------------------------

SAVINGS = PinnedQuote("report-a", "Sharing back office services will yield only savings of 1.8%")
DUPLICATES = PinnedQuote("somerset", "An invoice scanning system paid some suppliers twice")


def test_myth_evidence_gives_pinned_then_retrieved_with_citations(kb):
    myth = _myth(evidence=(SAVINGS, DUPLICATES), queries=("back office", "joint venture"))
    evidence = myth_evidence(kb, myth, k=3)
    assert [e.pinned for e in evidence] == [True, True, False, False, False]
    assert [e.quote for e in evidence[:2]] == [SAVINGS.quote, DUPLICATES.quote]
    assert all(e.quote is None for e in evidence[2:])
    ids = [e.passage.id for e in evidence]
    assert len(ids) == len(set(ids)), "no passage twice"
    for item in evidence:
        assert item.citation.short.startswith(item.document.meta.publisher)
        assert item.url == f"/documents/{item.passage.document_id}#p{item.passage.ordinal}"
    for item in evidence[:2]:
        (span,) = item.highlights
        assert span.kind == "quote"
        assert _fold(item.passage.text[span.start : span.end]) == _fold(item.quote)
    assert evidence_to_dict(evidence[0])["pinned"] is True
    assert json.dumps([evidence_to_dict(e) for e in evidence])


def test_quotes_in_one_passage_make_one_pinned_entry(kb):
    second = PinnedQuote("report-a", "even in the best case scenario")
    myth = _myth(evidence=(SAVINGS, second, PinnedQuote("report-a", "not in this report at all")))
    (item,) = myth_evidence(kb, myth, k=0)
    assert item.quote == SAVINGS.quote
    assert [s.kind for s in item.highlights] == ["quote", "quote"]


def test_retrieved_evidence_leaves_out_passages_holding_a_pinned_quote(kb):
    myth = _myth(evidence=(SAVINGS,), queries=("savings 1.8% best case",))
    retrieved = [e for e in myth_evidence(kb, myth, k=5) if not e.pinned]
    assert all("1.8%" not in e.passage.text for e in retrieved)


BIG = "big"
# Each in its own words: passages in the same words count once (kb.search.same_words).
_TAILS = {
    0: "payroll teams merged in Renfrew last year",
    1: "finance staff moved to Paisley under the plan",
    2: "revenues and benefits joined the centre later",
    3: "the computer contract ended early with costs",
    4: "human resources stayed local after the vote",
    5: "procurement was shared through a joint committee",
    "A": "the audit office counted them carefully each year",
    "B": "the union survey asked members about workloads",
}


def relevant(key) -> str:
    return f"Back office savings from sharing were small: {_TAILS[key]}."


@pytest.fixture
def spread_kb(store, embedder, settings) -> KnowledgeBase:
    """One document with six relevant passages, another with two and two unquotable ones."""

    def meta(doc_id):
        return DocumentMeta(doc_id, f"Document {doc_id}", "Publisher", 2020, "case-study")

    corpus = [
        (meta(BIG), [(relevant(n), None, "Findings") for n in range(6)]),
        (
            meta("small"),
            [
                (relevant("A"), None, "Findings"),
                (relevant("B"), None, "Findings"),
                ("Back office savings from sharing, a list of links.", None, "Sources"),
                ("Kind: case study · Tags: back office, savings, sharing", None, ""),
            ],
        ),
    ]
    build_corpus(store, embedder, corpus)
    return KnowledgeBase(store, embedder, settings.index_path)


def test_retrieved_evidence_spreads_across_documents(spread_kb):
    myth = _myth(queries=("back office savings from sharing",))
    evidence = myth_evidence(spread_kb, myth, k=5)
    documents = [e.passage.document_id for e in evidence]
    assert documents.count(BIG) == 3 and documents.count("small") == 2


def test_retrieved_evidence_falls_back_to_one_document_when_others_run_out(spread_kb):
    myth = _myth(queries=("back office savings from sharing",))
    evidence = myth_evidence(spread_kb, myth, k=8)
    documents = [e.passage.document_id for e in evidence]
    assert len(evidence) == 8
    assert documents.count(BIG) == 6 and documents.count("small") == 2
    assert all("list of links" not in e.passage.text for e in evidence)
    assert all(not e.passage.text.startswith("Kind:") for e in evidence)


def test_retrieved_evidence_drops_repeated_text(store, embedder, settings):
    def meta(doc_id):
        return DocumentMeta(doc_id, f"Document {doc_id}", "Publisher", 2020, "case-study")

    same = "Back office savings from sharing were small."
    corpus = [(meta(d), [(same, None, "Findings")]) for d in ("one", "two")]
    build_corpus(store, embedder, corpus)
    kb = KnowledgeBase(store, embedder, settings.index_path)
    evidence = myth_evidence(kb, _myth(queries=("back office savings",)), k=5)
    assert len(evidence) == 1


def test_near_duplicate_means_mostly_the_same_characters():
    def passage(pid, start, end, doc="d", text=None):
        return Passage(pid, doc, pid, text or f"text {pid}", None, "", start, end, 10)

    assert near_duplicate(passage(1, 0, 100), passage(2, 40, 140))
    assert not near_duplicate(passage(1, 0, 100), passage(2, 80, 180))
    assert not near_duplicate(passage(1, 0, 100), passage(2, 0, 100, doc="e"))
    assert near_duplicate(passage(1, 0, 10, text="Same"), passage(2, 0, 10, "e", text="same"))


# -- matching a query to a myth ---------------------------------------------------------------

TECH = Myth(
    "tech",
    "New invoice scanning technology will fix the payments.",
    "It did not. Look.",
    ("invoice scanning technology", "duplicate payments system"),
    (DUPLICATES,),
)
SAVES = Myth(
    "saves",
    "Sharing back office services yields big savings.",
    "It does not. Look.",
    ("savings from sharing back office services",),
    (SAVINGS,),
)
# The hashing embedder scores shared words, not meaning, so its threshold is its own.
HASHING_THRESHOLD = 0.3


class CountingEmbedder:
    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return self.inner.embed(texts)


def test_match_myth_finds_the_myth_for_a_myth_like_query(kb):
    found = match_myth(
        kb, "will scanning technology fix invoice payments", HASHING_THRESHOLD, myths=[TECH, SAVES]
    )
    assert found is not None and found[0] is TECH and found[1] >= HASHING_THRESHOLD
    found = match_myth(kb, "do back office savings come from sharing", myths=[TECH, SAVES])
    assert found is not None and found[0] is SAVES


def test_match_myth_returns_none_for_an_unrelated_query(kb):
    for query in ("Tayside Contracts joint committee of councillors", "", "   "):
        assert match_myth(kb, query, HASHING_THRESHOLD, myths=[TECH, SAVES]) is None


def test_myth_book_embeds_the_myths_once(store, embedder, settings):
    counting = CountingEmbedder(embedder)
    book = MythBook(KnowledgeBase(store, counting, settings.index_path), [TECH, SAVES])
    ranked = book.similarities("invoice scanning technology")
    assert [m.id for m, _ in ranked] == ["tech", "saves"]
    assert ranked[0][1] > ranked[1][1]
    book.similarities("savings from sharing")
    book.match("invoice technology")
    assert counting.calls == 4, "one batch for the myths, one per new query"
    assert book.get("tech") is TECH and len(book) == 2
    with pytest.raises(NotFound, match="no myth with id 'nope'"):
        book.get("nope")


# -- the command line -------------------------------------------------------------------------


def _kb(settings, *args):
    base = ["--data-dir", str(settings.data_dir), "--corpus-dir", str(settings.corpus_dir)]
    return CliRunner().invoke(cli, [*base, "--embedder", "hashing", *args])


def test_kb_myths_lists_the_corpus_myths(backend_settings):
    result = _kb(backend_settings, "myths")
    assert result.exit_code == 0, result.output
    for myth in CORPUS_MYTHS:
        assert myth.id in result.output
        assert f"{len(myth.evidence)} pinned" in result.output


@pytest.fixture
def small_settings(kb, settings, tmp_path):
    """A corpus folder holding a myths file for the small test corpus (already in the store)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "myths.toml").write_text(_myths_toml("report-a", SAVINGS.quote), encoding="utf-8")
    kb.store.close()
    return type(settings)(
        data_dir=settings.data_dir,
        corpus_dir=corpus,
        embedder="hashing",
        database_url=settings.database_url,
    )


def test_kb_myths_shows_one_myth_with_its_evidence(small_settings):
    result = _kb(small_settings, "myths", "m1", "--json", "-k", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["id"] == "m1" and data["answer"].startswith("An answer")
    assert [e["pinned"] for e in data["evidence"]] == [True, False, False]
    assert data["evidence"][0]["citation"]["short"].startswith("APSE for UNISON Scotland")
    text = _kb(small_settings, "myths", "m1")
    assert text.exit_code == 0 and "[pinned]" in text.output and "p. 4" in text.output
    assert "What the other side will say" not in text.output  # m1 has none


def test_kb_myths_says_what_the_other_side_will_say(small_settings):
    path = small_settings.corpus_dir / "myths.toml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[[myth.other_side]]\ndocument = "tayside"\n'
        + 'quote = "governed by a joint committee"\nnote = "It has lasted."\n',
        encoding="utf-8",
    )
    text = _kb(small_settings, "myths", "m1")
    assert text.exit_code == 0, text.output
    other = text.output[text.output.index("What the other side will say:") :]
    assert "“governed by a joint committee” (It has lasted.)" in other
    assert "Shared Services Evidence Base (2026) *Tayside Contracts*, Governance" in other
    data = json.loads(_kb(small_settings, "myths", "m1", "--json").output)
    assert [(o["document"]["id"], o["note"]) for o in data["other_side"]] == [
        ("tayside", "It has lasted.")
    ]


def test_kb_myths_refuses_an_unknown_id(small_settings):
    result = _kb(small_settings, "myths", "nope")
    assert result.exit_code == 1
    assert "There is no myth with id 'nope'." in result.output


def test_kb_check_fails_naming_a_broken_myth(small_settings):
    assert _kb(small_settings, "check").exit_code == 0
    (small_settings.corpus_dir / "myths.toml").write_text(
        _myths_toml("report-a", "words not there"), encoding="utf-8"
    )
    result = _kb(small_settings, "check")
    assert result.exit_code == 1
    assert "'m1'" in result.output and "words not there" in result.output


# -- the real corpus through the real pipeline ------------------------------------------------


def test_every_pinned_quote_resolves_after_ingesting_the_corpus(store, embedder, settings):
    ingest_catalog(store, embedder, settings.files_dir)
    assert check_pinned(CORPUS_MYTHS, store) == []


def test_kb_ingest_fails_when_a_pinned_quote_breaks(tmp_path, backend_settings):
    pytest.importorskip("ingest.split")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# Note\n\n## Findings\n\nShared services saved little.\n")
    (corpus / "catalog.toml").write_text(
        '[[document]]\nid = "note"\nfile = "note.md"\ntitle = "Note"\npublisher = "Us"\n'
        'year = 2020\nkind = "report"\n'
    )
    (corpus / "myths.toml").write_text(_myths_toml("note", "Shared services saved a fortune"))
    runner = CliRunner()
    args = ["--data-dir", str(backend_settings.data_dir), "--corpus-dir", str(corpus)]
    result = runner.invoke(cli, [*args, "--embedder", "hashing", "ingest"])
    assert result.exit_code == 1
    assert "1 pinned myth quotes no longer match" in result.output
    assert "'m1'" in result.output and "'note'" in result.output
    (corpus / "myths.toml").write_text(_myths_toml("note", "Shared services saved little"))
    result = runner.invoke(cli, [*args, "--embedder", "hashing", "ingest"])
    assert result.exit_code == 0, result.output


# -- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_kb(minilm, tmp_path_factory) -> KnowledgeBase:
    data = tmp_path_factory.mktemp("minilm")
    # SQLite only: a module's PostgreSQL database would outlive the per-test ones.
    store = open_store(Settings(data_dir=data, corpus_dir=CORPUS), create=True)
    ingest_catalog(store, minilm, data / "files")
    yield KnowledgeBase(store, minilm, data / "index.faiss")
    store.close()


@pytest.mark.model
@pytest.mark.parametrize(
    ("query", "myth_id"),
    [
        ("isn't sharing services going to save loads of money", "sharing-saves-big"),
        ("can we separate the front office from the back office", "split-front-and-back"),
        ("self-service systems for staff are cheaper", "cutting-admin-saves"),
        ("a new IT system will make the shared centre work", "technology-fixes-it"),
        ("a bigger centralised service is more efficient", "bigger-is-better"),
        ("should we hire consultants to find the savings", "consultants-deliver"),
        ("restructure first and sort out the processes later", "structure-first"),
        ("back office work can be done anywhere away from the front line", "back-office-separable"),
        ("can we rely on the projected savings", "forecasts-are-bankable"),
        ("present the finished shared services plan to staff", "consult-later"),
    ],
)
def test_minilm_matches_paraphrases_to_their_myth(minilm, store, settings, query, myth_id):
    book = MythBook(KnowledgeBase(store, minilm, settings.index_path), CORPUS_MYTHS)
    found = book.match(query)
    assert found is not None, f"{query!r} scored below {MATCH_THRESHOLD}"
    assert found[0].id == myth_id


@pytest.mark.model
@pytest.mark.parametrize(
    "query",
    [
        "Tayside Contracts joint committee",
        "Teckal case procurement exemption",
        "Arbuthnott review back office costs",
        "spending review cuts 2012/15",
        "pensions and terms and conditions",
    ],
)
def test_minilm_matches_no_myth_for_unrelated_queries(minilm, store, settings, query):
    book = MythBook(KnowledgeBase(store, minilm, settings.index_path), CORPUS_MYTHS)
    assert book.match(query) is None


@pytest.mark.model
def test_minilm_evidence_on_the_real_corpus(corpus_kb):
    book = MythBook(corpus_kb, CORPUS_MYTHS)
    for myth in CORPUS_MYTHS:
        evidence = book.evidence(myth, k=5)
        pinned = [e for e in evidence if e.pinned]
        quotes = sum(len(e.highlights) for e in pinned)
        assert quotes == len(myth.evidence), f"{myth.id}: every pinned quote is shown"
        assert len(evidence) - len(pinned) == 5
    texts = {
        myth_id: " ".join(e.passage.text for e in book.evidence(myth_id, k=5) if not e.pinned)
        for myth_id in ("sharing-saves-big", "consultants-deliver", "technology-fixes-it")
    }
    assert "1.8%" in texts["sharing-saves-big"]
    assert "PwC" in texts["consultants-deliver"]
    assert "£4.6m" in texts["technology-fixes-it"]
