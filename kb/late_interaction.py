"""Late interaction (MaxSim): how well a passage's word pieces cover a query's, piece by piece.

The model's last layer gives one vector per word piece before pooling. For each content piece
of the query (not [CLS], [SEP], a stop word or punctuation), its best cosine with any piece of
the passage; MaxSim is their mean. Hybrid search adds `late_weight` x MaxSim to the fused score
of its best `late_top` candidates (kb.search; measured in docs/evaluation.md, "Issue 15, third
pass").

Piece vectors are stored as int8 with one float32 scale per piece (a quarter of float32's size;
the evaluation figures are the same as with float32), about 50 KB a passage: a store keeps them
only while it holds at most `late_interaction_up_to` passages (kb.settings), since at 1,000,000
passages they would take about 50 GB. A search whose candidates lack them skips the stage.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np

from kb.query import STOPWORDS

SPECIAL_PIECES = frozenset({"[CLS]", "[SEP]", "[PAD]"})
#: Passages up to which a store keeps word-piece vectors (about 1 GB of them at this size).
DEFAULT_LATE_INTERACTION_UP_TO = 20_000
#: An embedder's run giving each text's vector and its (word pieces, unit piece vectors).
PieceEmbedding = Callable[[Sequence[str]], tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]]
#: The most bytes of candidates' piece vectors a search process keeps read (kb.search).
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


def kept_at(passages: int, up_to: int) -> bool:
    """Whether a store of this many passages keeps word-piece vectors and searches with them
    (up_to: the setting late_interaction_up_to; 0 turns late interaction off)."""
    return 0 < up_to and passages <= up_to


def content_rows(pieces: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """The rows of a query's content pieces: word pieces that are not special, stop words or
    punctuation (a continuation piece, "##...", always counts); all non-special rows when
    nothing else is left."""
    kept = [i for i, piece in enumerate(pieces) if piece not in SPECIAL_PIECES]
    content = [
        i
        for i in kept
        if pieces[i].startswith("##") or (pieces[i].isalnum() and pieces[i] not in STOPWORDS)
    ]
    return vectors[content or kept]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def pack(vectors: np.ndarray) -> bytes:
    """Unit piece vectors (n x d) as bytes: n float32 scales, then n x d int8."""
    vectors = unit_rows(vectors)
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12).astype(np.float32)
    quantised = np.round(vectors / scales[:, None] * 127).astype(np.int8)
    return scales.tobytes() + quantised.tobytes()


def packed(blob: bytes, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """The (int8 pieces, float32 factors) that `pack` stored, without copying: piece i is
    pieces[i] x factors[i]."""
    count = len(blob) // (4 + dimension)
    if count * (4 + dimension) != len(blob):
        raise ValueError(f"{len(blob)} bytes are not whole pieces of dimension {dimension}")
    scales = np.frombuffer(blob, dtype=np.float32, count=count)
    quantised = np.frombuffer(blob, dtype=np.int8, offset=4 * count).reshape(count, dimension)
    return quantised, scales / np.float32(127)


def unpack(blob: bytes, dimension: int) -> np.ndarray:
    """The float32 piece vectors that `pack` stored."""
    quantised, factors = packed(blob, dimension)
    return quantised.astype(np.float32) * factors[:, None]


def maxsim(query_rows: np.ndarray, passages: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """MaxSim of the query's content rows against each passage's packed pieces (`packed`); 0
    for a passage with none.

    One small product per passage, on one BLAS thread (measured in docs/evaluation.md, "Issue
    15, third pass"): a passage's pieces as float32 (about 200 KB) stay in the CPU's cache,
    where all candidates' side by side (6 MB) would not; and a product this small gains nothing
    from more threads, whose hand-offs wait on FAISS's OpenMP threads after a search."""
    scores = np.zeros(len(passages), dtype=np.float32)
    query = np.asarray(query_rows, dtype=np.float32)
    if len(query) == 0:
        return scores
    with _one_blas_thread():
        for i, (pieces, factors) in enumerate(passages):
            if len(pieces):
                cosines = (query @ pieces.astype(np.float32).T) * factors
                scores[i] = cosines.max(axis=1).mean()
    return scores


_controller = None


def _one_blas_thread():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


class PieceCache:
    """Candidates' packed piece vectors as read from the store, kept by passage id (least
    recently used out first, at most `max_bytes`), so a search reads only the candidates it
    has not seen. Emptied whenever the store's generation changes (a document replaced,
    removed, or a database restored), so nothing kept can be stale.

    Args:
        read: the store's reader (Store.piece_vectors).
        max_bytes: the most bytes kept.
    """

    def __init__(self, read: Callable[[Sequence[int]], dict[int, bytes]], max_bytes: int) -> None:
        self._read = read
        self._max_bytes = max_bytes
        self._kept: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._generation: int | None = None
        self._lock = threading.Lock()

    def get(
        self, ids: Sequence[int], generation: int, dimension: int
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The packed pieces of those passages that have them."""
        found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        with self._lock:
            if generation != self._generation:
                self._kept.clear()
                self._bytes = 0
                self._generation = generation
            for pid in ids:
                entry = self._kept.get(pid)
                if entry is not None:
                    self._kept.move_to_end(pid)
                    found[pid] = entry
        missing = [pid for pid in ids if pid not in found]
        if not missing:
            return found
        read = {pid: packed(blob, dimension) for pid, blob in self._read(missing).items()}
        found.update(read)
        with self._lock:
            if generation != self._generation:
                return found  # the store changed meanwhile: keep nothing read before it
            for pid, entry in read.items():
                if pid not in self._kept:
                    self._kept[pid] = entry
                    self._bytes += entry[0].nbytes + entry[1].nbytes
            while self._bytes > self._max_bytes and self._kept:
                _, (pieces, factors) = self._kept.popitem(last=False)
                self._bytes -= pieces.nbytes + factors.nbytes
        return found
