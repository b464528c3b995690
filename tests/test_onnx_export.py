"""The ONNX export's files (fast, no model): written atomically, checked by hash before use,
stale when the model changes, and safe when two processes publish at once."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from kb.onnx_export import ExportUnusable
from kb.onnx_export import export_dir
from kb.onnx_export import load_usable
from kb.onnx_export import manifest_path
from kb.onnx_export import publish
from kb.onnx_export import read_manifest

NAME = "sentence-transformers/all-MiniLM-L6-v2"


def fake_model(folder: Path) -> Path:
    """A model folder with the files whose bytes key an export."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    return folder


def write_bytes(payload: bytes):
    def write(path: Path) -> None:
        path.write_bytes(payload)

    return write


def test_published_export_is_found_and_verified(tmp_path):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    manifest = publish(data, NAME, model, write_bytes(b"graph one"))
    found, path = load_usable(data, NAME, model)
    assert found == manifest
    assert path.read_bytes() == b"graph one"
    assert manifest.max_seq_length == 256
    assert not [p for p in export_dir(data).iterdir() if p.name.startswith(".tmp-")]


def test_missing_export_is_unusable(tmp_path):
    with pytest.raises(ExportUnusable, match="no ONNX export"):
        load_usable(tmp_path / "data", NAME, fake_model(tmp_path / "model"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_damaged_export_is_never_returned(tmp_path, damage):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    manifest = publish(data, NAME, model, write_bytes(os.urandom(10_000)))
    graph = export_dir(data) / manifest.onnx_file
    payload = graph.read_bytes()
    if damage == "truncate":
        graph.write_bytes(payload[:5_000])
    elif damage == "flip":  # same size, one byte changed
        graph.write_bytes(payload[:100] + bytes([payload[100] ^ 1]) + payload[101:])
    else:
        graph.unlink()
    with pytest.raises(ExportUnusable, match="damaged|cannot be read"):
        load_usable(data, NAME, model)


def test_changed_model_makes_the_export_stale(tmp_path):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    publish(data, NAME, model, write_bytes(b"graph"))
    (model / "model.safetensors").write_bytes(os.urandom(4096))
    with pytest.raises(ExportUnusable, match="stale"):
        load_usable(data, NAME, model)


def test_same_model_files_touched_are_still_fresh(tmp_path):
    """A reinstall that rewrites identical files changes their times, not their hash."""
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    publish(data, NAME, model, write_bytes(b"graph"))
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes())
    os.utime(weights, ns=(1, 1))
    load_usable(data, NAME, model)


def test_unreadable_manifest_is_unusable(tmp_path):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    publish(data, NAME, model, write_bytes(b"graph"))
    manifest_path(data, NAME).write_text('{"model_name": ')
    with pytest.raises(ExportUnusable, match="unreadable"):
        load_usable(data, NAME, model)


def _publish_many(data: str, model: str, seed: int, rounds: int) -> None:
    for round_ in range(rounds):
        # Different bytes from each process and round, written in pieces, so the writes of
        # two processes really interleave.
        payload = bytes([seed]) * 200_000 + round_.to_bytes(4, "little")

        def write(path: Path, payload=payload) -> None:
            with path.open("wb") as handle:
                for start in range(0, len(payload), 4096):
                    handle.write(payload[start : start + 4096])
                    handle.flush()

        publish(Path(data), NAME, Path(model), write)


def test_two_processes_publishing_at_once_do_not_corrupt_each_other(tmp_path):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "data"
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_publish_many, args=(str(data), str(model), seed, 15))
        for seed in (1, 2)
    ]
    for writer in writers:
        writer.start()
    seen_damage = []
    checks = 0
    while any(w.is_alive() for w in writers):
        try:
            load_usable(data, NAME, model)
            checks += 1
        except ExportUnusable as exc:
            if "no ONNX export" not in str(exc):
                seen_damage.append(str(exc))
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert not seen_damage, seen_damage[:3]
    manifest, path = load_usable(data, NAME, model)
    assert path.read_bytes()[0] in (1, 2)
    assert manifest == read_manifest(data, NAME)
    assert not [p for p in export_dir(data).iterdir() if p.name.startswith(".tmp-")]
