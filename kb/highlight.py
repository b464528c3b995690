"""Highlight spans: where in a passage the query's words are, and its best sentence."""

from __future__ import annotations

import re
from functools import lru_cache

from kb.models import Span

# A sentence ends at . ! or ? followed by space and a capital, digit, quote or bullet; this keeps
# "1.8%", "e.g. the" and "s4.47" inside their sentences.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(£$A-Z0-9-])|\n+")
_WORD = re.compile(r"\w+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text, trimmed of surrounding space."""
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        piece = text[s:e]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((s + left, s + right))
    return trimmed


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A crude stem so that "savings" matches "saving" and "shared" matches "sharing".
    Cached: highlighting stems every word of every hit (a third of a search's time at 100,000
    passages before, docs/performance.md)."""
    word = word.lower()
    for suffix in ("ings", "ing", "ies", "ied", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def term_spans(text: str, terms: list[str]) -> list[Span]:
    """Spans of the words in text that match a query term (by crude stem)."""
    wanted = {_stem(t) for t in terms}
    return [
        Span(m.start(), m.end(), "term") for m in _WORD.finditer(text) if _stem(m.group()) in wanted
    ]


def best_sentence(text: str, terms: list[str]) -> tuple[int, int] | None:
    """The sentence holding the most distinct query terms (rarer, longer words count more)."""
    wanted = {_stem(t): len(t) for t in terms}
    best, best_score = None, 0.0
    for start, end in sentence_spans(text):
        found = {_stem(w) for w in _WORD.findall(text[start:end])} & wanted.keys()
        # Longer words are usually the informative ones; a small length prior breaks ties.
        score = sum(min(wanted[w], 8) for w in found) - (end - start) / 10_000
        if score > best_score:
            best, best_score = (start, end), score
    return best


def highlight(text: str, terms: list[str]) -> list[Span]:
    """The best sentence (if any word matches) followed by the matched terms."""
    spans: list[Span] = []
    sentence = best_sentence(text, terms)
    if sentence:
        spans.append(Span(sentence[0], sentence[1], "sentence"))
    spans.extend(term_spans(text, terms))
    return spans
