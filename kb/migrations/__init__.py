"""Numbered schema migrations, applied when a store opens.

Each schema change is one plain-SQL file, `<dialect>/NNNN_name.sql`, applied once, in number
order, inside its own write transaction, and recorded in `schema_migrations` in that same
transaction: a crash leaves a migration either wholly applied and recorded or not at all.
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


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def pending(conn: sqlite3.Connection, dialect: str = "sqlite") -> list[Migration]:
    """Migrations not yet applied; refuses a database written by a newer version of kb."""
    known = migrations(dialect)
    done = applied_versions(conn)
    unknown = done - {m.version for m in known}
    if unknown:
        raise StoreError(
            f"This database has schema migration {max(unknown):04d}, which this version of kb "
            f"does not know (it was written by a newer version); upgrade kb before using it."
        )
    return [m for m in known if m.version not in done]


def apply(conn: sqlite3.Connection, dialect: str = "sqlite") -> list[Migration]:
    """Apply every pending migration, each in its own IMMEDIATE transaction.

    Reading what is applied takes no write lock, so opening an up-to-date database never waits
    for another process's write. Another process may apply the same migration at the same time:
    the check is repeated inside the write transaction, so each is applied exactly once.

    Returns:
        The migrations this call applied.
    """
    done = []
    for migration in pending(conn, dialect):
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_LEDGER)
            if migration.version in applied_versions(conn):
                conn.execute("COMMIT")
                continue
            for statement in statements(migration.sql):
                conn.execute(statement)
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
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done.append(migration)
    return done


def current_version(conn: sqlite3.Connection) -> int:
    return max(applied_versions(conn), default=0)
