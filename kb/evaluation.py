"""Retrieval evaluation: Recall@k and MRR over queries with known answer phrases, and how often
the "no close match" flag is right.

A query file holds one JSON object a line: `{"q": ..., "any": [phrases]}` for a question the
corpus answers (optionally `"doc"`: the document it is about), or `{"q": ..., "none": true}` for
one it cannot answer (off-topic), which counts only towards the flag rates.
"""

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
    any: tuple[str, ...] = ()
    none: bool = False  # off-topic: nothing in the corpus answers it
    doc: str | None = None


@dataclass(frozen=True)
class ModeScores:
    mode: str
    recall: dict[int, float]
    mrr: float
    misses: tuple[str, ...]


@dataclass(frozen=True)
class FlagRates:
    """How the default search's `match` level falls on answerable and off-topic queries."""

    answerable: int
    off_topic: int
    answerable_none: float  # answerable queries wrongly flagged "none" (want <= 2%)
    answerable_weak: float
    off_topic_none: float  # off-topic queries rightly flagged "none" (want >= 90%)
    wrong: tuple[str, ...]


def load_queries(path: Path) -> list[EvalQuery]:
    """Read the query lines; raises KBError naming a bad line."""
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
            if row.get("none") is True:
                queries.append(EvalQuery(row["q"], none=True))
            else:
                phrases = row["any"]
                if isinstance(phrases, str) or not phrases:
                    raise TypeError("any must be a non-empty list")
                queries.append(EvalQuery(row["q"], tuple(phrases), doc=row.get("doc")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KBError(
                f'Line {number} of {path} is neither {{"q", "any"}} nor {{"q", "none": true}}.'
            ) from exc
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
    """Scores for each search mode, side by side, over the answerable queries."""
    answerable = [q for q in queries if not q.none]
    results = []
    for mode in MODES:
        ranks = []
        misses = []
        for query in answerable:
            hits = kb.search(query.q, k=k, mode=mode)
            rank = first_hit_rank([h.passage.text for h in hits], query.any)
            ranks.append(rank)
            if rank != 1:
                misses.append(f"{query.q} (rank {rank or '-'})")
        n = max(len(answerable), 1)
        recall = {c: sum(1 for r in ranks if r is not None and r <= c) / n for c in cutoffs}
        mrr = sum(1 / r for r in ranks if r is not None) / n
        results.append(ModeScores(mode, recall, mrr, tuple(misses)))
    return results


def flag_rates(kb: KnowledgeBase, queries: list[EvalQuery]) -> FlagRates:
    """How often the default search says "none" for off-topic and for answerable queries."""
    levels = {"answerable": [], "off_topic": []}
    wrong = []
    for query in queries:
        match = kb.find(query.q, k=5).match
        levels["off_topic" if query.none else "answerable"].append(match)
        if (match == "none") != query.none:
            wrong.append(f"{query.q} ({match})")
    answerable, off_topic = levels["answerable"], levels["off_topic"]

    def share(items: list[str], level: str) -> float:
        return sum(1 for m in items if m == level) / len(items) if items else 0.0

    return FlagRates(
        answerable=len(answerable),
        off_topic=len(off_topic),
        answerable_none=share(answerable, "none"),
        answerable_weak=share(answerable, "weak"),
        off_topic_none=share(off_topic, "none"),
        wrong=tuple(wrong),
    )


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


def format_flags(rates: FlagRates) -> str:
    """One line on the "no close match" flag."""
    parts = [
        f'answerable flagged "none": {rates.answerable_none:.1%} of {rates.answerable}'
        f' ("weak": {rates.answerable_weak:.1%})'
    ]
    if rates.off_topic:
        parts.append(f'off-topic flagged "none": {rates.off_topic_none:.1%} of {rates.off_topic}')
    return "; ".join(parts)
