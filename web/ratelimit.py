"""One search rate limit per client address, on every request that runs a search.

The limit (SEARCH_RATE_LIMIT, "60/minute" by default) is counted in the shared database
(kb.ratelimit.TokenBuckets), so all server processes of a data folder share it. It is taken
where the work is: the KnowledgeBase calls `search_guard` before every search, so /api/search,
the search page, /embed, the myth pages and any route added later are all counted, and none can
be forgotten. A request pays once however many searches it runs: the search page runs two (the
results, and a wider one for the filter counts) for one question a person asked.

Refused: 429 with one sentence and Retry-After in seconds (JSON under /api, the error page
elsewhere). If the database stays locked by a writer (a large ingest) for longer than the
limiter waits (half a second), the search goes ahead uncounted rather than waiting: the limit
protects the service, so it must not be what stops it.

Behind a reverse proxy every client has the proxy's address unless the proxy's forwarded
address is applied first (werkzeug's ProxyFix); see docs/widget.md.
"""

from __future__ import annotations

import math

from flask import Flask
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request

from kb.errors import StoreError
from kb.ratelimit import TokenBuckets
from kb.ratelimit import parse_rate
from web.errors import error_response


class SearchRateLimited(Exception):
    """The client has used its searches; `wait` seconds until the next one."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


def init_app(app: Flask) -> None:
    """Limit searches per remote address as configured by SEARCH_RATE_LIMIT."""
    rate = parse_rate(app.config.get("SEARCH_RATE_LIMIT"))
    app.register_error_handler(SearchRateLimited, _refusal)
    if rate is None:
        return
    kb = app.extensions["kb"]
    app.extensions["search_rate_limiter"] = TokenBuckets(kb.store, rate, namespace="search")
    kb.search_guard = take_a_search


def take_a_search() -> None:
    """Count this request's first search against its client's limit (a no-op outside a
    request, and for an app without a limit).

    Raises:
        SearchRateLimited: no search is left for the client now.
    """
    if not has_request_context() or g.get("search_counted"):
        return
    limiter: TokenBuckets | None = current_app.extensions.get("search_rate_limiter")
    if limiter is None:
        return
    g.search_counted = True
    try:
        wait = limiter.hit(request.remote_addr or "unknown")
    except StoreError as exc:
        current_app.logger.warning("Search not counted: %s", exc)
        return
    if wait:
        current_app.logger.info("Search rate limit reached by %s", request.remote_addr)
        seconds = max(1, math.ceil(wait))
        message = (
            f"Too many searches from your address (the limit is {limiter.rate}); "
            f"try again in {seconds} s."
        )
        raise SearchRateLimited(message, seconds)


def _refusal(exc: SearchRateLimited):
    return error_response(str(exc), 429, {"Retry-After": str(math.ceil(exc.wait))})
