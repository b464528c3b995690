"""A per-client rate limit on /api/search: an in-process token bucket of our own.

Each client (by remote address) has a bucket holding up to N tokens that refills at N per
period, so "60/minute" allows a burst of 60 searches and then one a second. A search takes a
token; with none left the API answers 429 `{"error", "status"}` with Retry-After in seconds.

The buckets live in this process's memory: each worker process of a server counts on its own,
and a restart forgets them. Behind a reverse proxy every client has the proxy's address unless
the proxy's forwarded address is applied first (werkzeug's ProxyFix); see docs/widget.md.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask import current_app
from flask import request

from web.errors import error_response

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.I)
# Past this many clients, buckets that have refilled completely are dropped (they hold nothing a
# new bucket would not).
_SWEEP_AT = 10_000


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period` seconds, and the text it was configured as."""

    limit: int
    period: float
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.limit} per {self.period:g} seconds"


def parse_rate(text: str | None) -> Rate | None:
    """A rate such as "60/minute", "10 per 30 seconds" or "1000/day".

    Args:
        text: the configured rate; None, "" or "off" turn the limit off.

    Returns:
        The rate, or None for no limit.

    Raises:
        ValueError: the text is not a rate (a configuration mistake: fail at start-up).
    """
    if text is None or str(text).strip().lower() in ("", "off", "none", "0"):
        return None
    match = _RATE.match(str(text))
    if not match:
        raise ValueError(
            f"SEARCH_RATE_LIMIT must look like '60/minute' or '10 per 30 seconds', not {text!r}."
        )
    count, multiple, unit = match.groups()
    limit = int(count)
    if limit < 1:
        raise ValueError(f"SEARCH_RATE_LIMIT must allow at least one request, not {text!r}.")
    return Rate(limit, int(multiple or 1) * _PERIODS[unit.lower()], str(text).strip())


class TokenBucketLimiter:
    """Thread-safe token buckets keyed by client; O(1) memory and time per client.

    Args:
        rate: the allowance per client.
        clock: seconds from a monotonic clock (tests pass their own).
    """

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._per_second = rate.limit / rate.period
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated at)
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Take a token for `key`.

        Returns:
            0.0 when the request may go ahead, otherwise the seconds until a token is free.
        """
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > _SWEEP_AT:
                    self._sweep(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._per_second

    def _tokens(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.get(key, (float(self.rate.limit), now))
        return min(float(self.rate.limit), tokens + (now - updated) * self._per_second)

    def _sweep(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.rate.limit]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


LIMITED_ENDPOINTS = frozenset({"api.search"})


def init_app(app: Flask) -> None:
    """Limit the search API per remote address as configured by SEARCH_RATE_LIMIT."""
    rate = parse_rate(app.config.get("SEARCH_RATE_LIMIT"))
    if rate is None:
        return
    limiter = TokenBucketLimiter(rate)
    app.extensions["search_rate_limiter"] = limiter

    @app.before_request
    def limit_searches():
        if request.endpoint not in LIMITED_ENDPOINTS or request.method not in ("GET", "HEAD"):
            return None
        wait = limiter.hit(request.remote_addr or "unknown")
        if not wait:
            return None
        seconds = max(1, math.ceil(wait))
        current_app.logger.info("Rate limit reached by %s", request.remote_addr)
        message = (
            f"Too many searches from your address (the limit is {limiter.rate}); "
            f"try again in {seconds} s."
        )
        return error_response(message, 429, {"Retry-After": str(seconds)})
