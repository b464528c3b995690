"""Ingest on OpenVINO (the setting ingest_runtime, marked `model`): passages and their word
pieces in bfloat16 where the CPU computes it, sentence texts in float32 on onnxruntime, and
the same `kb eval` figures as an ingest all on onnxruntime."""

from __future__ import annotations

import logging
import shutil
import sqlite3

import numpy as np
import pytest
from conftest import EVAL_QUERY_FILES
from conftest import ingest_catalog

from kb import onnx_embedder
from kb.evaluation import evaluate
from kb.evaluation import load_queries
from kb.factory import make_model_embedder
from kb.index import VectorIndex
from kb.onnx_embedder import ExportedMiniLM
from kb.onnx_embedder import OnnxEmbedder
from kb.onnx_export import ensure_export
from kb.onnx_export import export_dir
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb.store import SqliteStore

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm):
    data = tmp_path_factory.mktemp("export")
    assert ensure_export(data, minilm) == "exported"
    return data


def _ingest(tmp_path_factory, exported, runtime: str):
    """The default corpus ingested as `kb ingest` does, with ingest_runtime = runtime."""
    data = tmp_path_factory.mktemp(runtime)
    shutil.copytree(export_dir(exported), export_dir(data))
    embedder = make_model_embedder(Settings(data_dir=data, ingest_runtime=runtime), ingest=True)
    store = SqliteStore(data / "kb.sqlite3")
    ingest_catalog(store, embedder, data / "files")
    VectorIndex(store, data / "index.faiss").ensure_fresh()
    store.close()
    return data, embedder


@pytest.fixture(scope="module")
def on_onnxruntime(tmp_path_factory, exported):
    return _ingest(tmp_path_factory, exported, "onnxruntime")


@pytest.fixture(scope="module")
def on_openvino(tmp_path_factory, exported):
    return _ingest(tmp_path_factory, exported, "openvino")


def _stored(data, sql: str) -> np.ndarray:
    with sqlite3.connect(data / "kb.sqlite3") as db:
        rows = db.execute(sql).fetchall()
    return np.vstack([np.frombuffer(row[0], dtype=np.float32) for row in rows])


def test_openvino_gives_the_model_of_records_vectors_and_pieces(exported, minilm):
    texts = [q.q for path in EVAL_QUERY_FILES if path.exists() for q in load_queries(path)]
    texts += ["shared services " * 300, "Clyde Valley " * 40]  # truncated alike
    openvino = OnnxEmbedder.from_export(
        exported, minilm.model_path(), threads=2, runtime="openvino"
    )
    exact = OnnxEmbedder.from_export(exported, minilm.model_path(), threads=2)
    vectors, pieces = openvino.embed_with_pieces(texts)
    assert (vectors * minilm.embed(texts)).sum(axis=1).min() >= 0.9999
    _, exact_pieces = exact.embed_with_pieces(texts)
    for (names, rows), (exact_names, exact_rows) in zip(pieces, exact_pieces, strict=True):
        assert names == exact_names
        assert (rows * exact_rows).sum(axis=1).min() >= 0.999


def test_passages_run_on_openvino_and_sentences_on_onnxruntime(on_onnxruntime, on_openvino):
    (exact_data, _), (data, embedder) = on_onnxruntime, on_openvino
    assert embedder._piece_impl is not None and embedder._piece_impl.runtime == "openvino"
    passages = "SELECT embedding FROM passages ORDER BY id"
    sentences = "SELECT embedding FROM sentence_vectors ORDER BY passage_id, sub"
    exact, fast = _stored(exact_data, passages), _stored(data, passages)
    assert exact.shape == fast.shape
    assert (exact * fast).sum(axis=1).min() >= 0.9999
    if embedder._piece_impl._model.precision == "bf16":
        assert not np.allclose(exact, fast, atol=1e-6)  # these did go through bfloat16
    assert np.allclose(_stored(exact_data, sentences), _stored(data, sentences), atol=1e-6)


@pytest.mark.parametrize("path", EVAL_QUERY_FILES, ids=lambda p: p.name)
def test_kb_eval_figures_are_the_same_as_on_onnxruntime(on_onnxruntime, on_openvino, path):
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared folder sits beside the project)")
    queries = load_queries(path)
    figures = []
    for data, _ in (on_onnxruntime, on_openvino):
        store = SqliteStore(data / "kb.sqlite3")
        kb = KnowledgeBase(store, ExportedMiniLM(data), data / "index.faiss")
        figures.append(
            {
                s.mode: [round(s.mrr, 3), *(round(s.recall[n], 3) for n in sorted(s.recall))]
                for s in evaluate(kb, queries, k=10)
            }
        )
        store.close()
    assert figures[0] == figures[1]


def test_a_runtime_that_cannot_run_here_falls_back_to_onnxruntime_loudly(
    tmp_path, exported, monkeypatch, caplog
):
    class Refusing:
        def __init__(self, graph, threads):
            raise RuntimeError("this CPU is not supported")

    monkeypatch.setitem(onnx_embedder.RUNTIMES, "openvino", Refusing)
    data = tmp_path / "data"
    shutil.copytree(export_dir(exported), export_dir(data))
    embedder = ExportedMiniLM(data, threads=2, piece_runtime="openvino")
    with caplog.at_level(logging.WARNING, logger="kb.onnx_embedder"):
        vectors, pieces = embedder.embed_with_pieces(["How much did Inverclyde save?"])
    assert "openvino cannot run the model here: this CPU is not supported" in caplog.text
    assert embedder.backend == "onnx" and embedder._piece_impl is None
    exact = OnnxEmbedder.from_export(data, embedder.model_of_record.model_path())
    assert np.allclose(vectors, exact.embed(["How much did Inverclyde save?"]), atol=1e-6)
    assert pieces[0][0][0] == "[CLS]"
