"""Turning any string a person types into a safe search request.

FTS5 has its own query language (quotes, AND/OR/NOT/NEAR, `*`, `-`, `:` and brackets); a user's
words are never passed through as syntax. We keep only word characters, quote each term and OR
them together, so any input is a valid FTS5 query and bm25 does the weighting.
"""

from __future__ import annotations

import re
import unicodedata

from kb.errors import QueryError

MAX_QUERY_CHARS = 2000

# Common English function words (a usual stop list, without "not"): in an OR query they add
# score to passages that share nothing but "more" or "one" with the question. Domain words like
# "office", "service" and "shared" are kept and weighted by bm25's idf instead.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor now of off on once one only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)

_TERM = re.compile(r"\w+", re.UNICODE)


def is_blank(text: str) -> bool:
    """Whether a query holds nothing to search for: only spaces, control characters and
    invisible format characters (a zero-width space, a direction mark, a stray NUL), which
    `str.strip` keeps and which would otherwise be searched as "no close match"."""
    return all(unicodedata.category(char)[0] in "CZ" for char in text)


def clean_query(text: str | None, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The query with outer space trimmed; raises QueryError for an empty or too-long one."""
    query = (text or "").strip()
    if is_blank(query):
        raise QueryError("The query is empty; type some words to search for.")
    if len(query) > max_chars:
        raise QueryError(f"The query is {len(query)} characters long; the limit is {max_chars}.")
    return query


def query_terms(text: str) -> list[str]:
    """The distinct lower-cased words of a query, stopwords dropped unless nothing else is left."""
    words = [w.lower() for w in _TERM.findall(text)]
    seen: dict[str, None] = {}
    for word in words:
        if word not in STOPWORDS and word != "_":
            seen.setdefault(word)
    if not seen:
        seen = dict.fromkeys(w for w in words if w != "_")
    return list(seen)


def fts_match(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression that ORs the quoted terms, or None when there are none."""
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
