"""Researchers' logins, kept on the server so that they can be ended.

A login is a random token (256 bits) handed to the browser; the database keeps only its
SHA-256, the account's number and when the login ends. A request's token opens the session
only while its row exists and has not expired, so:

- logging out deletes the row: a copy of the cookie saved before is worth nothing, also after
  a restart;
- removing an account deletes its rows (ON DELETE CASCADE on users.id);
- accounts are numbered without reuse, so an account re-created under a removed one's name is
  a different account, and no old token names it.

The table is created by migration 0002 (kb/migrations/sqlite/).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from kb.store import Store

TOKEN_BYTES = 32


@dataclass(frozen=True)
class Session:
    """A live login: the account's number and name, and when the login ends (epoch seconds)."""

    user_id: int
    user_name: str
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Sessions:
    """The sessions table of a store.

    Args:
        store: the knowledge base's store.
        clock: wall-clock seconds (shared by processes); tests pass their own.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    def start(self, user_id: int, lifetime: float) -> str:
        """A new session for the account, lasting `lifetime` seconds; returns its token (for
        the cookie; it is not stored). Expired sessions of every account are deleted."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        with self.store.side_transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (_hash(token), user_id, now, now + lifetime),
            )
        return token

    def find(self, token: str) -> Session | None:
        """The session a token opens; None when it was ended, has expired or never existed."""
        if not token or not isinstance(token, str):
            return None
        row = (
            self.store.connection()
            .execute(
                "SELECT s.user_id, u.name, s.expires_at FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
                (_hash(token),),
            )
            .fetchone()
        )
        if row is None or row[2] <= self._clock():
            return None
        return Session(*row)

    def end(self, token: str) -> None:
        """Delete the session (logging out); a token that opens nothing is ignored."""
        if token and isinstance(token, str):
            with self.store.side_transaction() as conn:
                conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))

    def end_all(self, user_id: int) -> int:
        """Delete every session of an account; returns how many there were."""
        with self.store.side_transaction() as conn:
            return conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount

    def expire(self, token: str, at: float) -> None:
        """Make a session end at `at` (epoch seconds); for tests and for shortening a login."""
        with self.store.side_transaction() as conn:
            conn.execute(
                "UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (at, _hash(token))
            )
