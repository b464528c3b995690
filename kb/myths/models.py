"""Myths, their pinned quotes and evidence: the data, and the constants they share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field

from kb.models import Citation
from kb.models import Document
from kb.models import Passage
from kb.models import Span

# Cosine similarity (all-MiniLM-L6-v2) from which a query is taken to be about a myth, the myth's
# vector being the mean of its claim's and its queries' embeddings. Measured with
# bench/myth_threshold.py on 40 paraphrases of the ten claims and 30 unrelated queries on the
# same subject: paraphrases scored 0.315-0.850 (median 0.629) against their best myth, unrelated
# queries 0.108-0.506 (median 0.298); the own myth came first for 37 of 40. Thresholds above
# 0.465 and up to 0.483 make the fewest errors (9 of 70); 0.474 is the middle. At 0.474, 32 of 40
# paraphrases get their own myth, 1 a wrong one, 7 none; 29 of 30 unrelated get none.
MATCH_THRESHOLD = 0.474

PER_DOCUMENT = 3  # at most this many retrieved passages from one document, while others exist
QUOTE_SPAN_KIND = "quote"
_REQUIRED = ("id", "claim", "answer", "queries", "evidence")
_SENTENCE_END = re.compile(r"\w[.!?][\"'”’)]*(?:\s|$)")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


@dataclass(frozen=True)
class PinnedQuote:
    """A verbatim phrase from a document: evidence that answers a myth or, on the other side,
    what a supporter of the claim will reply (with `note`, our words on it, one sentence)."""

    document_id: str
    quote: str
    note: str = ""


@dataclass(frozen=True)
class Myth:
    """A claim the report challenges, our answer to it, and where the evidence is."""

    id: str
    claim: str
    answer: str
    queries: tuple[str, ...]
    evidence: tuple[PinnedQuote, ...]
    other_side: tuple[PinnedQuote, ...] = ()  # "What the other side will say"


@dataclass
class Evidence:
    """A passage that answers a myth, shaped like a search hit.

    Attributes:
        pinned: True for a passage holding a pinned quote, False for one found by search.
        quote: the pinned quote (the first, if the passage holds several); None when retrieved.
        highlights: spans into `passage.text`; kind "quote" marks each pinned quote, while
            retrieved passages carry the search's "sentence" and "term" spans.
        score: for retrieved passages, the search score from the query that ranked it best.
        note: on the other side's quotes, our one-sentence note on it (None elsewhere).
    """

    passage: Passage
    document: Document
    citation: Citation
    url: str
    pinned: bool
    quote: str | None = None
    highlights: list[Span] = field(default_factory=list)
    score: float | None = None
    note: str | None = None


# -- loading ----------------------------------------------------------------------------------
