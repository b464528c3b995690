"""The store: documents and passages in one transaction, replace, remove, check, generation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL_CORPUS
from conftest import both_backends
from conftest import build_corpus

from kb.errors import ModelMismatch
from kb.errors import NotFound
from kb.models import Chunk
from kb.models import DocumentMeta

pytestmark = both_backends


def test_documents_and_passages_are_stored(store, embedder):
    build_corpus(store, embedder)
    documents = {d.id: d for d in store.list_documents()}
    assert set(documents) == {"report-a", "somerset", "tayside"}
    assert documents["report-a"].passage_count == 4
    passages = store.passages_of("report-a")
    assert [p.page for p in passages] == ["4", "9", "12", "16"]
    assert passages[1].section == "Exposing the myths > Back office"
    assert store.check() == []


def test_every_write_bumps_the_generation(store, embedder):
    before = store.generation()
    build_corpus(store, embedder)
    after_build = store.generation()
    assert after_build > before
    store.remove_document("tayside")
    assert store.generation() == after_build + 1


def test_replace_swaps_all_passages(store, embedder):
    build_corpus(store, embedder)
    meta = SMALL_CORPUS[2][0]
    chunk = Chunk("A new text about Tayside.", None, "New", 0, 25, 5)
    replaced = store.put_document(
        meta,
        file_path="",
        sha256="x",
        fingerprint="y",
        text=chunk.text,
        chunks=[chunk],
        embeddings=embedder.embed([chunk.text]),
    )
    assert replaced is True
    assert [p.text for p in store.passages_of("tayside")] == ["A new text about Tayside."]
    assert store.keyword_search(["councillors"], 10) == []
    assert store.check() == []


def test_a_failed_write_changes_nothing(store, embedder):
    build_corpus(store, embedder)
    meta = DocumentMeta("tayside", "Broken", "x", 2020, "report")
    chunk = Chunk("text", None, "", 0, 4, 1)
    with pytest.raises(ValueError):
        store.put_document(
            meta,
            file_path="",
            sha256="",
            fingerprint="",
            text="text",
            chunks=[chunk, chunk],
            embeddings=embedder.embed(["text"]),
        )
    assert store.get_document("tayside").meta.title == "Tayside Contracts"
    assert store.check() == []


def test_remove_and_not_found(store, embedder):
    build_corpus(store, embedder)
    removed = store.remove_document("somerset")
    assert removed.passage_count == 2
    with pytest.raises(NotFound, match="no document with id 'somerset'"):
        store.get_document("somerset")
    with pytest.raises(NotFound):
        store.remove_document("somerset")
    assert store.check() == []


def test_passage_counts_are_kept_by_every_write_and_checked(store, embedder):
    """Documents' passage counts are kept by the database (migration 0009's triggers), not
    counted on each read; kb check finds a count that went wrong."""
    build_corpus(store, embedder)
    chunk = Chunk("A new text about Tayside.", None, "New", 0, 25, 5)
    store.put_document(
        SMALL_CORPUS[2][0],
        file_path="",
        sha256="x",
        fingerprint="y",
        text=chunk.text,
        chunks=[chunk],
        embeddings=embedder.embed([chunk.text]),
    )
    counts = {d.id: d.passage_count for d in store.list_documents()}
    assert counts == {"report-a": 4, "somerset": 2, "tayside": 1}
    assert store.documents_by_id(["report-a"])["report-a"].passage_count == 4
    assert store.check() == []
    with store.transaction() as conn:
        conn.execute("UPDATE documents SET passage_count = 9 WHERE id = ?", ("somerset",))
    assert store.check() == ["1 documents record a passage count that differs from their passages."]
    store.remove_document("somerset")
    assert store.check() == []


def test_a_second_model_is_refused(store, embedder):
    build_corpus(store, embedder)
    with pytest.raises(ModelMismatch, match="re-embed"):
        store.ensure_model("another-model", 384, {})


def test_metadata_update_keeps_passages(store, embedder):
    build_corpus(store, embedder)
    meta = DocumentMeta(
        "tayside", "Tayside Contracts (renamed)", "P", 2025, "case-study", "", ("tayside",)
    )
    store.update_metadata(meta)
    assert store.get_document("tayside").meta == meta
    assert store.passages_of("tayside")[0].text.startswith("Tayside Contracts is governed")


def test_embeddings_round_trip(store, embedder):
    build_corpus(store, embedder)
    ids, vectors = next(store.iter_embeddings())
    assert vectors.shape == (store.count_passages(), embedder.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _rows(store) -> list[tuple]:
    return (
        store.connection().execute("SELECT key, tokens FROM rate_buckets ORDER BY key").fetchall()
    )


def test_a_transaction_opened_inside_another_joins_it(store):
    """The outer block commits or rolls back what inner transactions wrote (ingest/service.py
    writes a document and its audit record so)."""
    insert = "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, 1, 0)"
    with pytest.raises(RuntimeError), store.side_transaction() as conn:
        conn.execute(insert, ("outer",))
        with store.transaction() as inner:
            inner.execute(insert, ("inner",))
        raise RuntimeError("after the inner transaction finished")
    assert _rows(store) == []  # the inner write went with the outer rollback
    generation = store.generation()
    with store.side_transaction() as conn:
        conn.execute(insert, ("outer",))
        with store.transaction() as inner:
            inner.execute(insert, ("inner",))
    assert [key for key, _ in _rows(store)] == ["inner", "outer"]
    assert store.generation() == generation + 1  # the inner transaction's bump is kept


def test_a_failed_inner_transaction_is_undone_alone(store):
    insert = "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, 1, 0)"
    with store.side_transaction() as conn:
        conn.execute(insert, ("outer",))
        with pytest.raises(RuntimeError), store.side_transaction() as inner:
            inner.execute(insert, ("inner",))
            raise RuntimeError("inside")
        conn.execute(insert, ("after",))
    assert [key for key, _ in _rows(store)] == ["after", "outer"]
    with store.side_transaction() as conn:  # the store is usable as before
        conn.execute(insert, ("again",))
    assert len(_rows(store)) == 3


def test_side_table_writes_against_a_locked_database_fail_in_one_sentence(tmp_path):
    """No driver's error reaches callers: a write that waited past the timeout for another
    process's lock is a StoreError that says so, for every side table."""
    import sqlite3

    from kb.audit import AuditLog
    from kb.errors import StoreError
    from kb.jobs import Jobs
    from kb.sessions import Sessions
    from kb.store import SqliteStore
    from kb.users import Users

    path = tmp_path / "kb.sqlite3"
    store = SqliteStore(path, busy_timeout=0.05)
    meta = DocumentMeta("d", "A document", "Us", 2024, "report")
    job = Jobs(store).create(action="add", user="ada", file_name="a.md", sha256="0" * 64, meta=meta)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        writes = [
            lambda: Jobs(store).create(
                action="add", user="ada", file_name="b.md", sha256="1" * 64, meta=meta
            ),
            lambda: Jobs(store).progress(job.id, "embed", 1, 2),
            lambda: Jobs(store).renew(job.id, "worker-1"),
            lambda: AuditLog(store).record("ada", "add", "d", "A document"),
            lambda: Users(store, hash_method="pbkdf2:sha256:1").add("bo", "a long password"),
            lambda: Sessions(store).start(1, 60),
        ]
        for write in writes:
            with pytest.raises(StoreError, match="busy with another writer"):
                write()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_closing_leaves_a_live_threads_connection_to_that_thread(tmp_path):
    """A server's reload thread may be inside a query when the store is closed (tests close
    stores under running apps): closing its connection from here crashed the process now and
    then. close() lets it go instead; the thread can finish with it."""
    import threading

    from kb.store import SqliteStore

    store = SqliteStore(tmp_path / "kb.sqlite3")
    opened, closed = threading.Event(), threading.Event()
    seen = []

    def reader():
        conn = store.connection()
        opened.set()
        closed.wait(10)
        seen.append(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    thread = threading.Thread(target=reader)
    thread.start()
    opened.wait(10)
    mine = store.connection()
    store.close()
    closed.set()
    thread.join(10)
    assert seen == [0]
    with pytest.raises(Exception, match="closed"):
        mine.execute("SELECT 1")  # this thread's own connection is closed
    assert store.count_passages() == 0  # and the store opens a fresh one on the next use
