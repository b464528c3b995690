"""The shared store: a PostgreSQL server, for a knowledge base served from many machines.

Documents, passages and every vector (bytea holding the same float32 bytes as SQLite's BLOBs)
live in tables; keyword search is a `tsvector` column on passages with a GIN index, ranked by
`ts_rank` times each term's idf (keyword_search_sql). See kb.store.base for what every store
does. Connections come from a psycopg pool: a statement outside a transaction borrows one for
itself (autocommit); a transaction or snapshot holds one for the thread until it ends. Each
committed change to documents is announced on GENERATION_CHANNEL (NOTIFY).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from psycopg_pool import PoolClosed
from psycopg_pool import PoolTimeout

from kb import migrations
from kb.errors import NotFound
from kb.errors import StoreError
from kb.errors import StoreUnavailable
from kb.models import Document
from kb.models import Passage
from kb.models import SearchFilters
from kb.store.base import NO_FILTERS
from kb.store.base import PASSAGE_COLUMNS
from kb.store.base import PASSAGE_INSERT_COLUMNS
from kb.store.base import VECTOR_ID_BITS
from kb.store.base import Store
from kb.store.base import document_from_row as _document
from kb.store.base import keyword_out_of_step
from kb.store.base import passage_from_row as _passage

# Writers take a transaction-scoped advisory lock first, as SQLite's BEGIN IMMEDIATE takes its
# write lock: a read-then-write inside the block (a rate-limit bucket, a failed-login count,
# "is the store empty?") is then atomic across threads, processes and machines, and the side
# modules' SQL, written for SQLite's one writer at a time, keeps its meaning. SERIALIZABLE
# would let writers run side by side, but a conflict aborts the transaction and the caller's
# whole block (with its Python side effects) would have to be run again: every caller would
# need a retry loop. Two locks, not one: documents (transaction()) and side tables
# (side_transaction()), so that searches' rate-limit writes do not queue behind a long
# document write. A transaction nested in another takes the lock it needs if the outer one
# does not hold it. The numbers are arbitrary; kb.migrations uses 7_140_001.
DOCUMENTS_LOCK = 7_140_002
SIDE_LOCK = 7_140_003

# The channel on which each new generation is announced (NOTIFY), on commit.
GENERATION_CHANNEL = "kb_generation"

# The text search configuration: English stemming and stop words, as FTS5's porter tokenizer.
TEXT_SEARCH_CONFIG = "english"


def search_vector_sql(text: str, section: str, title: str) -> str:
    """The SQL of a passage's keyword-search vector from three SQL expressions (columns or
    `?`): its words (weight A), its section heading (B) and its document's title (C), as
    FTS5's text, section and title columns.

    Characters other than letters, digits and `_` separate words first, as in FTS5's unicode61
    tokenizer and kb.query's terms: PostgreSQL's own parser keeps "1.8" or "£4.6m" whole, so
    the query terms "1" and "8" (kb.query splits on the full stop) would miss them."""
    parts = (
        f"setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', regexp_replace({expression},"
        f" '\\W+', ' ', 'g')), '{weight}')"
        for expression, weight in ((text, "A"), (section, "B"), (title, "C"))
    )
    return " || ".join(parts)


# ts_rank's weights for D, C, B, A: SQLite's bm25 column weights (text 1.0, section 0.6,
# title 0.3), D unused.
RANK_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"


# Keyword ranking, BM25's shape on PostgreSQL's parts: each query term scores a passage by
# ts_rank (its occurrences, weighted by column, with diminishing returns for repeats) times the
# term's inverse document frequency (rare words count more, as bm25's idf), summed over the
# terms. ts_rank_cd alone ranks by how often any term occurs, so "office" three times beat
# "savings", "sharing", "back" and "office" once each (docs/evaluation.md).
def keyword_search_sql(where: str) -> str:
    """The keyword query with a filter over documents `d`; its parameters are the quoted terms
    (one list), the filter's and the limit. ts_rank without length normalisation: dividing by
    the log of a passage's length lost Recall@1 on the shared dev set (docs/evaluation.md)."""
    return (
        "WITH terms AS ("
        f"  SELECT to_tsquery('{TEXT_SEARCH_CONFIG}', t) AS q FROM unnest(?::text[]) AS u(t)),"
        " scored_terms AS ("
        "  SELECT q, ln(1 + (n.total - df.count + 0.5) / (df.count + 0.5)) AS idf"
        "  FROM terms, (SELECT COUNT(*) AS total FROM passages) n,"
        "  LATERAL (SELECT COUNT(*) AS count FROM passages WHERE search_vector @@ terms.q) df"
        "  WHERE numnode(q) > 0)"
        f" SELECT p.id, SUM(t.idf * ts_rank('{RANK_WEIGHTS}', p.search_vector, t.q)) AS rank"
        " FROM scored_terms t JOIN passages p ON p.search_vector @@ t.q"
        f" JOIN documents d ON d.id = p.document_id"
        f" WHERE {where} GROUP BY p.id ORDER BY rank DESC, p.id LIMIT ?"
    )


