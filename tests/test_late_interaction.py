"""MaxSim scoring and the compact storage of word-piece vectors (kb/late_interaction.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import both_backends
from conftest import build_corpus

from ingest.pipeline import IngestItem
from ingest.pipeline import Ingestor
from kb.embedder import HashingEmbedder
from kb.late_interaction import PieceCache
from kb.late_interaction import content_rows
from kb.late_interaction import kept_at
from kb.late_interaction import maxsim
from kb.late_interaction import pack
from kb.late_interaction import packed
from kb.late_interaction import unit_rows
from kb.late_interaction import unpack
from kb.models import Chunk
from kb.models import DocumentMeta
from kb.search import KnowledgeBase
from kb.search import SearchSettings

# The store's part (piece_vectors, put_document, the stage in search) on SQLite and PostgreSQL.
pytestmark = both_backends


def test_query_pieces_keep_content_words_only():
    pieces = ["[CLS]", "how", "much", "did", "in", "##ver", "##clyde", "save", "?", "[SEP]"]
    vectors = np.arange(len(pieces), dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    kept = content_rows(pieces, vectors)[:, 0].tolist()
    assert kept == [2.0, 5.0, 6.0, 7.0]  # much, ##ver, ##clyde, save


def test_a_query_of_stop_words_keeps_them_rather_than_nothing():
    pieces = ["[CLS]", "what", "is", "it", "[SEP]"]
    vectors = np.eye(5, dtype=np.float32)
    assert len(content_rows(pieces, vectors)) == 3


def test_packed_vectors_come_back_within_int8_precision_at_a_quarter_of_the_size():
    rng = np.random.default_rng(7)
    vectors = unit_rows(rng.standard_normal((135, 384)))
    blob = pack(vectors)
    assert len(blob) == 135 * (384 + 4)
    back = unpack(blob, 384)
    assert back.shape == (135, 384)
    assert np.abs(back - vectors).max() <= np.abs(vectors).max() / 254 + 1e-6


def test_unpack_refuses_bytes_of_another_dimension():
    with pytest.raises(ValueError, match="dimension 384"):
        unpack(pack(np.ones((3, 10), np.float32)), 384)


def as_packed(vectors):
    return packed(pack(vectors), vectors.shape[1])


def test_maxsim_rewards_the_passage_that_covers_every_query_piece():
    a, b, c = np.eye(3, dtype=np.float32)
    query = np.stack([a, b])
    covers_both = as_packed(np.stack([a, b, c]))
    covers_one = as_packed(np.stack([a, c, c]))
    none = (np.zeros((0, 3), np.int8), np.zeros(0, np.float32))
    scores = maxsim(query, [covers_both, none, covers_one])
    assert scores.tolist() == pytest.approx([1.0, 0.0, 0.5])


def test_maxsim_of_packed_pieces_matches_float_vectors_one_passage_at_a_time():
    rng = np.random.default_rng(3)
    query = unit_rows(rng.standard_normal((6, 384)))
    passages = [unit_rows(rng.standard_normal((n, 384))) for n in (40, 1, 135, 7)]
    expected = [float((query @ p.T).max(axis=1).mean()) for p in passages]
    got = maxsim(query, [as_packed(p) for p in passages])
    assert got.tolist() == pytest.approx(expected, abs=0.01)


def test_late_interaction_is_kept_up_to_the_setting_and_never_at_zero():
    assert kept_at(0, 20_000) and kept_at(20_000, 20_000)
    assert not kept_at(20_001, 20_000)
    assert not kept_at(0, 0)


def test_the_cache_reads_each_passage_once_and_forgets_everything_when_the_store_changes():
    blobs = {pid: pack(np.eye(4, dtype=np.float32)[: pid % 3 + 1]) for pid in range(10)}
    reads = []

    def read(ids):
        reads.append(list(ids))
        return {pid: blobs[pid] for pid in ids if pid != 9}  # 9 has none stored

    cache = PieceCache(read, max_bytes=10_000)
    assert set(cache.get([1, 2, 9], generation=5, dimension=4)) == {1, 2}
    assert set(cache.get([2, 3, 9], generation=5, dimension=4)) == {2, 3}
    assert reads == [[1, 2, 9], [3, 9]]
    cache.get([1], generation=6, dimension=4)
    assert reads[-1] == [1]  # a new generation: read again


def test_the_cache_keeps_at_most_its_bytes_dropping_the_least_recently_used():
    blob = pack(np.ones((10, 4), np.float32))  # 40 bytes of int8 + 40 of factors a passage
    reads = []

    def read(ids):
        reads.append(list(ids))
        return dict.fromkeys(ids, blob)

    cache = PieceCache(read, max_bytes=200)
    cache.get([1, 2], 1, 4)
    cache.get([1], 1, 4)  # 1 used last: 2 goes first
    cache.get([3], 1, 4)
    reads.clear()
    cache.get([1, 2, 3], 1, 4)
    assert reads == [[2]]


class PieceEmbedder(HashingEmbedder):
    """The hashing stand-in with word pieces: each word is a piece, its vector its own."""

    def embed_with_pieces(self, texts):
        pieces = []
        for text in texts:
            words = ["[CLS]", *text.lower().split(), "[SEP]"]
            pieces.append((words, self.embed(words)))
        return self.embed(texts), pieces


def build_with_pieces(store, embedder):
    build_corpus(store, embedder)
    for document in store.list_documents():
        passages = store.passages_of(document.id)
        texts = [f"{document.meta.title} - {p.section}: {p.text}" for p in passages]
        vectors, pieces = embedder.embed_with_pieces(texts)
        chunks = [
            Chunk(p.text, p.page, p.section, p.char_start, p.char_end, p.token_count)
            for p in passages
        ]
        store.put_document(
            document.meta,
            file_path="",
            sha256=document.id,
            fingerprint=document.id,
            text=store.document_text(document.id),
            chunks=chunks,
            embeddings=vectors,
            piece_vectors=[rows for _, rows in pieces],
        )


def test_the_store_keeps_a_passages_pieces_until_its_document_goes(store):
    embedder = PieceEmbedder()
    build_with_pieces(store, embedder)
    ids = [p.id for d in store.list_documents() for p in store.passages_of(d.id)]
    stored = {
        pid: unpack(blob, embedder.dimension) for pid, blob in store.piece_vectors(ids).items()
    }
    assert set(stored) == set(ids)
    first = store.passages_by_id([ids[0]])[ids[0]]
    document = store.get_document(first.document_id)
    _, pieces = embedder.embed_with_pieces(
        [f"{document.meta.title} - {first.section}: {first.text}"]
    )
    assert np.abs(stored[ids[0]] - pieces[0][1]).max() < 0.01
    store.remove_document(document.id)
    assert not store.piece_vectors([p.id for p in [first]])


def test_late_interaction_puts_the_best_covering_candidate_first(store, settings):
    embedder = PieceEmbedder()
    build_with_pieces(store, embedder)
    kb = KnowledgeBase(store, embedder, settings.index_path)
    query = "savings from back office sharing"
    kb.settings = SearchSettings(late_weight=0.0)
    plain = kb.search(query, k=10)
    rows = kb.queries.query_pieces(query)
    stored = store.piece_vectors([h.passage.id for h in plain])
    dim = embedder.dimension
    scores = maxsim(rows, [packed(blob, dim) for blob in stored.values()])
    late = dict(zip(stored, scores.tolist(), strict=True))
    best = max(late, key=lambda pid: (late[pid], -pid))
    assert plain[0].passage.id != best  # fusion alone puts another passage first
    kb.settings = SearchSettings(late_weight=100.0)
    assert kb.search(query, k=10)[0].passage.id == best


def test_without_stored_pieces_the_ranking_is_fusion_alone(kb):
    kb.embedder = PieceEmbedder()
    kb.queries = type(kb.queries)(kb.embedder)
    query = "savings from back office sharing"
    kb.settings = SearchSettings(late_weight=0.0)
    plain = [h.passage.id for h in kb.search(query, k=10)]
    kb.settings = SearchSettings(late_weight=100.0)
    assert [h.passage.id for h in kb.search(query, k=10)] == plain


def test_ingest_stores_every_passages_pieces_and_re_embeds_a_store_without_them(tmp_path, store):
    source = tmp_path / "findings.md"
    source.write_text(
        "# Findings\n\n## Savings\n\nSharing back office services saved 1.8% in the best case."
        "\n\n## Staff\n\nEighty staff moved to the new centre in 2011. Most stayed.\n"
    )
    meta = DocumentMeta("findings", "Findings", "Us", 2024, "report")
    assert (
        Ingestor(store, HashingEmbedder(), tmp_path / "f")
        .ingest_one(IngestItem(source, meta))
        .status
        == "added"
    )
    ids = [p.id for p in store.passages_of("findings")]
    assert store.piece_vectors(ids) == {}  # an embedder without pieces stores none
    outcome = Ingestor(store, PieceEmbedder(), tmp_path / "f").ingest_one(IngestItem(source, meta))
    assert outcome.status == "replaced"  # the fingerprint names the pieces: re-embedded
    ids = [p.id for p in store.passages_of("findings")]
    assert set(store.piece_vectors(ids)) == set(ids)


class FallbackPieceEmbedder(HashingEmbedder):
    """Like ExportedMiniLM fallen back to sentence-transformers: it offers pieces, gives none."""

    def embed_with_pieces(self, texts):
        empty = np.zeros((0, self.dimension), dtype=np.float32)
        return self.embed(texts), [([], empty) for _ in texts]


def test_a_document_embedded_without_pieces_is_re_embedded_once_pieces_can_be_had(tmp_path, store):
    source = tmp_path / "findings.md"
    source.write_text("# Findings\n\n## Savings\n\nSharing back office services saved 1.8%.\n")
    item = IngestItem(source, DocumentMeta("findings", "Findings", "Us", 2024, "report"))
    fallback = Ingestor(store, FallbackPieceEmbedder(), tmp_path / "f")
    assert fallback.ingest_one(item).status == "added"
    assert store.piece_vectors([p.id for p in store.passages_of("findings")]) == {}
    outcome = Ingestor(store, PieceEmbedder(), tmp_path / "f").ingest_one(item)
    assert outcome.status == "replaced"  # not "unchanged": no pieces were stored before
    ids = [p.id for p in store.passages_of("findings")]
    assert set(store.piece_vectors(ids)) == set(ids)


def test_a_store_past_the_setting_keeps_no_pieces_and_is_re_embedded_once_it_passes(
    tmp_path, store
):
    source = tmp_path / "findings.md"
    source.write_text("# Findings\n\n## Savings\n\nSharing back office services saved 1.8%.\n")
    meta = DocumentMeta("findings", "Findings", "Us", 2024, "report")
    item = IngestItem(source, meta)
    off = Ingestor(store, PieceEmbedder(), tmp_path / "f", late_interaction_up_to=0)
    assert off.ingest_one(item).status == "added"
    ids = [p.id for p in store.passages_of("findings")]
    assert store.piece_vectors(ids) == {}
    assert off.ingest_one(item).status == "unchanged"
    on = Ingestor(store, PieceEmbedder(), tmp_path / "f", late_interaction_up_to=5)
    assert on.ingest_one(item).status == "replaced"  # now kept: re-embedded with its pieces
    ids = [p.id for p in store.passages_of("findings")]
    assert set(store.piece_vectors(ids)) == set(ids)
    assert on.ingest_one(item).status == "unchanged"
    passed = Ingestor(store, PieceEmbedder(), tmp_path / "f", late_interaction_up_to=len(ids) - 1)
    assert passed.ingest_one(item).status == "replaced"  # the store passed it: pieces dropped
    assert store.piece_vectors([p.id for p in store.passages_of("findings")]) == {}


def late_and_plain(kb, query):
    kb.settings = SearchSettings(late_weight=0.0)
    plain = [h.passage.id for h in kb.search(query, k=10)]
    kb.settings = SearchSettings(late_weight=100.0)
    return [h.passage.id for h in kb.search(query, k=10)], plain


def test_a_store_past_the_setting_searches_without_the_stage(store, settings):
    embedder = PieceEmbedder()
    build_with_pieces(store, embedder)
    query = "savings from back office sharing"
    kb = KnowledgeBase(store, embedder, settings.index_path)
    late, plain = late_and_plain(kb, query)
    assert late != plain  # the stage moves this query's ranking ...
    kb = KnowledgeBase(
        store, embedder, settings.index_path, late_interaction_up_to=store.count_passages() - 1
    )
    late, plain = late_and_plain(kb, query)
    assert late == plain  # ... but not past the setting


def test_candidates_of_which_one_lacks_pieces_are_ranked_by_fusion_alone(store, settings):
    embedder = PieceEmbedder()
    build_with_pieces(store, embedder)
    query = "savings from back office sharing"
    kb = KnowledgeBase(store, embedder, settings.index_path)
    _, plain = late_and_plain(kb, query)
    with store.transaction() as conn:  # as if that passage were stored before the pieces
        conn.execute("DELETE FROM piece_vectors WHERE passage_id = ?", (plain[-1],))
    late, plain = late_and_plain(kb, query)
    assert late == plain
