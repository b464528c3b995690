"""Late interaction (MaxSim) as a second stage of hybrid search: what it would give, measured.

Written before the stage shipped (kb/late_interaction.py, docs/evaluation.md "Issue 15, third
pass"), to decide whether to build it; it does not read the stored piece vectors. It computes
them with the model's ONNX export (the same "title - section: text" the passage vector is made
from), adds
`weight x MaxSim(query, passage)` to the fused score of the best `--top` candidates of each
hybrid search (before the one-document cap and the same-words collapse, as a shipped stage
would), and prints Recall@1 / Recall@5 / MRR for each query file, the stage off and on, the
same counting as `kb eval`.

MaxSim: for each query word piece (not [CLS], [SEP], stop words or punctuation), its best
cosine with any of the passage's word pieces, averaged over the query's word pieces.

Run by hand, after `kb ingest` into --data-dir:
`.venv/bin/python bench/late_interaction.py FILE... [--weights 0.4 0.8] [--top 30]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.evaluation import first_hit_rank  # noqa: E402
from kb.evaluation import load_queries  # noqa: E402
from kb.factory import open_knowledge_base  # noqa: E402
from kb.onnx_embedder import OnnxEmbedder  # noqa: E402
from kb.query import STOPWORDS  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

SPECIAL = ("[CLS]", "[SEP]")


def token_vectors(onnx: OnnxEmbedder, text: str) -> tuple[list[str], np.ndarray]:
    """The text's word pieces and their unit vectors (the model's last layer), specials out."""
    encoding = onnx._tokenizer.encode(text)
    inputs = {
        "input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
    }
    tokens = onnx._model(inputs)
    vectors = tokens[0] / np.linalg.norm(tokens[0], axis=1, keepdims=True)
    keep = [i for i, piece in enumerate(encoding.tokens) if piece not in SPECIAL]
    return [encoding.tokens[i] for i in keep], vectors[keep]


def query_rows(pieces: list[str], vectors: np.ndarray) -> np.ndarray:
    """The query's content word pieces (all of them when nothing else is left)."""
    keep = [
        i
        for i, piece in enumerate(pieces)
        if piece.startswith("##") or (piece.isalnum() and piece not in STOPWORDS)
    ]
    return vectors[keep] if keep else vectors


class MaxSimStage:
    """The second stage, hooked in after the figure preference (hybrid search only)."""

    def __init__(self, onnx: OnnxEmbedder, passages: dict[int, np.ndarray]) -> None:
        self.onnx = onnx
        self.passages = passages
        self.weight = 0.0
        self.top = 30
        self._queries: dict[str, np.ndarray] = {}
        self.seconds: list[float] = []

    def query(self, text: str) -> np.ndarray:
        if text not in self._queries:
            self._queries[text] = query_rows(*token_vectors(self.onnx, text))
        return self._queries[text]

    def rerank(self, text: str, ranked: list) -> list:
        if not self.weight:
            return ranked
        rows = self.query(text)  # in a shipped stage, from the query's own embedding run
        start = time.perf_counter()
        head, tail = ranked[: self.top], ranked[self.top :]
        # One small product per passage: stacking them first copies megabytes per search.
        best = [float((rows @ self.passages[p.id].T).max(axis=1).mean()) for p, _ in head]
        scored = [(p, s + self.weight * float(m)) for (p, s), m in zip(head, best, strict=True)]
        scored.sort(key=lambda item: (-item[1], item[0].id))
        self.seconds.append(time.perf_counter() - start)
        return scored + tail


def scores(kb: KnowledgeBase, path: Path) -> tuple[float, float, float]:
    queries = [q for q in load_queries(path) if not q.none]
    ranks = []
    for query in queries:
        hits = kb.search(query.q, k=10)
        ranks.append(first_hit_rank([h.passage.text for h in hits], query.any))
    n = len(ranks)
    return (
        sum(1 for r in ranks if r == 1) / n,
        sum(1 for r in ranks if r and r <= 5) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.4, 0.8])
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    kb = open_knowledge_base(Settings(data_dir=args.data_dir, corpus_dir=ROOT / "corpus"))
    kb.warm_up()
    onnx = getattr(kb.embedder, "_impl", None)
    if not isinstance(onnx, OnnxEmbedder):
        sys.exit("This measures the real model through its ONNX export: run `kb ingest` first.")
    started = time.perf_counter()
    passages = {}
    for document in kb.store.list_documents():
        for passage in kb.store.passages_of(document.id):
            context = document.meta.title + (f" - {passage.section}" if passage.section else "")
            passages[passage.id] = token_vectors(onnx, f"{context}: {passage.text}")[1]
    count = sum(len(v) for v in passages.values())
    print(
        f"{len(passages)} passages, {count} word-piece vectors "
        f"({count * 384 * 2 / 1e6:.1f} MB as float16, {count * 384 / 1e6:.1f} MB as int8), "
        f"computed in {time.perf_counter() - started:.0f} s"
    )
    stage = MaxSimStage(onnx, passages)
    stage.top = args.top
    before = KnowledgeBase._prefer_figures

    def with_stage(self, query, ranked):
        return stage.rerank(query, before(self, query, ranked))

    KnowledgeBase._prefer_figures = with_stage
    for weight in [0.0, *args.weights]:
        stage.weight = weight
        stage.seconds.clear()
        line = [f"MaxSim weight {weight} (top {args.top})"]
        for path in args.files:
            r1, r5, mrr = scores(kb, path)
            line.append(f"{path.stem} {r1:.3f} / {r5:.3f} / {mrr:.3f}")
        if stage.seconds:
            line.append(f"stage median {1000 * float(np.median(stage.seconds)):.2f} ms")
        print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