DEFAULT_POOL_SIZE = 20
# Seconds to wait for a connection (to open one, or for one to come back to a full pool)
# before saying the server cannot be reached.
DEFAULT_CONNECT_TIMEOUT = 10.0
# Once the server was found unreachable, requests fail at once (503) for this long, then one
# request probes it with a direct connection that waits at most PROBE_TIMEOUT_SECONDS.
UNREACHABLE_RETRY_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2

_DOCUMENT_COLUMNS = (
    "d.id, d.title, d.publisher, d.year, d.kind, d.url, d.tags, d.file_path, d.sha256, d.added_at,"
    " d.passage_count,"
    " (SELECT json_agg(json_build_array(s.key, s.who, s.year, s.title, s.url, s.read, s.note)"
    "   ORDER BY s.position) FROM document_sources s WHERE s.document_id = d.id)"
)


_INSERT_PASSAGE = (
    f"INSERT INTO passages ({PASSAGE_INSERT_COLUMNS}, search_vector)"
    f" VALUES (?,?,?,?,?,?,?,?,?,?,?,?, {search_vector_sql('?', '?', '?')}) RETURNING id"
)


@lru_cache(maxsize=1024)
def adapt_placeholders(sql: str) -> str:
    """SQL written with `?` placeholders (SQLite's) in psycopg's form: `?` outside quoted
    strings and identifiers becomes `%s`, and every literal `%` is doubled."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if char == "%":
            out.append("%%")
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append(char)
    return "".join(out)


def safe_address(url: str) -> str:
    """The database's address for messages: host, port and name, never a password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured address"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


class Rows:
    """A statement's result, read in full (the connection may go back to the pool at once):
    fetchone(), fetchall(), iteration and rowcount, as a sqlite3 cursor."""

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


class PgConnection:
    """One psycopg connection that runs SQL written for SQLite's placeholders (`?`), so the
    side modules' SQL runs unchanged; a driver's error becomes a kb.errors.StoreError."""

    dialect = "postgres"

    def __init__(self, raw: psycopg.Connection, address: str) -> None:
        self.raw = raw
        self.address = address

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        try:
            with self.raw.cursor() as cursor:
                if params:
                    cursor.execute(adapt_placeholders(sql), params)
                else:
                    cursor.execute(sql)
                rows = cursor.fetchall() if cursor.description else []
                return Rows(rows, cursor.rowcount)
        except psycopg.Error as exc:
            raise store_error(exc, self.address) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Rows:
        rows = list(rows)
        if not rows:
            return Rows([], 0)
        try:
            with self.raw.cursor() as cursor:
                cursor.executemany(adapt_placeholders(sql), rows)
                return Rows([], cursor.rowcount)
        except psycopg.Error as exc:
            raise store_error(exc, self.address) from exc

    def execute_script(self, sql: str) -> None:
        """Several statements as written (no placeholders), in one round trip."""
        try:
            self.raw.execute(sql)
        except psycopg.Error as exc:
            raise store_error(exc, self.address) from exc

    def roll_back(self) -> None:
        """End the open transaction, if any, without its changes (quietly: the connection
        may be the reason it failed)."""
        if self.raw.closed or self.raw.broken:
            return
        if self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                self.raw.execute("ROLLBACK")
            except psycopg.Error:
                self.raw.close()  # the pool drops a closed connection


def store_error(exc: BaseException, address: str, waited: float | None = None) -> StoreError:
    """One sentence for what PostgreSQL (or the connection to it) said."""
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return StoreError(
            f"The database is busy with another writer and stayed locked for "
            f"{waited or 0:g} seconds; try again when that work finishes."
            if waited
            else "The database is busy with another writer; try again when that work finishes."
        )
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailable(
            f"The database server at {address} cannot be reached ({reason}); check that it is "
            f"running and that KB_DATABASE_URL (--database-url) names it."
        )
    if isinstance(exc, pg_errors.DiskFull):
        return StoreError(f"The database server at {address} is out of disk; nothing was written.")
    return StoreError(f"The database at {address} refused a statement ({exc}).")


