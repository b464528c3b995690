"""Rates such as "60/minute", and token buckets kept in the shared database.

A bucket per key (a client address) holds up to `limit` tokens and refills at `limit` per
`period`, so "60/minute" allows a burst of 60 and then one a second. The buckets are rows of
`rate_buckets` (migration 0002), read and written in one write transaction, so every server
process sharing the data folder counts against the same buckets and a restart forgets nothing.

Why not flask-limiter: its storage backends (the `limits` library: memory, Redis, Memcached,
MongoDB) either count per process or need a server we do not run; docs/reliability.md has the
comparison.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from kb.store import Store

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.I)
# Buckets untouched for a whole period are full again (a new bucket is the same), so they are
# deleted; one hit in this many looks for them.
_SWEEP_EVERY = 200


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period` seconds, and the text it was configured as."""

    limit: int
    period: float
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.limit} per {self.period:g} seconds"


def parse_rate(text: str | None, setting: str = "SEARCH_RATE_LIMIT") -> Rate | None:
    """A rate such as "60/minute", "10 per 30 seconds" or "1000/day".

    Args:
        text: the configured rate; None, "" or "off" turn the limit off.
        setting: the setting's name, for the error message.

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
            f"{setting} must look like '60/minute' or '10 per 30 seconds', not {text!r}."
        )
    count, multiple, unit = match.groups()
    limit = int(count)
    if limit < 1:
        raise ValueError(f"{setting} must allow at least one request, not {text!r}.")
    return Rate(limit, int(multiple or 1) * _PERIODS[unit.lower()], str(text).strip())


class TokenBuckets:
    """Token buckets per key in the store's database, shared by every process.

    Args:
        store: the knowledge base's store.
        rate: the allowance per key.
        namespace: what is limited ("search"); keys are stored as "<namespace>:<key>".
        busy_timeout: seconds a hit waits for another process's write (an ingest) before
            giving up with StoreError; short, because a search should not wait on an ingest.
        clock: wall-clock seconds (shared by processes); tests pass their own.
    """

    def __init__(
        self,
        store: Store,
        rate: Rate,
        namespace: str = "search",
        busy_timeout: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rate = rate
        self.namespace = namespace
        self.busy_timeout = busy_timeout
        self._clock = clock
        self._per_second = rate.limit / rate.period
        self._hits = 0

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens from `key`'s bucket.

        Returns:
            0.0 when the request may go ahead (the tokens are taken), otherwise the seconds
            until enough tokens are back (nothing is taken).

        Raises:
            StoreError: the database stayed locked by another writer past busy_timeout.
        """
        now = self._clock()
        key = f"{self.namespace}:{key}"
        self._hits += 1
        with self.store.side_transaction(busy_timeout=self.busy_timeout) as conn:
            row = conn.execute(
                "SELECT tokens, updated_at FROM rate_buckets WHERE key = ?", (key,)
            ).fetchone()
            tokens = float(self.rate.limit)
            if row is not None:
                tokens = min(tokens, row[0] + max(0.0, now - row[1]) * self._per_second)
            wait = 0.0 if tokens >= cost else (cost - tokens) / self._per_second
            if not wait:
                tokens -= cost
            conn.execute(
                "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                "updated_at = excluded.updated_at",
                (key, tokens, now),
            )
            if self._hits % _SWEEP_EVERY == 0:
                conn.execute(
                    "DELETE FROM rate_buckets WHERE key >= ? AND key < ? AND updated_at < ?",
                    (f"{self.namespace}:", f"{self.namespace};", now - self.rate.period),
                )
        return wait

    def __len__(self) -> int:
        """How many buckets are kept (for this namespace)."""
        sql = "SELECT COUNT(*) FROM rate_buckets WHERE key >= ? AND key < ?"
        bounds = (f"{self.namespace}:", f"{self.namespace};")
        return self.store.connection().execute(sql, bounds).fetchone()[0]
