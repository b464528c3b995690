"""The query embedder the product runs, for the benchmarks that time real queries.

Searching processes (`kb search`, `kb myths`, `kb serve`) embed queries with the model's ONNX
export in the data folder, run by onnxruntime on one thread (kb.factory.make_model_embedder). A
benchmark that timed sentence-transformers instead would measure code that no longer runs, so
this refuses the torch fallback rather than timing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def query_embedder(data_dir: Path):
    """The loaded query embedder for data_dir; exits if its ONNX export is missing, stale or
    damaged (then `kb ingest` exports it)."""
    from kb.factory import make_model_embedder
    from kb.settings import Settings

    embedder = make_model_embedder(Settings(data_dir=data_dir, corpus_dir=ROOT / "corpus"))
    embedder.load()
    if embedder.backend != "onnx":
        sys.exit(f"No usable ONNX export in {data_dir}: run `kb --data-dir {data_dir} ingest`.")
    return embedder