class _PooledConnection:
    """`PostgresStore.connection()`: each statement runs on this thread's open transaction
    when there is one (so it sees that transaction's writes), else on a connection borrowed
    from the pool for that statement alone (autocommit)."""

    dialect = "postgres"

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        with self._store._statement_connection() as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Rows:
        with self._store._statement_connection() as conn:
            return conn.executemany(sql, rows)


class PostgresStore(Store):
    """PostgreSQL-backed documents and passages (see kb.store.base.Store).

    Args:
        url: a libpq address, `postgresql://user:password@host:port/dbname`.
        busy_timeout: seconds a write waits for another writer before failing.
        pool_size: the most connections this process opens.
        connect_timeout: seconds to wait for a connection before the server counts as
            unreachable.
    """

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        busy_timeout: float = 30.0,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.address = safe_address(url)
        self._busy_timeout = busy_timeout
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        # Set while the server is known to be unreachable (_reachable, _probe).
        self._unreachable_until = 0.0
        self._unreachable_said = f"The database server at {self.address} cannot be reached."
        self._probing = threading.Lock()
        self.on_passage_written: Callable[[str, int, int], None] | None = None
        # Migrate on a connection of its own first: its error says why the server cannot be
        # reached (the pool would only time out).
        try:
            with psycopg.connect(
                url, autocommit=True, connect_timeout=max(1, int(connect_timeout))
            ) as raw:
                migrations.apply(PgConnection(raw, self.address))
        except psycopg.Error as exc:
            raise store_error(exc, self.address) from exc
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            # A connection that died with a server restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            timeout=connect_timeout,
            open=False,
            name="kb",
        )
        self._pool.open(wait=False)
        self._statements = _PooledConnection(self)
        self._listening: psycopg.Connection | None = None
        self._closed = False
        self._listen_lock = threading.Lock()

    def describe(self) -> str:
        return f"PostgreSQL at {self.address}"

    def close(self) -> None:
        self._closed = True
        with self._listen_lock:
            self._close_listener()
        self._pool.close()

    # -- connections and transactions ---------------------------------------------------------

    @contextmanager
    def _borrowed(self) -> Iterator[PgConnection]:
        """A connection from the pool for the block; a dead one is dropped, not reused.

        While the server is known to be unreachable this fails at once (see _reachable)
        rather than after the pool's timeout, so a server answers 503 straight away.
        """
        self._reachable()
        try:
            with self._pool.connection() as raw:
                yield PgConnection(raw, self.address)
        except PoolTimeout as exc:
            self._probe()
            raise store_error(exc, self.address) from exc
        except StoreUnavailable:
            self._probe()  # a connection broke: is it the server?
            raise
        except PoolClosed as exc:
            raise StoreError(f"The store of {self.address} was closed; open it again.") from exc

    def _reachable(self) -> None:
        """Raise StoreUnavailable at once while the server is known to be unreachable; once
        UNREACHABLE_RETRY_SECONDS have passed, one thread probes it again."""
        until = self._unreachable_until
        if not until:
            return
        if time.monotonic() < until or not self._probing.acquire(blocking=False):
            raise StoreUnavailable(self._unreachable_said)
        try:
            self._probe()
        finally:
            self._probing.release()
        if self._unreachable_until:
            raise StoreUnavailable(self._unreachable_said)

    def _probe(self) -> None:
        """Connect directly (not through the pool, whose reconnections back off for longer
        and longer): unreachable, remember it for UNREACHABLE_RETRY_SECONDS; reachable again,
        have the pool replace its dead connections now."""
        try:
            psycopg.connect(self.url, connect_timeout=PROBE_TIMEOUT_SECONDS).close()
        except psycopg.Error as exc:
            self._unreachable_said = str(store_error(exc, self.address))
            self._unreachable_until = time.monotonic() + UNREACHABLE_RETRY_SECONDS
            return
        if self._unreachable_until:
            self._unreachable_until = 0.0
            self._pool.check()

    @contextmanager
    def _statement_connection(self) -> Iterator[PgConnection]:
        open_transaction = getattr(self._local, "tx", None)
        if open_transaction is not None:
            yield open_transaction
            return
        with self._borrowed() as conn:
            yield conn

    def connection(self) -> _PooledConnection:
        """For the side tables' reads and single-statement writes (kb.users, kb.jobs, ...):
        `?` placeholders, autocommit outside a transaction."""
        return self._statements

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """One write transaction that bumps the generation; all or nothing."""
        with self._transaction(DOCUMENTS_LOCK, None) as conn:
            yield conn
            generation = conn.execute(
                "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'"
                " RETURNING value"
            ).fetchone()[0]
            # Delivered on commit to every process LISTENing (servers reloading their index).
            conn.execute("SELECT pg_notify(?, ?)", (GENERATION_CHANNEL, generation))

    @contextmanager
    def side_transaction(self, busy_timeout: float | None = None) -> Iterator[PgConnection]:
        """One write transaction that leaves the generation alone (users, sessions, rate
        limits, jobs); all or nothing, serialised against other side-table writers."""
        with self._transaction(SIDE_LOCK, busy_timeout) as conn:
            yield conn

    @contextmanager
    def _transaction(self, lock: int, busy_timeout: float | None) -> Iterator[PgConnection]:
        conn = getattr(self._local, "tx", None)
        if conn is not None:  # this thread's transaction is open: join it
            with self._savepoint(conn, lock, busy_timeout):
                yield conn
            return
        waited = busy_timeout if busy_timeout is not None else self._busy_timeout
        with self._borrowed() as conn:
            try:
                conn.execute("BEGIN")
                self._lock(conn, lock, waited)
            except BaseException:
                conn.roll_back()
                raise
            self._local.tx, self._local.depth, self._local.locks = conn, 1, {lock}
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.roll_back()
                raise
            finally:
                self._local.tx, self._local.depth, self._local.locks = None, 0, set()

    def _lock(self, conn: PgConnection, lock: int, waited: float) -> None:
        """Take a writer's lock for the rest of the transaction, waiting at most `waited`
        seconds for another writer to finish."""
        try:
            conn.raw.execute(f"SET LOCAL lock_timeout = {max(1, int(waited * 1000))}")
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            conn.raw.execute(f"SET LOCAL lock_timeout = {int(self._busy_timeout * 1000)}")
        except psycopg.Error as exc:
            raise store_error(exc, self.address, waited) from exc

    @contextmanager
    def _savepoint(
        self, conn: PgConnection, lock: int, busy_timeout: float | None
    ) -> Iterator[None]:
        """A transaction inside this thread's open one: undone alone if it fails, committed
        only with the outer one."""
        depth = self._local.depth
        name = f"kb_{depth}"
        if lock not in self._local.locks:
            self._lock(conn, lock, busy_timeout or self._busy_timeout)
            self._local.locks.add(lock)
        conn.execute(f"SAVEPOINT {name}")
        self._local.depth = depth + 1
        try:
            yield
        except BaseException:
            if not conn.raw.broken and not conn.raw.closed:
                try:
                    conn.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.raw.execute(f"RELEASE SAVEPOINT {name}")
                except psycopg.Error:
                    pass  # the outer transaction rolls back
            raise
        else:
            conn.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._local.depth = depth

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block all see one committed state (REPEATABLE READ)."""
        if getattr(self._local, "tx", None) is not None:
            yield
            return
        with self._borrowed() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            self._local.tx, self._local.depth, self._local.locks = conn, 1, set()
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                conn.roll_back()
                raise
            finally:
                self._local.tx, self._local.depth, self._local.locks = None, 0, set()

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> Rows:
        return self._statements.execute(sql, params)

    # -- settings recorded with the vectors ---------------------------------------------------

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Wait for a NOTIFY on GENERATION_CHANNEL (transaction() sends one on commit) on a
        connection of this store's own that LISTENs, instead of reading the generation over
        and over; returns the generation then. It is read again once LISTEN is on, so a change
        made between the caller's read and LISTEN is not missed."""
        if self._closed:
            # Nothing changes for a closed store: a reload thread outliving it waits quietly
            # instead of failing (and logging) every round.
            time.sleep(timeout)
            return since
        with self._listen_lock:
            try:
                listener = self._listener()
                current = self.generation()
                if current != since:
                    return current
                for _ in listener.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.Error as exc:
                self._close_listener()  # the next call opens a new one
                raise store_error(exc, self.address) from exc
        return self.generation()

    def _listener(self) -> psycopg.Connection:
        if self._listening is None or self._listening.closed or self._listening.broken:
            self._close_listener()
            conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
            )
            conn.execute(f"LISTEN {GENERATION_CHANNEL}")
            self._listening = conn
        return self._listening

    def _close_listener(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None

    # -- documents ----------------------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> Document | None:
        row = self._query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.sha256 = ? LIMIT 1", (sha256,)
        ).fetchone()
        return _document(row) if row else None

    def _insert_passage(self, conn: PgConnection, title: str, row: Sequence) -> int:
        """The passage with its search_vector (text, section, title) in one row."""
        return conn.execute(_INSERT_PASSAGE, (*row, row[2], row[4], title)).fetchone()[0]

    def _retitle_keywords(self, conn: PgConnection, document_id: str, title: str) -> None:
        conn.execute(
            "UPDATE passages p SET search_vector ="
            f" {search_vector_sql('p.text', 'p.section', '?')} WHERE p.document_id = ?",
            (title, document_id),
        )

    @staticmethod
    def _delete_document(conn: PgConnection, document_id: str) -> bool:
        # Passages, their vectors, figures and the document's sources go with it (ON DELETE
        # CASCADE).
        return conn.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount > 0

    def get_document(self, document_id: str) -> Document:
        row = self._query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ?", (document_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"There is no document with id {document_id!r}.")
        return _document(row)

    def list_documents(self) -> list[Document]:
        rows = self._query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d ORDER BY d.kind, d.year DESC, d.title"
        )
        return [_document(row) for row in rows]

    def documents_by_id(self, ids: Iterable[str]) -> dict[str, Document]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ANY(?)", (wanted,)
        )
        return {doc.id: doc for doc in map(_document, rows)}

    # -- passages -----------------------------------------------------------------------------

    def passages_by_id(self, ids: Sequence[int]) -> dict[int, Passage]:
        wanted = [int(i) for i in ids if 0 < int(i) < 1 << 63]
        if not wanted:
            return {}
        rows = self._query(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id = ANY(?)", (wanted,))
        return {p.id: p for p in map(_passage, rows)}

    def vector_ids_matching(self, filters: SearchFilters) -> np.ndarray:
        """Packed vector ids (passage and sentence vectors) of the passages passing the filters."""
        where, params = document_filter_sql(filters)
        bits = VECTOR_ID_BITS
        rows = self._query(
            f"SELECT p.id << {bits} FROM passages p"
            f" JOIN documents d ON d.id = p.document_id WHERE {where}"
            f" UNION ALL SELECT (s.passage_id << {bits}) | s.sub FROM sentence_vectors s"
            f" JOIN passages p ON p.id = s.passage_id"
            f" JOIN documents d ON d.id = p.document_id WHERE {where}",
            [*params, *params],
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def keyword_search(
        self, terms: Sequence[str], limit: int, filters: SearchFilters = NO_FILTERS
    ) -> list[tuple[int, float]]:
        """The passages holding any of the terms, best first (higher is better); passage text
        weighted over its section heading and that over the document title."""
        quoted = quoted_terms(terms)
        if not quoted:
            return []
        where, params = document_filter_sql(filters)
        rows = self._query(keyword_search_sql(where), (quoted, *params, limit))
        return [(int(r[0]), float(r[1])) for r in rows]

    def _keyword_index_problems(self) -> list[str]:
        """Each passage's search_vector column: what its text, section and title make now."""
        out_of_step = self._count(
            "SELECT COUNT(*) FROM passages p JOIN documents d ON d.id = p.document_id"
            " WHERE p.search_vector IS DISTINCT FROM"
            f" ({search_vector_sql('p.text', 'p.section', 'd.title')})"
        )
        return [keyword_out_of_step(out_of_step)] if out_of_step else []


def quoted_terms(terms: Sequence[str]) -> list[str]:
    """Each term as a to_tsquery operand, quoted so that any word is a valid query (the text
    search configuration then stems it, or drops a stop word)."""
    return ["'" + term.replace("'", "''").replace("\\", "\\\\") + "'" for term in terms if term]


def document_filter_sql(filters: SearchFilters) -> tuple[str, list]:
    """A WHERE clause over the documents table `d` for the search filters, with its parameters."""
    clauses: list[str] = []
    params: list = []
    if filters.kinds:
        clauses.append("d.kind = ANY(?)")
        params.append(list(filters.kinds))
    if filters.documents:
        clauses.append("d.id = ANY(?)")
        params.append(list(filters.documents))
    if filters.tags:
        clauses.append(
            "EXISTS (SELECT 1 FROM jsonb_array_elements_text(d.tags::jsonb) t(tag)"
            " WHERE t.tag = ANY(?))"
        )
        params.append(list(filters.tags))
    if filters.year_from is not None:
        clauses.append("d.year >= ?")
        params.append(filters.year_from)
    if filters.year_to is not None:
        clauses.append("d.year <= ?")
        params.append(filters.year_to)
    return (" AND ".join(clauses) or "TRUE"), params
