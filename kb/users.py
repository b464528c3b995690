"""Researcher accounts, and the record of failed logins that limits password guessing.

Both tables live in the knowledge base's database, beside the documents (created by the
migrations in kb/migrations/), so every server process sharing a data folder sees the same
accounts and counts the same failures. Passwords are stored only as salted hashes
(werkzeug.security, scrypt by default).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from kb.errors import AccountError
from kb.errors import NotFound
from kb.store import Store
from kb.store.base import Connection

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 10
# Hashing a megabyte of "password" on every attempt would be a cheap denial of service.
MAX_PASSWORD_CHARS = 1024

# Account names are case-blind: "Ada" logs in to, and cannot be created beside, "ada". Both
# databases compare lower() (names are ASCII, NAME_PATTERN), so they agree on what is the same.
_BY_NAME = "{} WHERE lower(name) = lower(?)"

_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _spend_a_hash(password: str) -> None:
    """Check the password against a throwaway hash, so an unknown name takes as long to refuse
    as a wrong password (the time taken must not tell which names exist)."""
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = generate_password_hash("not anyone's password")
    check_password_hash(_dummy_hash, password)


@dataclass(frozen=True)
class User:
    """An account. `id` is never reused (migration 0002): sessions belong to it, not the name."""

    id: int
    name: str
    created_at: str


class Users:
    """The researcher accounts in a store's database.

    Args:
        store: the knowledge base's store; the tables are created on its connection.
        hash_method: werkzeug's method for new hashes (default scrypt); tests pass a cheap
            one. Checking works whatever method a stored hash names.
    """

    def __init__(self, store: Store, hash_method: str | None = None) -> None:
        self.store = store
        self._hash_options = {"method": hash_method} if hash_method else {}

    def add(self, name: str, password: str) -> User:
        """Create an account.

        Raises:
            AccountError: the name is not usable, already taken, or the password is too short.
        """
        check_name(name)
        check_password(password)
        created_at = _now()
        password_hash = generate_password_hash(password, **self._hash_options)
        with self.store.side_transaction() as conn:
            # Names are unique whatever their case (a unique index on each database): a taken
            # name inserts nothing and returns no id, without a driver's error.
            added = conn.execute(
                "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (name, password_hash, created_at),
            ).fetchall()
        if not added:
            raise AccountError(f"There is already an account named {name!r}.")
        return User(added[0][0], name, created_at)

    def remove(self, name: str) -> None:
        """Delete an account and, with it, every session it has (kb.sessions)."""
        with self.store.side_transaction() as conn:
            removed = conn.execute(_BY_NAME.format("DELETE FROM users"), (name,)).rowcount
        if removed == 0:
            raise NotFound(f"There is no account named {name!r}.")

    def get(self, name: str) -> User | None:
        sql = _BY_NAME.format("SELECT id, name, created_at FROM users")
        row = self.store.connection().execute(sql, (name,)).fetchone()
        return User(*row) if row else None

    def list_users(self) -> list[User]:
        rows = self.store.connection().execute(
            "SELECT id, name, created_at FROM users ORDER BY lower(name), name"
        )
        return [User(*row) for row in rows]

    def authenticate(self, name: str, password: str) -> User | None:
        """The account when the password is right, else None (for any reason: same time)."""
        row = None
        if NAME_PATTERN.match(name or "") and len(password) <= MAX_PASSWORD_CHARS:
            sql = _BY_NAME.format("SELECT id, name, created_at, password_hash FROM users")
            row = self.store.connection().execute(sql, (name,)).fetchone()
        if row is None:
            _spend_a_hash(password[:MAX_PASSWORD_CHARS])
            return None
        return User(*row[:3]) if check_password_hash(row[3], password) else None


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(
            f"The account name {name!r} must be 1 to 64 letters, digits, dots, hyphens, "
            f"underscores or @, starting with a letter or digit."
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_CHARS} characters long.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"The password must be at most {MAX_PASSWORD_CHARS} characters long.")


@dataclass(frozen=True)
class Attempt:
    """A login attempt the throttle has let through, reserved as a failure until it succeeds.

    Attributes:
        rows: the login_failures rows reserved for it (deleted when the login succeeds).
        keys: (address key, account key, address-and-account key).
    """

    rows: tuple[int, ...]
    keys: tuple[str, str, str]


class LoginThrottle:
    """Limits password guessing: `limit` failed logins in any `period` seconds.

    Two limits, both counted in the shared database (so they hold across server processes and
    restarts; rows older than the period are deleted as new attempts come in):

    - per client address, for any account: an address that has failed `limit` times waits;
    - per account, but only for addresses that have themselves failed for that account in the
      period. A stranger's failures cannot lock the owner out: the right password from an
      address that has not failed is still checked. A guesser spreading over many addresses
      gets `limit` guesses, then one more per fresh address (and each address is held to
      `limit` for all accounts). docs/reliability.md explains the choice.

    `attempt` decides and reserves in one write transaction (Store.side_transaction): the attempt is
    recorded as a failure *before* the password is checked, and `succeeded` takes it back. So
    requests arriving together, in any number of threads or processes, cannot all read "under
    the limit" before any of them records a failure; at most `limit` passwords are checked.

    Args:
        store: the knowledge base's store.
        limit: failures allowed in any window of `period` seconds.
        period: the window, in seconds.
        clock: wall-clock seconds (shared by processes); tests pass their own.
    """

    def __init__(
        self, store: Store, limit: int, period: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.limit = limit
        self.period = period
        self._clock = clock

    @staticmethod
    def keys(address: str, account: str) -> tuple[str, str, str]:
        """The counted keys of a login from `address` to `account` (names are case-blind)."""
        account = account.lower()
        return f"address:{address}", f"account:{account}", f"account:{account}|address:{address}"

    def attempt(self, address: str, account: str) -> Attempt | float:
        """Let a login be tried, or say how long to wait.

        Returns:
            An Attempt (reserved as a failure; call `succeeded` if the password is right), or
            the seconds to wait before this address may try this account again.
        """
        keys = self.keys(address, account)
        now = self._clock()
        with self.store.side_transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - self.period,))
            wait = self._wait(conn, keys[0], now)
            if self._count(conn, keys[2], now):  # this address has failed for this account
                wait = max(wait, self._wait(conn, keys[1], now))
            if wait > 0:
                return wait
            rows = tuple(
                conn.execute(
                    "INSERT INTO login_failures (key, at) VALUES (?, ?) RETURNING id", (key, now)
                ).fetchall()[0][0]
                for key in keys
            )
        return Attempt(rows, keys)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: take back the reservation and forget the account's failures
        (the owner has shown they know it)."""
        with self.store.side_transaction() as conn:
            conn.executemany(
                "DELETE FROM login_failures WHERE id = ?", [(row,) for row in attempt.rows]
            )
            conn.executemany(
                "DELETE FROM login_failures WHERE key = ?", [(k,) for k in attempt.keys[1:]]
            )

    def _count(self, conn: Connection, key: str, now: float) -> int:
        sql = "SELECT COUNT(*) FROM login_failures WHERE key = ? AND at > ?"
        return conn.execute(sql, (key, now - self.period)).fetchone()[0]

    def _wait(self, conn: Connection, key: str, now: float) -> float:
        """Seconds until `key` is under the limit again (0: it is)."""
        row = conn.execute(
            "SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at DESC "
            "LIMIT 1 OFFSET ?",
            (key, now - self.period, self.limit - 1),
        ).fetchone()
        # The window frees up when the limit-th most recent failure leaves it.
        return 0.0 if row is None else max(0.0, row[0] + self.period - now)
