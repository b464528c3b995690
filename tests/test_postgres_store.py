"""The PostgreSQL store's own parts: its migrations beside SQLite's, the connection wrapper that
runs SQLite-style SQL, transactions, and what a person sees when the server is not there. The
behaviour both stores share is tested on both (tests marked `both_backends`)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from click.testing import CliRunner
from conftest import both_backends

from kb import migrations
from kb.errors import StoreError
from kb.errors import StoreUnavailable
from kb.store import SqliteStore
from kb.store.postgres import PostgresStore
from kb.store.postgres import adapt_placeholders
from kb_cli.main import cli

# The PostgreSQL baseline (0001) stands for SQLite's 0001-0004 and 0006 (0005, the word-piece
# vectors, landed after it); every other number is one schema change written once per database.
IN_BASELINE = {1, 2, 3, 4, 6}


def test_every_migration_after_the_baseline_has_a_twin_for_the_other_database():
    sqlite = {(m.version, m.name) for m in migrations.migrations("sqlite")}
    postgres = {(m.version, m.name) for m in migrations.migrations("postgres")}
    assert min(postgres)[0] == 1
    later_sqlite = {m for m in sqlite if m[0] not in IN_BASELINE}
    later_postgres = {m for m in postgres if m[0] > 1}
    assert later_sqlite == later_postgres, (
        "a migration not in the PostgreSQL baseline must be written for both databases, with "
        "the same number and name (kb/migrations/sqlite/ and kb/migrations/postgres/)"
    )
    assert not {m for m in postgres if m[0] in IN_BASELINE - {1}}


def test_placeholders_are_adapted_outside_quotes_and_percent_signs_doubled():
    sql = "SELECT '?', \"a?\", x FROM t WHERE a = ? AND b LIKE '5%' AND c = ?"
    assert adapt_placeholders(sql) == (
        "SELECT '?', \"a?\", x FROM t WHERE a = %s AND b LIKE '5%%' AND c = %s"
    )


def test_an_unreachable_server_is_one_sentence_naming_it_without_the_password():
    url = "postgresql://kb:secret-word@127.0.0.1:1/kb"
    with pytest.raises(StoreUnavailable) as raised:
        PostgresStore(url, connect_timeout=2)
    message = str(raised.value)
    assert "127.0.0.1:1/kb cannot be reached" in message
    assert "secret-word" not in message and "\n" not in message


def test_the_cli_says_so_when_the_server_is_unreachable(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(tmp_path), "--database-url", "postgresql://kb@127.0.0.1:1/kb", "list"],
    )
    assert result.exit_code == 1
    assert "cannot be reached" in result.output and "Traceback" not in result.output


def test_a_database_url_that_is_not_postgresql_is_refused(tmp_path):
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "--database-url", "mysql://kb@host/kb", "list"]
    )
    assert result.exit_code == 1 and "must be a PostgreSQL address" in result.output


# -- on a server --------------------------------------------------------------------------------


def _columns_sqlite(path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as conn:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith(("passages_fts", "sqlite_"))
        ]
        return {t: {row[1] for row in conn.execute(f"PRAGMA table_info({t})")} for t in tables}


def _columns_postgres(store: PostgresStore) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    rows = store.connection().execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public'"
    )
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


@pytest.mark.postgres
def test_both_databases_have_the_same_tables_and_columns(tmp_path, postgres_database):
    sqlite = _columns_sqlite(SqliteStore(tmp_path / "kb.sqlite3").path)
    store = PostgresStore(postgres_database)
    try:
        postgres = _columns_postgres(store)
    finally:
        store.close()
    postgres["passages"].discard("search_vector")  # SQLite's keyword index is passages_fts
    assert postgres == sqlite


@pytest.mark.postgres
def test_kb_migrate_on_postgresql_says_its_version(tmp_path, postgres_database):
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "--database-url", postgres_database, "migrate"]
    )
    assert result.exit_code == 0, result.output
    shipped = migrations.migrations("postgres")[-1].version
    assert f"Schema version {shipped} of PostgreSQL at" in result.output


@both_backends
def test_a_nested_transaction_that_fails_is_undone_alone(store):
    with store.side_transaction() as conn:
        conn.execute(
            "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?)", ("a", 1, 0)
        )
        with pytest.raises(ZeroDivisionError), store.side_transaction() as inner:
            inner.execute(
                "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?)", ("b", 1, 0)
            )
            1 / 0  # noqa: B018
    keys = [r[0] for r in store.connection().execute("SELECT key FROM rate_buckets ORDER BY key")]
    assert keys == ["a"]


@both_backends
def test_a_failed_transaction_leaves_the_store_usable(store):
    with pytest.raises(StoreError), store.side_transaction() as conn:
        conn.execute("INSERT INTO no_such_table VALUES (?)", (1,))
    assert store.connection().execute("SELECT COUNT(*) FROM rate_buckets").fetchone()[0] == 0


@both_backends
def test_side_writers_take_turns_so_a_read_then_write_is_atomic(store):
    """Eight threads each read a counter and write it plus one, twenty times: no update is
    lost, as with SQLite's BEGIN IMMEDIATE."""
    with store.side_transaction() as conn:
        conn.execute("INSERT INTO rate_buckets VALUES (?, ?, ?)", ("n", 0, 0))

    def bump():
        for _ in range(20):
            with store.side_transaction() as conn:
                value = conn.execute("SELECT tokens FROM rate_buckets WHERE key = 'n'").fetchone()
                conn.execute("UPDATE rate_buckets SET tokens = ? WHERE key = 'n'", (value[0] + 1,))

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.connection().execute("SELECT tokens FROM rate_buckets").fetchone()[0] == 160


