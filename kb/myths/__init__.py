"""The myths "The front line starts here" challenges, each with an answer and cited evidence.

`corpus/myths.toml` pins quotes (verbatim phrases) to documents; a pinned quote must sit inside
one stored passage, so a changed document or splitter that breaks it is caught by `kb ingest` and
`kb check`. The evidence for a myth is its pinned passages first, then the best passages its
search queries find. A search query can be matched to the nearest myth by embedding similarity.
"""

from __future__ import annotations

from kb.myths.book import MythBook
from kb.myths.book import match_myth
from kb.myths.book import myth_texts
from kb.myths.book import myth_vectors
from kb.myths.evidence import evidence_to_dict
from kb.myths.evidence import myth_evidence
from kb.myths.evidence import myth_to_dict
from kb.myths.evidence import other_side_evidence
from kb.myths.evidence import other_side_to_dict
from kb.myths.evidence import pinned_evidence
from kb.myths.evidence import retrieved_evidence
from kb.myths.models import MATCH_THRESHOLD
from kb.myths.models import PER_DOCUMENT
from kb.myths.models import QUOTE_SPAN_KIND
from kb.myths.models import Evidence
from kb.myths.models import Myth
from kb.myths.models import PinnedQuote
from kb.myths.quotes import check_pinned
from kb.myths.quotes import check_quotes
from kb.myths.quotes import contains_quote
from kb.myths.quotes import load_myths
from kb.myths.quotes import quote_span
from kb.myths.quotes import resolve_quote

__all__ = [
    "MATCH_THRESHOLD",
    "PER_DOCUMENT",
    "QUOTE_SPAN_KIND",
    "PinnedQuote",
    "Myth",
    "Evidence",
    "load_myths",
    "contains_quote",
    "quote_span",
    "resolve_quote",
    "check_pinned",
    "check_quotes",
    "myth_evidence",
    "pinned_evidence",
    "other_side_evidence",
    "other_side_to_dict",
    "retrieved_evidence",
    "myth_to_dict",
    "evidence_to_dict",
    "myth_texts",
    "MythBook",
    "myth_vectors",
    "match_myth",
]
