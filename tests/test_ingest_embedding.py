"""What the pipeline embeds: every passage and sentence text once, each vector where it belongs."""

from collections import Counter

import numpy as np

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
