"""Numbered migrations: applied once, in order, on open; old data folders upgrade in place."""

import sqlite3
import threading

import pytest

from kb import migrations
from kb.errors import StoreError
from kb.store import SqliteStore

# The schema of the first release, before numbered migrations: what an existing data folder has.
RELEASE_1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1'), ('generation', '7');
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, publisher TEXT NOT NULL, year INTEGER,
    kind TEXT NOT NULL, url TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '[]',
    file_path TEXT NOT NULL, sha256 TEXT NOT NULL, fingerprint TEXT NOT NULL, text TEXT NOT NULL,
    added_at TEXT NOT NULL
);
INSERT INTO documents VALUES ('old', 'Old report', 'APSE', 2012, 'report', '', '[]', 'f', 's',
    'fp', 'Some text.', '2026-01-01T00:00:00+00:00');
CREATE TABLE passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, page TEXT, section TEXT NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, token_count INTEGER NOT NULL,
    embedding BLOB NOT NULL, UNIQUE (document_id, ordinal)
);
CREATE TABLE users (name TEXT PRIMARY KEY COLLATE NOCASE, password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL);
INSERT INTO users VALUES ('ada', 'hash', '2026-01-01T00:00:00+00:00');
"""


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_new_store_records_every_migration(tmp_path):
    store = SqliteStore(tmp_path / "kb.sqlite3")
    conn = store.connection()
    assert migrations.current_version(conn) == migrations.migrations()[-1].version
    assert {"documents", "passages", "users", "jobs", "audit_log"} <= _tables(store.path)
    assert store.generation() == 0


def test_a_release_1_data_folder_is_upgraded_in_place_keeping_its_data(tmp_path):
    path = tmp_path / "kb.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(RELEASE_1_SCHEMA)
    store = SqliteStore(path)
    assert store.get_document("old").meta.title == "Old report"
    assert store.generation() == 7  # the caches' generation is not reset by upgrading
    assert {"sentence_vectors", "passages_fts", "jobs", "audit_log"} <= _tables(path)
    users = store.connection().execute("SELECT name FROM users").fetchall()
    assert users == [("ada",)]
    assert migrations.current_version(store.connection()) == migrations.migrations()[-1].version


def test_an_old_folder_s_documents_get_their_passage_counts(tmp_path):
    """Migration 0009 counts the passages a folder already holds, once."""
    path = tmp_path / "kb.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(RELEASE_1_SCHEMA)
        conn.executemany(
            "INSERT INTO passages (document_id, ordinal, text, section, char_start, char_end,"
            " token_count, embedding) VALUES ('old', ?, 'Some text.', '', 0, 10, 3, x'00')",
            [(0,), (1,)],
        )
    assert SqliteStore(path).get_document("old").passage_count == 2


def test_opening_an_up_to_date_store_writes_nothing(tmp_path):
    path = tmp_path / "kb.sqlite3"
    SqliteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        SqliteStore(path, busy_timeout=0.1).close()  # would raise "busy" if it tried to write
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_newer_schema_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "kb.sqlite3"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'then')")
    with pytest.raises(StoreError, match="written by a newer version"):
        SqliteStore(path)


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "kb.sqlite3"
    SqliteStore(path).close()
    shipped = migrations.migrations()
    broken = migrations.Migration(
        shipped[-1].version + 1, "broken", "CREATE TABLE half_done (x INTEGER);\nNOT SQL AT ALL;"
    )
    monkeypatch.setattr(migrations, "migrations", lambda dialect="sqlite": [*shipped, broken])
    with pytest.raises(StoreError, match="syntax error"):
        SqliteStore(path)
    assert "half_done" not in _tables(path)
    with sqlite3.connect(path) as conn:
        assert migrations.current_version(conn) == shipped[-1].version


def test_two_processes_opening_a_new_store_at_once_apply_each_migration_once(tmp_path):
    path = tmp_path / "kb.sqlite3"
    errors = []

    def open_store():
        try:
            SqliteStore(path).close()
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations.migrations()]


def test_statements_split_on_complete_statements_only():
    script = "-- a comment\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nINSERT INTO a VALUES ('1;2');\n"
    assert migrations.statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "INSERT INTO a VALUES ('1;2');",
    ]
    with pytest.raises(RuntimeError, match="incomplete statement"):
        migrations.statements("CREATE TABLE b (x")


def test_shipped_migrations_have_distinct_numbers_and_start_at_one():
    numbers = [m.version for m in migrations.migrations()]
    assert numbers[0] == 1 and len(set(numbers)) == len(numbers)


def test_a_migration_numbered_below_applied_ones_is_still_applied(tmp_path, monkeypatch):
    """Work developed side by side lands in any order: 0003 may arrive after 0004 is applied."""
    path = tmp_path / "kb.sqlite3"
    shipped = migrations.migrations()
    late = migrations.Migration(shipped[-1].version + 2, "later", "CREATE TABLE later (x);")
    early = migrations.Migration(shipped[-1].version + 1, "earlier", "CREATE TABLE earlier (x);")
    monkeypatch.setattr(migrations, "migrations", lambda dialect="sqlite": [*shipped, late])
    SqliteStore(path).close()
    monkeypatch.setattr(migrations, "migrations", lambda dialect="sqlite": [*shipped, early, late])
    SqliteStore(path).close()
    assert {"earlier", "later"} <= _tables(path)


def test_kb_migrate_upgrades_an_old_data_folder_and_says_its_version(tmp_path):
    from click.testing import CliRunner

    from kb_cli.main import cli

    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "kb.sqlite3") as conn:
        conn.executescript(RELEASE_1_SCHEMA)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "migrate"])
    assert result.exit_code == 0, result.output
    shipped = migrations.migrations()[-1].version
    assert f"Schema version {shipped}" in result.output
    assert "jobs" in _tables(tmp_path / "data" / "kb.sqlite3")


def test_kb_migrate_without_a_knowledge_base_says_so(tmp_path):
    from click.testing import CliRunner

    from kb_cli.main import cli

    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "none"), "migrate"])
    assert result.exit_code == 1
    assert "There is no knowledge base" in result.output


def _store_at(path, version: int, monkeypatch) -> None:
    """A database with the shipped migrations up to `version` applied, as an older kb left it."""
    shipped = migrations.migrations()
    with monkeypatch.context() as patch:
        patch.setattr(
            migrations,
            "migrations",
            lambda dialect="sqlite": [m for m in shipped if m.version <= version],
        )
        SqliteStore(path).close()


def test_a_0006_data_folder_keeps_its_audit_jobs_and_failed_logins_through_0007(
    tmp_path, monkeypatch
):
    """0007 renames the `user` columns (reserved in PostgreSQL) and numbers failed logins."""
    from kb.audit import AuditLog
    from kb.jobs import Jobs
    from kb.users import Attempt
    from kb.users import LoginThrottle

    path = tmp_path / "kb.sqlite3"
    _store_at(path, 6, monkeypatch)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO audit_log (at, user, action, document_id, title, detail)"
            " VALUES ('2026-01-01T00:00:00+00:00', 'ada', 'add', 'old', 'Old report', 'a.pdf')"
        )
        conn.execute(
            "INSERT INTO jobs (id, action, user, file_name, sha256, document_id, title, status,"
            " pid, host, created_at, updated_at) VALUES ('j1', 'add', 'ada', 'a.pdf', 's', 'old',"
            " 'Old report', 'done', 1, 'h', '2026-01-01T00:00:00', '2026-01-01T00:00:00')"
        )
        conn.executemany(
            "INSERT INTO login_failures VALUES (?, ?)",
            [("address:10.0.0.1", 1000.0), ("address:10.0.0.1", 1001.0)],
        )
    store = SqliteStore(path)
    assert migrations.current_version(store.connection()) == migrations.migrations()[-1].version
    [entry] = AuditLog(store).entries()
    assert (entry.user, entry.action, entry.document_id) == ("ada", "add", "old")
    assert Jobs(store).get("j1").user == "ada"
    ids = [r[0] for r in store.connection().execute("SELECT id FROM login_failures ORDER BY at")]
    assert ids == [1, 2]
    # The kept failures still count against the address, and new ones are numbered after them.
    throttle = LoginThrottle(store, limit=3, period=60, clock=lambda: 1010.0)
    attempt = throttle.attempt("10.0.0.1", "ada")
    assert min(attempt.rows) > 2
    assert throttle.attempt("10.0.0.1", "ada") > 0  # the third failure in the window
    throttle.succeeded(attempt)
    assert isinstance(throttle.attempt("10.0.0.1", "ada"), Attempt)


def test_every_migration_from_0007_on_is_written_for_both_databases():
    """From issue 14 on, a schema change is made on SQLite and PostgreSQL alike."""
    sqlite_numbers = {m.version for m in migrations.migrations("sqlite") if m.version >= 7}
    postgres_numbers = {m.version for m in migrations.migrations("postgres") if m.version >= 7}
    assert sqlite_numbers == postgres_numbers
    assert 7 in sqlite_numbers


def _schema(path) -> dict[str, list[tuple]]:
    """Every table's columns (name, type, not null, default, primary key) and its indexes."""
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'passages_fts_%'"
            )
        ]
        schema = {
            table: sorted(tuple(c[1:]) for c in conn.execute(f"PRAGMA table_info({table})"))
            for table in tables
        }
        schema["indexes"] = sorted(
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        )
    return schema


