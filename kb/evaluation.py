"""Retrieval evaluation: Recall@k and MRR over queries with known answer phrases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kb.errors import KBError
from kb.search import MODES
from kb.search import KnowledgeBase


@dataclass(frozen=True)
class EvalQuery:
    q: str
    any: tuple[str, ...]


@dataclass(frozen=True)
class ModeScores:
    mode: str
    recall: dict[int, float]
    mrr: float
    misses: tuple[str, ...]


def load_queries(path: Path) -> list[EvalQuery]:
    """Read `{"q": ..., "any": [...]}` lines; raises KBError naming a bad line."""
    queries = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KBError(f"Cannot read the queries file {path}: {exc.strerror}.") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(EvalQuery(row["q"], tuple(row["any"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise KBError(f"Line {number} of {path} is not a {{q, any}} JSON object.") from exc
    if not queries:
        raise KBError(f"{path} holds no queries.")
    return queries


def _squash(text: str) -> str:
    return "".join(text.lower().split())


def first_hit_rank(texts: list[str], phrases: tuple[str, ...]) -> int | None:
    """1-based rank of the first text containing any phrase (case- and space-insensitive)."""
    wanted = [_squash(p) for p in phrases]
    for rank, text in enumerate(texts, start=1):
        squashed = _squash(text)
        if any(p in squashed for p in wanted):
            return rank
    return None


def evaluate(
    kb: KnowledgeBase, queries: list[EvalQuery], k: int = 10, cutoffs=(1, 5, 10)
) -> list[ModeScores]:
    """Scores for each search mode, side by side."""
    results = []
    for mode in MODES:
        ranks = []
        misses = []
        for query in queries:
            hits = kb.search(query.q, k=k, mode=mode)
            rank = first_hit_rank([h.passage.text for h in hits], query.any)
            ranks.append(rank)
            if rank != 1:
                misses.append(f"{query.q} (rank {rank or '-'})")
        n = len(queries)
        recall = {c: sum(1 for r in ranks if r is not None and r <= c) / n for c in cutoffs}
        mrr = sum(1 / r for r in ranks if r is not None) / n
        results.append(ModeScores(mode, recall, mrr, tuple(misses)))
    return results


def format_table(scores: list[ModeScores]) -> str:
    """A Markdown table of the scores."""
    cutoffs = sorted(scores[0].recall)
    head = "| mode | " + " | ".join(f"Recall@{c}" for c in cutoffs) + " | MRR |"
    rule = "|---" * (len(cutoffs) + 2) + "|"
    rows = [
        f"| {s.mode} | " + " | ".join(f"{s.recall[c]:.3f}" for c in cutoffs) + f" | {s.mrr:.3f} |"
        for s in scores
    ]
    return "\n".join([head, rule, *rows])