@both_backends
def test_a_writer_waiting_past_its_timeout_gets_a_sentence(store):
    holding, release = threading.Event(), threading.Event()

    def hold():
        with store.side_transaction():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(StoreError, match="busy with another writer"):
            with store.side_transaction(busy_timeout=0.2):
                pass
    finally:
        release.set()
        thread.join()


@pytest.mark.postgres
def test_a_change_is_announced_on_commit(postgres_database, embedder):
    import psycopg
    from conftest import build_corpus

    from kb.store.postgres import GENERATION_CHANNEL

    store = PostgresStore(postgres_database)
    listener = psycopg.connect(postgres_database, autocommit=True)
    try:
        listener.execute(f"LISTEN {GENERATION_CHANNEL}")
        build_corpus(store, embedder)
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=4)]
        assert payloads and payloads[-1] == str(store.generation())
    finally:
        listener.close()
        store.close()


@pytest.mark.postgres
def test_waiting_for_a_change_listens_instead_of_polling(postgres_database, embedder):
    """A server's reload thread waits on LISTEN: woken by another process's commit, having
    read the generation only before and after (the polling default reads it every 0.2 s)."""
    from conftest import build_corpus

    waiting, writer = PostgresStore(postgres_database), PostgresStore(postgres_database)
    reads = []
    generation = waiting.generation

    def counted_generation():
        reads.append(1)
        return generation()

    waiting.generation = counted_generation
    seen = []
    thread = threading.Thread(target=lambda: seen.append(waiting.wait_for_change(0, 60)))
    try:
        thread.start()
        threading.Event().wait(1.5)  # the waiter is listening by now
        build_corpus(writer, embedder)
        thread.join(60)
        assert seen and seen[0] >= 1
        assert len(reads) <= 2, reads
    finally:
        waiting.close()
        writer.close()


@pytest.mark.postgres
def test_the_commands_work_on_postgresql(tmp_path, postgres_database):
    """kb ingest, list, user, check, search and remove against PostgreSQL, the data folder
    holding only caches."""

    def kb(*args, stdin=None):
        result = CliRunner().invoke(
            cli,
            ["--data-dir", str(tmp_path / "cache"), "--database-url", postgres_database]
            + ["--embedder", "hashing", *args],
            input=stdin,
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "added" in kb("ingest")
    listing = kb("list")
    assert "front-line-starts-here" in listing
    kb("user", "add", "ada", "--password-stdin", stdin="a long enough password\n")
    assert "ada" in kb("user", "list")
    assert kb("check").startswith("OK:")
    assert "Tayside" in kb("search", "Tayside Contracts")
    kb("remove", "front-line-starts-here")
    assert "front-line-starts-here" not in kb("list")
    assert not list((tmp_path / "cache").glob("*.sqlite3"))  # nothing went to SQLite