def test_an_upgraded_release_1_folder_has_the_schema_of_a_new_one(tmp_path):
    """Every migration applied to an old data folder gives the same tables, columns and
    indexes as a store made today, so code never meets a schema only old folders have."""
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as conn:
        conn.executescript(RELEASE_1_SCHEMA)
    SqliteStore(old).close()
    new = tmp_path / "new.sqlite3"
    SqliteStore(new).close()
    upgraded, fresh = _schema(old), _schema(new)
    assert upgraded.keys() == fresh.keys()
    for table in fresh:
        assert upgraded[table] == fresh[table], table


def test_sources_stored_before_0010_keep_their_author_with_no_note(tmp_path, monkeypatch):
    """0010 adds the note on how we read a source; the rows already stored are the entries as
    they were read then (the old form had no place for a note), untouched."""
    path = tmp_path / "kb.sqlite3"
    _store_at(path, 9, monkeypatch)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO documents (id, title, publisher, year, kind, url, tags, file_path,"
            " sha256, fingerprint, text, added_at) VALUES ('asl', 'Figures', 'SSEB', 2026,"
            " 'case-study', '', '[]', 'f', 's', 'fp', 'Text.', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO document_sources (document_id, position, key, who, year, title, url,"
            " read) VALUES ('asl', 0, 'cw', 'Computer Weekly', '2013', 'T', 'https://c.w/x',"
            " '2026-12-01')"
        )
    store = SqliteStore(path)
    [source] = store.get_document("asl").sources
    assert (source.who, source.read, source.note) == ("Computer Weekly", "2026-12-01", "")
