"""The ONNX query encoder against the model of record (marked `model`): the same vectors for
every evaluation query, the same `kb eval` figures, no torch in a searching process, a damaged
export bypassed and rebuilt, and two processes exporting at once."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import EVAL_QUERY_FILES
from conftest import ROOT
from conftest import ingest_catalog

from kb.embedder import MiniLMEmbedder
from kb.evaluation import evaluate
from kb.evaluation import load_queries
from kb.onnx_embedder import ExportedMiniLM
from kb.onnx_embedder import OnnxEmbedder
from kb.onnx_export import export_dir
from kb.onnx_export import load_usable
from kb.onnx_export import read_manifest
from kb.search import KnowledgeBase
from kb.search import SearchSettings
from kb.store import SqliteStore

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, minilm):
    """The default corpus ingested with the model of record, and the model exported, as
    `kb ingest` does."""
    from kb.index import VectorIndex
    from kb.onnx_export import ensure_export

    data = tmp_path_factory.mktemp("data")
    store = SqliteStore(data / "kb.sqlite3")
    ingest_catalog(store, minilm, data / "files")
    VectorIndex(store, data / "index.faiss").ensure_fresh()
    store.close()
    assert ensure_export(data, minilm) == "exported"
    assert ensure_export(data, minilm) == "fresh"
    return data


@pytest.fixture(scope="module")
def onnx(data_dir, minilm):
    return OnnxEmbedder.from_export(data_dir, minilm.model_path())


@pytest.fixture(scope="module")
def onnx_data_dir(tmp_path_factory, data_dir):
    """The default corpus ingested as `kb ingest` now does: through the ONNX export."""
    from kb.index import VectorIndex

    data = tmp_path_factory.mktemp("onnx-data")
    shutil.copytree(export_dir(data_dir), export_dir(data))
    embedder = ExportedMiniLM(data, threads=os.cpu_count() or 1, export_if_missing=True)
    store = SqliteStore(data / "kb.sqlite3")
    ingest_catalog(store, embedder, data / "files")
    assert embedder.backend == "onnx"
    VectorIndex(store, data / "index.faiss").ensure_fresh()
    store.close()
    return data


def _query_files():
    present = [path for path in EVAL_QUERY_FILES if path.exists()]
    assert present, "no evaluation query files"
    return present


def test_every_evaluation_query_gets_the_same_vector(onnx, minilm):
    queries = [q.q for path in _query_files() for q in load_queries(path)]
    one_by_one = np.vstack([onnx.embed([q]) for q in queries])
    batched = onnx.embed(queries)  # padded to the longest of a batch
    reference = minilm.embed(queries)
    assert (one_by_one * reference).sum(axis=1).min() >= 0.9999
    assert (batched * reference).sum(axis=1).min() >= 0.9999
    assert np.allclose(np.linalg.norm(one_by_one, axis=1), 1.0, atol=1e-5)


def test_texts_are_batched_by_word_pieces_so_little_padding_is_computed(data_dir, minilm):
    """Padding costs as much as a word piece: batches hold texts of the same number of word
    pieces, not of the same number of characters (figures, hyphens and rare words have many
    pieces to a character)."""
    texts = [
        "1,234 to 5,678 (2019-20)",  # 24 characters, many word pieces
        "services shared across councils",  # 31 characters, few word pieces
        "FTE-to-FTE, 12.5%: 7.1%",
        "the shared service centre",
        "savings",
        "back office payroll services",
    ]
    embedder = OnnxEmbedder.from_export(data_dir, minilm.model_path(), batch_size=2)
    shapes = []
    session = embedder._model.session

    class Recording:
        def run(self, outputs, inputs):
            shapes.append(inputs["input_ids"].shape)
            return session.run(outputs, inputs)

    embedder._model.session = Recording()
    vectors = embedder.embed(texts)

    tokenizer = embedder._tokenizer
    counts = sorted(sum(e.attention_mask) for e in tokenizer.encode_batch(texts))
    fewest = [(2, max(counts[start : start + 2])) for start in range(0, len(counts), 2)]
    assert sorted(shapes) == sorted(fewest)
    assert (vectors * minilm.embed(texts)).sum(axis=1).min() >= 0.9999


def test_texts_longer_than_the_model_takes_are_truncated_alike(onnx, minilm):
    texts = ["shared services " * 300, "savings", "Clyde Valley " * 40]
    assert (onnx.embed(texts) * minilm.embed(texts)).sum(axis=1).min() >= 0.9999


def test_ingest_through_onnx_stores_the_same_vectors(data_dir, onnx_data_dir):
    import sqlite3

    def vectors(data):
        with sqlite3.connect(data / "kb.sqlite3") as db:
            rows = db.execute("SELECT embedding FROM passages ORDER BY id").fetchall()
        return np.vstack([np.frombuffer(row[0], dtype=np.float32) for row in rows])

    reference, exported = vectors(data_dir), vectors(onnx_data_dir)
    assert reference.shape == exported.shape
    assert (reference * exported).sum(axis=1).min() >= 0.9999


def test_word_pieces_come_from_the_same_run_as_the_vectors(onnx):
    texts = ["How much did Inverclyde save?", "shared services " * 300, "savings"]
    vectors, pieces = onnx.embed_with_pieces(texts)
    assert np.array_equal(vectors, onnx.embed(texts))
    for names, rows in pieces:
        assert names[0] == "[CLS]" and names[-1] == "[SEP]"
        assert rows.shape == (len(names), 384) and len(names) <= 256
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert pieces[0][0][1:4] == ["how", "much", "did"]


def test_ingest_through_onnx_stores_each_passages_word_pieces(onnx_data_dir, onnx):
    from ingest.pipeline import embedding_text
    from kb.late_interaction import unpack

    store = SqliteStore(onnx_data_dir / "kb.sqlite3")
    passages = [p for d in store.list_documents() for p in store.passages_of(d.id)]
    stored = store.piece_vectors([p.id for p in passages])
    assert set(stored) == {p.id for p in passages}
    for passage in passages[::25]:
        document = store.get_document(passage.document_id)
        chunk = store.passages_by_id([passage.id])[passage.id]
        _, [(names, rows)] = onnx.embed_with_pieces([embedding_text(document.meta, chunk)])
        back = unpack(stored[passage.id], 384)
        assert back.shape == rows.shape
        assert (back * rows).sum(axis=1).min() >= 0.995  # int8 keeps each piece's direction
    store.close()


@pytest.mark.parametrize("path", EVAL_QUERY_FILES, ids=lambda p: p.name)
def test_kb_eval_figures_are_identical(data_dir, onnx_data_dir, onnx, minilm, path):
    """The same figures, to the third decimal, with the model of record throughout, with ONNX
    query vectors over its store, and with ONNX for ingest and queries alike (the vectors'
    figures: without the late-interaction stage, which needs the word pieces only the ONNX
    run stores)."""
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared folder sits beside the project)")
    queries = load_queries(path)
    figures = []
    for data, embedder in ((data_dir, minilm), (data_dir, onnx), (onnx_data_dir, onnx)):
        store = SqliteStore(data / "kb.sqlite3")
        kb = KnowledgeBase(store, embedder, data / "index.faiss", SearchSettings(late_weight=0.0))
        figures.append(
            {
                s.mode: [round(s.mrr, 3), *(round(s.recall[n], 3) for n in sorted(s.recall))]
                for s in evaluate(kb, queries, k=10)
            }
        )
        store.close()
    assert figures[0] == figures[1] == figures[2]


def _run(code: str, data_dir) -> dict:
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), "KB_CORPUS_DIR": str(ROOT / "corpus")}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


LOADED = (
    "print(json.dumps({m: m in sys.modules for m in "
    "('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'openvino')}))"
)


def test_kb_search_and_myths_in_a_fresh_process_never_import_torch(data_dir):
    loaded = _run(
        f"""
        import json, sys
        from kb.myths import load_myths
        from kb_cli.main import cli
        from kb.settings import Settings
        for args in (["search", "savings from back office sharing", "--json"],
                     ["myths", load_myths(Settings.load().myths_path)[0].id]):
            cli(args, standalone_mode=False)
        {LOADED}
        """,
        data_dir,
    )
    assert loaded == {
        "torch": False,
        "sentence_transformers": False,
        "transformers": False,
        "onnxruntime": True,
        "openvino": False,  # only a process that ingests loads it
    }


def test_kb_ingest_with_the_export_in_place_never_imports_torch(tmp_path, data_dir):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("files"))
    note = tmp_path / "staff-transfer-note.md"
    note.write_text("# Staff transfer\n\nThe council agreed to transfer payroll staff.\n")
    loaded = _run(
        f"""
        import json, sys
        from kb_cli.main import cli
        cli(["ingest", {str(note)!r}], standalone_mode=False)
        cli(["search", "payroll staff transfer"], standalone_mode=False)
        {LOADED}
        """,
        copy,
    )
    assert loaded["torch"] is False and loaded["sentence_transformers"] is False


def test_the_web_app_searches_without_torch(data_dir):
    loaded = _run(
        f"""
        import json, sys
        from web import create_app
        app = create_app({{"WARM_UP": True, "SEARCH_RATE_LIMIT": ""}})
        assert app.extensions["kb"].embedder.backend == "onnx"
        client = app.test_client()
        response = client.get("/api/search?q=duplicate+payments+Somerset")
        assert response.status_code == 200 and response.get_json()["results"], response.data
        assert client.get("/?q=Tayside+Contracts").status_code == 200
        {LOADED}
        """,
        data_dir,
    )
    assert loaded["torch"] is False and loaded["sentence_transformers"] is False
    assert loaded["openvino"] is False


def test_damaged_export_is_bypassed_loudly_then_rebuilt(tmp_path, data_dir, minilm, caplog):
    from kb.onnx_export import ensure_export

    copy = tmp_path / "data"
    shutil.copytree(export_dir(data_dir), export_dir(copy))
    graph = export_dir(copy) / read_manifest(copy, minilm.name).onnx_file
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])  # truncated

    encoder = ExportedMiniLM(copy)
    encoder.model_of_record = minilm  # the loaded model, not a second copy
    with caplog.at_level(logging.WARNING, logger="kb.onnx_embedder"):
        vector = encoder.embed(["savings from sharing"])
    assert encoder.backend == "sentence-transformers"
    assert "damaged" in caplog.text and "kb ingest" in caplog.text
    assert np.allclose(vector, minilm.embed(["savings from sharing"]))

    assert ensure_export(copy, minilm) == "exported"
    rebuilt = ExportedMiniLM(copy)
    rebuilt.load()
    assert rebuilt.backend == "onnx"


def test_two_processes_exporting_at_once_both_succeed(tmp_path):
    code = """
        import json, sys
        from pathlib import Path
        from kb.embedder import MiniLMEmbedder
        from kb.onnx_export import ensure_export
        print(json.dumps(ensure_export(Path(sys.argv[1]), MiniLMEmbedder())))
        """
    data = tmp_path / "data"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    # One exported; the other waited for it and found it fresh (or, had they raced past the
    # lock, exported too: either way the export left behind is whole).
    assert "exported" in results
    load_usable(data, MiniLMEmbedder.name, MiniLMEmbedder().model_path())
    assert not [p for p in export_dir(data).iterdir() if p.name.startswith(".tmp-")]
