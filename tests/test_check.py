"""`kb check` failing: the store damaged in each way it looks for, and the sentence it gives.

Each test builds a small knowledge base, checks that `kb check` passes, damages the database
(or the saved vector index) directly with SQL, as a bug, a crash outside a transaction or a
restored backup would, and asserts that `kb check` fails naming the fault.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import both_backends
from conftest import build_corpus

from kb.embedder import MINILM_NAME
from kb.embedder import HashingEmbedder
from kb.onnx_export import default_model_path
from kb.onnx_export import export_dir
from kb.onnx_export import publish
from kb_cli.main import cli

pytestmark = both_backends

DIM = HashingEmbedder().dimension  # 384, as the real model


@pytest.fixture
def damaged(settings, store, raw_database):
    """A built knowledge base, `kb check` run on it, and a raw connection to damage it with
    (conftest.RawDatabase: the test's SQLite file or PostgreSQL database, foreign keys off)."""
    build_corpus(store, HashingEmbedder())
    store.close()
    data = settings.data_dir

    def check():
        args = ["--data-dir", str(data), "--corpus-dir", str(data.parent), "--embedder", "hashing"]
        return CliRunner().invoke(cli, [*args, "check"])

    first = check()
    assert first.exit_code == 0 and first.output.startswith("OK: 3 documents"), first.output
    assert (data / "index.faiss").exists()  # saved, at the store's generation
    return raw_database, check


def fails_with(check, message: str) -> str:
    result = check()
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    return result.output


def first_passage(connection) -> int:
    return connection.execute("SELECT MIN(id) FROM passages").fetchone()[0]


def test_a_passage_without_a_vector(damaged):
    connection, check = damaged
    connection.execute(
        "UPDATE passages SET embedding = ? WHERE id = ?", (b"", first_passage(connection))
    )
    fails_with(check, "1 passages have no embedding of the recorded size (384).")


def test_a_vector_without_a_passage(damaged):
    connection, check = damaged
    vector = np.ones(DIM, dtype=np.float32).tobytes()
    connection.execute(
        "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (999999, 1, ?)",
        (vector,),
    )
    fails_with(check, "1 sentence vectors belong to no passage.")


def test_a_vector_of_the_wrong_size(damaged):
    connection, check = damaged
    connection.execute(
        "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (?, 1, ?)",
        (first_passage(connection), b"\0"),
    )
    fails_with(check, "1 sentence vectors are not of the recorded size (384).")


OUT_OF_STEP = "1 passages are missing from the keyword index or differ from their text there."


def test_a_keyword_row_missing(damaged, backend):
    connection, check = damaged
    if backend == "sqlite":  # FTS5 keeps the keyword index in a table of its own
        connection.execute("DELETE FROM passages_fts WHERE rowid = ?", (first_passage(connection),))
        output = fails_with(check, "The keyword index holds 6 rows for 7 passages.")
    else:  # PostgreSQL keeps it in a column of passages (NOT NULL): an empty one
        connection.execute(
            "UPDATE passages SET search_vector = ''::tsvector WHERE id = ?",
            (first_passage(connection),),
        )
        output = fails_with(check, OUT_OF_STEP)
    assert OUT_OF_STEP in output


def test_a_keyword_row_out_of_step_with_its_passage(damaged, backend):
    connection, check = damaged
    # The same number of rows, but one says something its passage does not.
    if backend == "sqlite":
        connection.execute(
            "UPDATE passages_fts SET text = 'words the passage never said' WHERE rowid = ?",
            (first_passage(connection),),
        )
    else:
        connection.execute(
            "UPDATE passages SET search_vector = to_tsvector('words the passage never said')"
            " WHERE id = ?",
            (first_passage(connection),),
        )
    fails_with(check, OUT_OF_STEP)


def test_a_passage_of_no_document(damaged):
    connection, check = damaged
    connection.execute("DELETE FROM documents WHERE id = 'somerset'")
    fails_with(check, "passages belong to no document.")


def test_a_store_older_than_its_index_is_a_generation_mismatch(damaged):
    connection, check = damaged
    # As when the database is restored from a copy taken before the last write.
    connection.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'generation'"
    )
    generation = int(
        connection.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
    )
    fails_with(
        check,
        f"The vector index was saved at generation {generation + 1}, but the store is at "
        f"generation {generation}: the database is older than its index",
    )


def test_a_change_without_a_generation_bump_is_an_index_count_mismatch(damaged):
    connection, check = damaged
    vector = np.ones(DIM, dtype=np.float32).tobytes()
    connection.execute(
        "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (?, 1, ?)",
        (first_passage(connection), vector),
    )
    output = fails_with(check, "The vector index holds 7 vectors, but the store has 8")
    assert "1 missing from the index, 0 not in the store" in output
    assert "without a generation bump; delete index.faiss and index.json to rebuild it." in output


def test_the_advice_works(damaged, settings):
    connection, check = damaged
    connection.execute(
        "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (?, 1, ?)",
        (first_passage(connection), np.ones(DIM, dtype=np.float32).tobytes()),
    )
    fails_with(check, "without a generation bump")
    for name in ("index.faiss", "index.json"):
        (settings.data_dir / name).unlink()
    again = check()
    assert again.exit_code == 0 and "with 8 vectors" in again.output, again.output


class NamedAsTheModel(HashingEmbedder):
    """The stand-in's vectors under the real model's name: a store `kb check` treats as
    embedded by all-MiniLM-L6-v2, without loading it."""

    name = MINILM_NAME


def test_the_query_models_onnx_export_missing_current_and_damaged(settings, store):
    data = settings.data_dir
    build_corpus(store, NamedAsTheModel())
    store.close()
    args = ["--data-dir", str(data), "--corpus-dir", str(data.parent), "--embedder", "minilm"]

    def check():
        return CliRunner().invoke(cli, [*args, "check"])

    fails_with(check, "Query model: there is no ONNX export of the query model")
    manifest = publish(data, MINILM_NAME, default_model_path(), lambda p: p.write_bytes(b"g"))
    current = check()
    assert current.exit_code == 0, current.output
    assert f"ONNX export {manifest.onnx_file}, current, sha256 matches." in current.output
    (export_dir(data) / manifest.onnx_file).write_bytes(b"h")
    output = fails_with(check, "is damaged (its sha256 does not match)")
    assert "until `kb ingest` exports it again" in output
