"""Figure matching with the real model (marked `model`): a document added later that states one
of the book's values in a close context appears under that figure, and one that states another
value in a close context appears as a possible disagreement; an unrelated use of the same value
does not."""

from __future__ import annotations

import pytest
from conftest import ROOT

from kb.embedder import MiniLMEmbedder
from kb.figures.book import load_figures
from kb.figures.matching import figure_evidence
from kb.store import SqliteStore

pytestmark = pytest.mark.model

CORPUS_BOOK = ROOT / "corpus" / "figures.toml"
if not CORPUS_BOOK.exists():
    pytest.skip("no figure book in the corpus yet", allow_module_level=True)

LATER = {
    "same": (
        "somerset-review",
        "When Somerset County Council signed its ten-year deal with Southwest One, the joint "
        "venture with IBM, the council was promised savings of £190m over the life of the "
        "contract.",
    ),
    "different": (
        "somerset-audit",
        "Somerset County Council's ten-year contract with Southwest One, its joint venture with "
        "IBM, was promised to save the council £210m over the life of the contract.",
    ),
    "unrelated": (
        "leisure-centre",
        "The new leisure centre in Taunton cost £190m to build and opened to swimmers in the "
        "spring, with a fifty-metre pool and a climbing wall.",
    ),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The Southwest One case study and three later documents, through the one ingest path."""
    from ingest.pipeline import Ingestor
    from ingest.service import DocumentService
    from ingest.service import build_meta
    from ingest.service import prepare
    from kb.catalog import load_catalog

    embedder = MiniLMEmbedder()
    data = tmp_path_factory.mktemp("figures-model")
    store = SqliteStore(data / "kb.sqlite3")
    ingestor = Ingestor(store, embedder, data / "files")
    documents = DocumentService(store, ingestor=ingestor)
    entries = [e for e in load_catalog(ROOT / "corpus" / "catalog.toml")]
    case = next(e for e in entries if e.meta.id == "southwest-one")
    from ingest.pipeline import IngestItem

    assert ingestor.ingest_one(IngestItem(case.path, case.meta)).status == "added"
    for document_id, text in LATER.values():
        path = data / f"{document_id}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        meta = build_meta(
            title=document_id.replace("-", " ").capitalize(),
            publisher="A later publisher",
            year=2024,
            kind="report",
            document_id=document_id,
        )
        submission = prepare(store, path.read_bytes(), path.name, meta, max_bytes=None)
        assert documents.take_in(submission, path, user="tests").status == "added"
    return store


def test_a_later_document_appears_under_the_figure_it_states(store):
    book = load_figures(CORPUS_BOOK)
    figure = next(f for f in book if f.id == "southwest-one-promised-savings")
    evidence = figure_evidence(store, figure, book)
    assert len(evidence.pinned) == len(figure.sources)
    also = {s.document.id: s for s in evidence.also}
    differs = {s.document.id: s for s in evidence.differs}
    assert "somerset-review" in also, [(s.document.id, s.score) for s in evidence.statements]
    assert also["somerset-review"].value == "£190m"
    assert "somerset-audit" in differs, [(s.document.id, s.score) for s in evidence.statements]
    assert differs["somerset-audit"].value == "£210m"
    assert "leisure-centre" not in also and "leisure-centre" not in differs
    for statement in (also["somerset-review"], differs["somerset-audit"]):
        assert statement.url.startswith(f"/documents/{statement.document.id}#p")
        assert statement.citation.short.startswith("A later publisher (2024)")
        assert statement.score is not None
