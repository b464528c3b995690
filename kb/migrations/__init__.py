"""Numbered schema migrations, applied when a store opens.

Each schema change is one plain-SQL file, `<dialect>/NNNN_name.sql` (dialect `sqlite` or
`postgres`; PostgreSQL's 0001 baseline stands for SQLite's 0001-0004 and 0006, and every
other number has a file in both), applied once, in number order, inside its own write
transaction, and recorded in `schema_migrations` in that same transaction: a crash leaves a
migration either wholly applied and recorded or not at all.
Adding a table or column is one new file; a data folder never has to be rebuilt for it.

Why not a library: yoyo-migrations 9.0 does the same with SQL files, but importing it took
1.1-1.25 s against 0.2 s for a bare interpreter here (five runs of `python -c "import yoyo"`,
a busy 2-core machine), a cost every `kb` command would pay on start; the runner below is all
that this project needs of it.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from importlib import resources

from kb.errors import StoreError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str = "sqlite") -> list[Migration]:
    """The migrations shipped for a dialect, in number order; a number is used once.

    Numbers may have gaps (work developed side by side lands in any order): a migration is
    applied when it is not yet recorded, whatever the numbers around it.
    """
    found = []
    for entry in resources.files(__package__).joinpath(dialect).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for before, after in zip(found, found[1:], strict=False):
        if before.version == after.version:
            raise RuntimeError(
                f"Two {dialect} migrations are numbered {after.version:04d}: "
                f"{before.name} and {after.name}."
            )
    return found


def statements(script: str) -> list[str]:
    """Split a SQL script into statements (executescript would commit the open transaction)."""
    result, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            stripped = _strip_comments(pending)
            if stripped:
                result.append(stripped)
            pending = ""
    if _strip_comments(pending):
        raise RuntimeError(f"A migration ends with an incomplete statement: {pending.strip()!r}")
    return result


def _strip_comments(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return "\n".join(lines).strip()


def dialect_of(conn) -> str:
    """ "sqlite" for a sqlite3 connection, else the dialect the connection names (PostgreSQL's
    connection wrapper, kb.store.postgres.PgConnection, says "postgres")."""
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    return conn.dialect


def applied_versions(conn) -> set[int]:
    if dialect_of(conn) == "sqlite":
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
    else:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def pending(conn, dialect: str | None = None) -> list[Migration]:
    """Migrations not yet applied; refuses a database written by a newer version of kb."""
    known = migrations(dialect or dialect_of(conn))
    done = applied_versions(conn)
    unknown = done - {m.version for m in known}
    if unknown:
        raise StoreError(
            f"This database has schema migration {max(unknown):04d}, which this version of kb "
            f"does not know (it was written by a newer version); upgrade kb before using it."
        )
    return [m for m in known if m.version not in done]


# PostgreSQL: the transaction-scoped advisory lock that migrating processes take in turn (any
# fixed number; other locks of kb use other numbers, kb/store/postgres.py).
MIGRATION_LOCK = 7_140_001


def apply(conn, dialect: str | None = None) -> list[Migration]:
    """Apply every pending migration, each in its own write transaction.

    On SQLite the transaction is IMMEDIATE (it takes the write lock first); on PostgreSQL it
    takes an advisory lock first, so two processes opening a new database migrate in turn.

    Reading what is applied takes no write lock, so opening an up-to-date database never waits
    for another process's write. Another process may apply the same migration at the same time:
    the check is repeated inside the write transaction, so each is applied exactly once.

    Args:
        conn: a sqlite3 connection (autocommit: isolation_level None) or PostgreSQL's
            connection wrapper in autocommit mode.

    Returns:
        The migrations this call applied.
    """
    dialect = dialect or dialect_of(conn)
    done = []
    for migration in pending(conn, dialect):
        if dialect == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn.execute("BEGIN")
        try:
            if dialect != "sqlite":
                conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            conn.execute(_LEDGER)
            if migration.version in applied_versions(conn):
                conn.execute("COMMIT")
                continue
            if dialect == "sqlite":
                for statement in statements(migration.sql):
                    conn.execute(statement)
            else:
                # One script in one round trip: PostgreSQL runs several statements sent
                # without parameters, and nothing here splits a function body at its `;`.
                conn.execute_script(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (
                    migration.version,
                    migration.name,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            _roll_back(conn)
            raise
        done.append(migration)
    return done


def _roll_back(conn) -> None:
    if isinstance(conn, sqlite3.Connection):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    else:
        conn.roll_back()


def current_version(conn) -> int:
    return max(applied_versions(conn), default=0)
