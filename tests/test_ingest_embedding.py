"""What the pipeline embeds: every passage and sentence text once, each vector where it belongs."""

from collections import Counter

import numpy as np
import pytest

from ingest.loaders import load_file
from ingest.pipeline import IngestItem
from ingest.pipeline import Ingestor
from ingest.pipeline import embedding_text
from ingest.pipeline import sentence_texts
from ingest.split import split_blocks
from kb.embedder import HashingEmbedder
from kb.models import DocumentMeta


class RecordingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return super().embed(texts)


def long_section(tmp_path):
    """One section long enough for several passages, each opening with the last one's last
    sentence (the splitter's overlap)."""
    sentences = [
        f"Council {n} moved its payroll into the shared service in year {2000 + n}, and it "
        f"reported savings of {n} million pounds against the business case."
        for n in range(1, 41)
    ]
    path = tmp_path / "payroll.md"
    path.write_text("# Payroll\n\n" + " ".join(sentences) + "\n")
    return path


def test_each_distinct_text_is_embedded_once_and_every_vector_is_stored(store, tmp_path):
    path = long_section(tmp_path)
    meta = DocumentMeta("payroll", "Payroll sharing", "Test", 2024, "report")
    _, chunks = split_blocks(load_file(path).blocks)
    passages = [embedding_text(meta, chunk) for chunk in chunks]
    sentences = [text for chunk in chunks for text in sentence_texts(meta, chunk)]
    assert len(chunks) >= 3 and len(set(sentences)) < len(sentences)  # the overlap repeats

    embedder = RecordingEmbedder()
    outcome = Ingestor(store, embedder, tmp_path / "files").ingest_one(IngestItem(path, meta))

    assert outcome.status == "added"
    assert sorted(embedder.texts) == sorted(set(passages + sentences))  # none twice
    stored = np.concatenate([vectors for _, vectors in store.iter_embeddings()])
    expected = HashingEmbedder().embed(passages + sentences)
    assert store.count_vectors() == len(passages) + len(sentences)
    as_rows = lambda matrix: Counter(tuple(np.round(row, 6)) for row in matrix)  # noqa: E731
    assert as_rows(stored) == as_rows(expected)


class TwoRunEmbedder(RecordingEmbedder):
    """Its word-piece run (which an ingesting ExportedMiniLM puts on OpenVINO) gives each text
    the opposite of its plain run's vector, so the stored vectors say which run made them."""

    def __init__(self) -> None:
        super().__init__()
        self.piece_texts: list[str] = []

    def embed_with_pieces(self, texts):
        self.piece_texts.extend(texts)
        vectors = -HashingEmbedder.embed(self, texts)
        return vectors, [
            (["[CLS]", "[SEP]"], vectors[i : i + 1].repeat(2, 0)) for i in range(len(texts))
        ]


@pytest.mark.parametrize("late_interaction_up_to", [20_000, 0])
def test_passages_go_through_the_word_piece_run_and_sentences_through_the_plain_one(
    store, tmp_path, late_interaction_up_to
):
    path = long_section(tmp_path)
    meta = DocumentMeta("payroll", "Payroll sharing", "Test", 2024, "report")
    _, chunks = split_blocks(load_file(path).blocks)
    passages = [embedding_text(meta, chunk) for chunk in chunks]
    sentences = [text for chunk in chunks for text in sentence_texts(meta, chunk)]
    progress = []

    embedder = TwoRunEmbedder()
    outcome = Ingestor(
        store, embedder, tmp_path / "files", late_interaction_up_to=late_interaction_up_to
    ).ingest_one(IngestItem(path, meta), on_progress=lambda *step: progress.append(step))

    assert outcome.status == "added"
    assert sorted(embedder.piece_texts) == sorted(set(passages))
    assert sorted(embedder.texts) == sorted(set(sentences))
    stored = np.concatenate([vectors for _, vectors in store.iter_embeddings()])
    expected = np.vstack([-HashingEmbedder().embed(passages), HashingEmbedder().embed(sentences)])
    as_rows = lambda matrix: Counter(tuple(np.round(row, 6)) for row in matrix)  # noqa: E731
    assert as_rows(stored) == as_rows(expected)
    embeds = [(done, total) for stage, done, total in progress if stage == "embed"]
    assert embeds[0][0] == 0 and embeds[-1][0] == embeds[-1][1] == len(set(passages + sentences))
    ids = [p.id for p in store.passages_of("payroll")]
    kept = store.piece_vectors(ids)
    assert set(kept) == (set(ids) if late_interaction_up_to else set())
