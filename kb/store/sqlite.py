"""The embedded store: one SQLite file (WAL), for a knowledge base on one machine.

Documents, passages, a full-text (FTS5) table and every passage's embedding live in the file;
see kb.store.base for what every store does.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kb import migrations
from kb.errors import NotFound
from kb.errors import StoreError
from kb.models import Document
from kb.models import Passage
from kb.models import SearchFilters
from kb.query import fts_match
from kb.store.base import NO_FILTERS
from kb.store.base import PASSAGE_COLUMNS
from kb.store.base import PASSAGE_INSERT_COLUMNS
from kb.store.base import VECTOR_ID_BITS
from kb.store.base import Store
from kb.store.base import document_from_row as _document
from kb.store.base import keyword_out_of_step
from kb.store.base import passage_from_row as _passage

_DOCUMENT_COLUMNS = (
    "d.id, d.title, d.publisher, d.year, d.kind, d.url, d.tags, d.file_path, d.sha256, d.added_at,"
    " d.passage_count,"
    " (SELECT json_group_array(json_array(s.key, s.who, s.year, s.title, s.url, s.read, s.note))"
    "  FROM (SELECT * FROM document_sources WHERE document_id = d.id ORDER BY position) s)"
)


class SqliteStore(Store):
    """SQLite-backed documents and passages (see kb.store.base.Store).

    Args:
        path: the database file (created with its folder if missing).
        busy_timeout: seconds to wait for another writer before giving up with a clear error.
    """

    dialect = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout = busy_timeout
        # One connection per thread: a web server's threads must not share a transaction.
        self._local = threading.local()
        # Each connection with the thread that opened it (see close).
        self._connections: dict[sqlite3.Connection, threading.Thread] = {}
        self.on_passage_written: Callable[[str, int, int], None] | None = None
        try:
            # Opening an up-to-date database only reads: it must not wait for another process's
            # write (a server starting while `kb ingest` runs).
            migrations.apply(self._conn)
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from exc

    def _write_error(
        self, exc: sqlite3.OperationalError, waited: float | None = None
    ) -> StoreError:
        """One sentence for what SQLite said when a write failed (it was rolled back)."""
        said = str(exc).lower()
        if "locked" in said or "busy" in said:
            return StoreError(
                f"The database is busy with another writer and stayed locked for "
                f"{waited or self._busy_timeout:g} seconds; try again when that work finishes."
            )
        if "full" in said:
            return StoreError(f"The disk is full at {self.path.parent}; nothing was written.")
        return StoreError(f"The database {self.path} could not be written ({exc}).")

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._connections[conn] = threading.current_thread()
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):  # another writer holds it (switching a new file to WAL)
                raise self._write_error(exc) from exc
            raise StoreError(f"The database {self.path} cannot be opened: {exc}.") from exc
        return conn

    def describe(self) -> str:
        return str(self.path)

    def close(self) -> None:
        """Close this thread's connection and those of threads that have ended; the next use
        from any thread opens a fresh one.

        A connection that another live thread opened (a server's index-reload or upload thread)
        is not closed from here: closing it while that thread is inside a query crashes the
        process. It is let go instead, and closed when its thread drops it.
        """
        me = threading.current_thread()
        for conn, owner in list(self._connections.items()):
            if owner is me or not owner.is_alive():
                conn.close()
        self._connections.clear()
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for the tables other kb modules keep beside the documents
        (kb.users, kb.jobs, kb.audit). Their writes do not bump the generation: no passage or
        vector changed, so no index needs reloading."""
        return self._conn

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that bumps the generation; all or nothing."""
        with self.side_transaction() as conn:
            yield conn
            conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )

    @contextmanager
    def side_transaction(self, busy_timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction that leaves the generation alone (for the side tables: users,
        sessions, rate limits); all or nothing. BEGIN IMMEDIATE takes the write lock first, so
        a read-then-write inside it is atomic across threads and processes. Inside this
        thread's open transaction it is a savepoint of that one.

        Args:
            busy_timeout: seconds to wait for another writer, when shorter than the store's.
        """
        conn = self._conn
        depth = getattr(self._local, "depth", 0)
        if depth:  # this thread's transaction is open: join it
            with self._savepoint(conn, depth):
                yield conn
            return
        if busy_timeout is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, busy_timeout) from exc
        finally:
            if busy_timeout is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        self._local.depth = 1
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite may have rolled back already (a full disk does that): ROLLBACK would fail.
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    self._discard(conn)  # closing the connection rolls back what is left
            if isinstance(exc, sqlite3.OperationalError):
                raise self._write_error(exc) from exc
            raise
        finally:
            self._local.depth = 0

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection, depth: int) -> Iterator[None]:
        """A transaction inside this thread's open one: undone alone if it fails, committed
        only with the outer one."""
        name = f"kb_{depth}"
        conn.execute(f"SAVEPOINT {name}")
        self._local.depth = depth + 1
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            conn.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._local.depth = depth

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block all see one committed state (a read transaction)."""
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _discard(self, conn: sqlite3.Connection) -> None:
        """Close this thread's connection; the next use opens a fresh one."""
        conn.close()
        self._connections.pop(conn, None)
        if getattr(self._local, "conn", None) is conn:
            del self._local.conn

    # -- documents ----------------------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> Document | None:
        row = self._conn.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.sha256 = ?", (sha256,)
        ).fetchone()
        return _document(row) if row else None

    def _insert_passage(self, conn: sqlite3.Connection, title: str, row: Sequence) -> int:
        """The passage, then its FTS5 row (text, section, title) under the same rowid."""
        passage_id = conn.execute(
            f"INSERT INTO passages ({PASSAGE_INSERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        ).lastrowid
        conn.execute(
            "INSERT INTO passages_fts (rowid, text, section, title) VALUES (?,?,?,?)",
            (passage_id, row[2], row[4], title),
        )
        return passage_id

    def _retitle_keywords(self, conn: sqlite3.Connection, document_id: str, title: str) -> None:
        conn.execute(
            "UPDATE passages_fts SET title = ? WHERE rowid IN"
            " (SELECT id FROM passages WHERE document_id = ?)",
            (title, document_id),
        )

    @staticmethod
    def _delete_document(conn: sqlite3.Connection, document_id: str) -> bool:
        conn.execute(
            "DELETE FROM passages_fts WHERE rowid IN"
            " (SELECT id FROM passages WHERE document_id = ?)",
            (document_id,),
        )
        conn.execute(
            "DELETE FROM sentence_vectors WHERE passage_id IN"
            " (SELECT id FROM passages WHERE document_id = ?)",
            (document_id,),
        )
        conn.execute(
            "DELETE FROM passage_figures WHERE passage_id IN"
            " (SELECT id FROM passages WHERE document_id = ?)",
            (document_id,),
        )
        conn.execute(
            "DELETE FROM piece_vectors WHERE passage_id IN"
            " (SELECT id FROM passages WHERE document_id = ?)",
            (document_id,),
        )
        conn.execute("DELETE FROM passages WHERE document_id = ?", (document_id,))
        conn.execute("DELETE FROM document_sources WHERE document_id = ?", (document_id,))
        return conn.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount > 0

    def get_document(self, document_id: str) -> Document:
        row = self._conn.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ?", (document_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"There is no document with id {document_id!r}.")
        return _document(row)

    def list_documents(self) -> list[Document]:
        rows = self._conn.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d ORDER BY d.kind, d.year DESC, d.title"
        )
        return [_document(row) for row in rows]

    def documents_by_id(self, ids: Iterable[str]) -> dict[str, Document]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._conn.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.id IN ({marks})", wanted
        )
        return {doc.id: doc for doc in map(_document, rows)}

    # -- passages -----------------------------------------------------------------------------

    def passages_by_id(self, ids: Sequence[int]) -> dict[int, Passage]:
        found: dict[int, Passage] = {}
        # SQLite caps bound parameters; fetch in slices.
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id IN ({marks})", part
            )
            found.update((p.id, p) for p in map(_passage, rows))
        return found

    def vector_ids_matching(self, filters: SearchFilters) -> np.ndarray:
        """Packed vector ids (passage and sentence vectors) of the passages passing the filters."""
        where, params = document_filter_sql(filters)
        bits = VECTOR_ID_BITS
        rows = self._conn.execute(
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
        """FTS5 bm25 over the terms ORed; returns (passage id, bm25) best first (bm25 is
        lower-is-better).

        Column weights favour the passage text over its section heading and document title.
        """
        match = fts_match(list(terms))
        if match is None:
            return []
        where, params = document_filter_sql(filters)
        rows = self._conn.execute(
            "SELECT f.rowid, bm25(passages_fts, 1.0, 0.6, 0.3) AS rank FROM passages_fts f"
            " JOIN passages p ON p.id = f.rowid JOIN documents d ON d.id = p.document_id"
            f" WHERE passages_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
            (match, *params, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def _keyword_index_problems(self) -> list[str]:
        """FTS5's table: one row per passage, holding the passage's text."""
        problems = []
        rows, passages = self._count("SELECT COUNT(*) FROM passages_fts"), self.count_passages()
        if rows != passages:
            problems.append(f"The keyword index holds {rows} rows for {passages} passages.")
        out_of_step = self._count(
            "SELECT COUNT(*) FROM passages p LEFT JOIN passages_fts f ON f.rowid = p.id"
            " WHERE f.rowid IS NULL OR f.text IS NOT p.text"
        )
        if out_of_step:
            problems.append(keyword_out_of_step(out_of_step))
        return problems

    def _integrity_problems(self) -> list[str]:
        integrity = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        return [] if integrity == "ok" else [f"SQLite integrity check failed: {integrity}."]


def document_filter_sql(filters: SearchFilters) -> tuple[str, list]:
    """A WHERE clause over the documents table `d` for the search filters, with its parameters."""
    kinds, tags, documents = filters.kinds, filters.tags, filters.documents
    year_from, year_to = filters.year_from, filters.year_to
    clauses: list[str] = []
    params: list = []
    if kinds:
        clauses.append(f"d.kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if documents:
        clauses.append(f"d.id IN ({','.join('?' * len(documents))})")
        params.extend(documents)
    if tags:
        clauses.append(
            f"EXISTS (SELECT 1 FROM json_each(d.tags) t WHERE t.value IN"
            f" ({','.join('?' * len(tags))}))"
        )
        params.extend(tags)
    if year_from is not None:
        clauses.append("d.year >= ?")
        params.append(year_from)
    if year_to is not None:
        clauses.append("d.year <= ?")
        params.append(year_to)
    return (" AND ".join(clauses) or "1"), params
