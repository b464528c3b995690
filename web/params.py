"""Reading search parameters from a query string, shared by the search page and the API.

Every bad value becomes a QueryError whose message names the parameter, so that both the page
and the API can answer 400 with a sentence a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from kb.catalog import KINDS
from kb.errors import QueryError
from kb.models import SearchFilters
from kb.query import is_blank
from kb.search import MODES

# Bounds on repeated filters, so that a crafted URL cannot make a huge SQL IN (...) list.
MAX_FILTER_VALUES = 50
MAX_FILTER_CHARS = 100
_YEAR = re.compile(r"^\d{4}$")


def search_parameters(config: dict) -> list[dict]:
    """The OpenAPI description of what `parse_search` accepts, with the app's limits."""
    year = {"type": "integer", "minimum": 1000, "maximum": 9999}
    return [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "The question or words to search for.",
            "schema": {"type": "string", "minLength": 1, "maxLength": config["MAX_QUERY_CHARS"]},
        },
        {
            "name": "k",
            "in": "query",
            "description": "How many passages to return.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": config["MAX_K"],
                "default": config.get("DEFAULT_K", 10),
            },
        },
        _repeatable("kind", "Only documents of this kind.", enum=KINDS),
        _repeatable("tag", "Only documents with this tag."),
        _repeatable("doc", "Only this document id."),
        {"name": "year_from", "in": "query", "description": "Earliest year.", "schema": year},
        {"name": "year_to", "in": "query", "description": "Latest year.", "schema": year},
        {
            "name": "mode",
            "in": "query",
            "description": "Ranking: both fused (hybrid), meaning only, or words only.",
            "schema": {"type": "string", "enum": list(MODES), "default": "hybrid"},
        },
    ]


def _repeatable(name: str, description: str, enum: tuple[str, ...] = ()) -> dict:
    items = {"type": "string", "enum": list(enum)} if enum else {}
    return {
        "name": name,
        "in": "query",
        "description": description + " Repeat the parameter for several values (any of them).",
        "schema": {
            "type": "array",
            "items": items or {"type": "string", "maxLength": MAX_FILTER_CHARS},
            "maxItems": MAX_FILTER_VALUES,
        },
        "style": "form",
        "explode": True,
    }


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: the query (may be empty on the page), k, mode and filters."""

    query: str
    k: int
    mode: str
    filters: SearchFilters


def parse_search(
    args: MultiDict,
    *,
    max_chars: int,
    max_k: int,
    default_k: int = 10,
    require_query: bool = True,
) -> SearchRequest:
    """Validate the search parameters of a request.

    Args:
        args: the query string (q, k, mode, kind, tag, doc, year_from, year_to).
        max_chars: the longest query accepted.
        max_k: the largest k accepted.
        default_k: k when the parameter is absent.
        require_query: raise for an empty q (the API); the page shows the form instead.

    Returns:
        The request, ready for `KnowledgeBase.search`.

    Raises:
        QueryError: a parameter is missing or invalid; the message names it.
    """
    return SearchRequest(
        query=_query(args.get("q", ""), max_chars, require_query),
        k=_k(args.get("k"), max_k, default_k),
        mode=_mode(args.get("mode")),
        filters=parse_filters(args),
    )


def parse_filters(args: MultiDict) -> SearchFilters:
    """The kind/tag/doc (repeatable) and year_from/year_to filters of a request."""
    year_from = _year(args, "year_from")
    year_to = _year(args, "year_to")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise QueryError(f"Parameter 'year_from' ({year_from}) is after 'year_to' ({year_to}).")
    return SearchFilters(
        kinds=_values(args, "kind"),
        tags=_values(args, "tag"),
        documents=_values(args, "doc"),
        year_from=year_from,
        year_to=year_to,
    )


def _query(raw: str, max_chars: int, required: bool) -> str:
    query = raw.strip()
    if is_blank(query):
        if required:
            raise QueryError("Parameter 'q' is empty; give some words to search for.")
        query = ""
    if len(query) > max_chars:
        raise QueryError(
            f"Parameter 'q' is {len(query)} characters long; the limit is {max_chars}."
        )
    return query


def _k(raw: str | None, max_k: int, default: int) -> int:
    if raw is None or raw.strip() == "":
        return min(default, max_k)
    try:
        k = int(raw)
    except ValueError:
        raise QueryError(
            f"Parameter 'k' must be a whole number from 1 to {max_k}, not {raw[:20]!r}."
        ) from None
    if not 1 <= k <= max_k:
        raise QueryError(f"Parameter 'k' must be from 1 to {max_k}, not {k}.")
    return k


def _mode(raw: str | None) -> str:
    if raw is None or raw == "":
        return "hybrid"
    if raw not in MODES:
        raise QueryError(f"Parameter 'mode' must be one of {', '.join(MODES)}, not {raw[:20]!r}.")
    return raw


def _year(args: MultiDict, name: str) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not _YEAR.match(raw):
        raise QueryError(f"Parameter '{name}' must be a year such as 2012, not {raw[:20]!r}.")
    return int(raw)


def _values(args: MultiDict, name: str) -> tuple[str, ...]:
    values = [v.strip() for v in args.getlist(name) if v.strip()]
    if len(values) > MAX_FILTER_VALUES:
        raise QueryError(f"Parameter '{name}' is repeated more than {MAX_FILTER_VALUES} times.")
    for value in values:
        if len(value) > MAX_FILTER_CHARS:
            raise QueryError(
                f"Parameter '{name}' has a value longer than {MAX_FILTER_CHARS} characters."
            )
    # Keep the order given, drop repeats.
    return tuple(dict.fromkeys(values))
