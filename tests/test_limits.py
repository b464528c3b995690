"""A file's work is bounded by what it expands to, not by how long it takes (issue 12, finding 7).

The crafted files are the ones that held an upload request: six pages sharing one 2 MB content
stream in 7 KB, and one page whose 46 KB expand to megabytes of content. The work is measured by
what pypdf parses (bytes of content stream, counted by wrapping its parser) and what is
embedded (texts given to the embedder), never by time.
"""

from __future__ import annotations

import pytest
from conftest import both_backends
from pdf_builders import pages_sharing_one_stream
from pdf_builders import text_lines
from pypdf.generic import ContentStream

from ingest.limits import EXTRACTED_TEXT
from ingest.limits import PAGE_CONTENT
from ingest.limits import VECTORS
from ingest.limits import human_size
from ingest.loaders import load_bytes
from ingest.loaders.pdf import load_pdf
from ingest.pipeline import IngestItem
from ingest.pipeline import Ingestor
from kb.embedder import HashingEmbedder
from kb.errors import FileTooLarge

pytestmark = both_backends

SIX_PAGES_ONE_STREAM = pages_sharing_one_stream(6, text_lines(2_000_000 // 33))
ONE_PAGE_EXPANDING = pages_sharing_one_stream(1, text_lines(180_000, period=600))


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """The sizes of the content streams pypdf parses from now on."""
    sizes: list[int] = []
    parse = ContentStream._parse_content_stream

    def counting(self, stream):
        sizes.append(len(stream.getbuffer()))
        return parse(self, stream)

    monkeypatch.setattr(ContentStream, "_parse_content_stream", counting)
    return sizes


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


def test_the_crafted_files_are_what_the_finding_describes():
    assert 6_000 < len(SIX_PAGES_ONE_STREAM) < 8_000  # "a 7 KB PDF"
    assert 40_000 < len(ONE_PAGE_EXPANDING) < 50_000  # "a 46 KB one-page PDF"


def test_six_pages_sharing_a_2_mb_stream_are_refused_before_it_is_parsed(parsed):
    with pytest.raises(FileTooLarge) as refused:
        load_bytes(SIX_PAGES_ONE_STREAM, "shared.pdf")
    assert str(refused.value) == (
        "shared.pdf expands to more than 1.1 MB of page content from 7.1 KB, so it was "
        "refused; it may be built to exhaust the server."
    )
    assert parsed == []  # before: 6 x 2 MB parsed, 3,672 vectors made


def test_one_page_expanding_to_megabytes_is_refused_before_it_is_parsed(parsed):
    expected = r"expands to more than 1\.9 MB of page content from 4\d\.\d KB"
    with pytest.raises(FileTooLarge, match=expected):
        load_bytes(ONE_PAGE_EXPANDING, "expanding.pdf")
    assert parsed == []


def test_a_form_drawn_again_and_again_counts_at_every_drawing(parsed):
    from pdf_builders import form_drawn_again_and_again

    data = form_drawn_again_and_again(times=200, megabytes=1)
    limit = PAGE_CONTENT.limit(len(data))
    with pytest.raises(FileTooLarge, match="of page content"):
        load_bytes(data, "forms.pdf")
    # Each drawing parses the 1 MB form again: stopped at the drawing that passes the limit.
    assert sum(parsed) <= limit and len(parsed) <= 2


def test_text_far_beyond_the_file_size_is_refused(parsed):
    # 1 MB of content (within its allowance) showing 1 MB of text from 7 KB.
    data = pages_sharing_one_stream(1, text_lines(30_000))
    assert len(data) < PAGE_CONTENT.limit(len(data)) and sum(parsed) == 0
    with pytest.raises(FileTooLarge, match="characters of text from"):
        load_bytes(data, "wordy.pdf")
    assert EXTRACTED_TEXT.limit(len(data)) < 200_000


def test_an_ordinary_pdf_stays_far_below_every_allowance(parsed):
    data = pages_sharing_one_stream(1, text_lines(300, period=300))
    loaded = load_bytes(data, "ordinary.pdf")
    assert loaded.page_count == 1 and loaded.blocks
    assert sum(parsed) * 10 < PAGE_CONTENT.limit(len(data))


def test_reading_still_stops_at_its_time_limit():
    # The last resort, for work the allowances do not count: a budget of no time at all.
    data = pages_sharing_one_stream(1, text_lines(3))
    with pytest.raises(FileTooLarge, match="takes more than 0 seconds to read"):
        load_pdf(data, "slow.pdf", max_seconds=0)


def test_a_file_giving_too_many_vectors_is_refused_before_embedding(store, tmp_path):
    path = tmp_path / "terse.md"
    path.write_text("# Terse\n\n" + "Ab. " * 2_500)  # 10 KB: 2,500 one-word sentences
    embedder = CountingEmbedder()
    ingestor = Ingestor(store, embedder, tmp_path / "files")
    outcome = ingestor.ingest_one(IngestItem(path))
    assert outcome.status == "failed"
    limit = VECTORS.limit(path.stat().st_size)
    assert outcome.reason == (
        f"terse.md expands to more than {limit:,} passages and sentences to embed from "
        f"{human_size(path.stat().st_size)}, "
        "so it was refused; it may be built to exhaust the server."
    )
    assert embedder.texts == 0 and store.list_documents() == []


def test_the_corpus_documents_stay_within_the_vector_allowance(store, tmp_path):
    # The densest real text we have, our own Markdown: 10-14 vectors per KB against 64.
    from conftest import ROOT

    embedder = CountingEmbedder()
    ingestor = Ingestor(store, embedder, tmp_path / "files")
    path = ROOT / "corpus" / "reports" / "the-front-line-starts-here.md"
    assert ingestor.ingest_one(IngestItem(path)).status == "added"
    assert embedder.texts * 4 < VECTORS.limit(path.stat().st_size)
