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
    return [Span(start, end, "term") for start, end, _ in _matches(text, _wanted(terms))]


def best_sentence(text: str, terms: list[str]) -> tuple[int, int] | None:
    """The sentence holding the most distinct query terms (rarer, longer words count more)."""
    wanted = _wanted(terms)
    return _best_sentence(text, _matches(text, wanted), wanted)


def highlight(text: str, terms: list[str]) -> list[Span]:
    """The best sentence (if any word matches) followed by the matched terms."""
    wanted = _wanted(terms)
    matches = _matches(text, wanted)
    spans: list[Span] = []
    sentence = _best_sentence(text, matches, wanted)
    if sentence:
        spans.append(Span(sentence[0], sentence[1], "sentence"))
    spans.extend(Span(start, end, "term") for start, end, _ in matches)
    return spans


def _wanted(terms: list[str]) -> dict[str, int]:
    """Each query term's stem, with the term's length (the last term of a stem wins)."""
    return {_stem(t): len(t) for t in terms}


def _matches(text: str, wanted: dict[str, int]) -> list[tuple[int, int, str]]:
    """(start, end, stem) of each word of text whose stem is wanted, in order."""
    found = []
    for m in _WORD.finditer(text):
        stem = _stem(m.group())
        if stem in wanted:
            found.append((m.start(), m.end(), stem))
    return found


def _best_sentence(
    text: str, matches: list[tuple[int, int, str]], wanted: dict[str, int]
) -> tuple[int, int] | None:
    """The best sentence given the text's matched words: each sentence scores the distinct
    stems of the words inside it. Words never cross a sentence's edges (sentences end at
    punctuation or a line break), so the matches of the whole text, split by sentence, are
    the sentence's own; a text with none has no best sentence, and is not split at all."""
    if not matches:
        return None
    best, best_score = None, 0.0
    position = 0
    for start, end in sentence_spans(text):
        while position < len(matches) and matches[position][0] < start:
            position += 1
        found = set()
        while position < len(matches) and matches[position][0] < end:
            found.add(matches[position][2])
            position += 1
        # Longer words are usually the informative ones; a small length prior breaks ties.
        score = sum(min(wanted[w], 8) for w in found) - (end - start) / 10_000
        if score > best_score:
            best, best_score = (start, end), score
    return best
