"""What every store does: the interface the SQLite and PostgreSQL stores both implement.

The store is the single source of truth: documents, passages, every passage's vectors, the
keyword index over the passages, and the side tables (users, sessions, rate limits, jobs, audit,
figures). FAISS indexes are caches rebuilt from it. Every write to documents or passages bumps a
generation number so that caches (in this process or another) can tell they are stale.

The side-table modules (kb.users, kb.sessions, kb.ratelimit, kb.jobs, kb.audit, kb.figures)
write SQL themselves through `connection()`, `transaction()` and `side_transaction()`. That SQL
uses `?` placeholders and the subset both databases speak (SQLite 3.40 and PostgreSQL 15:
`INSERT … ON CONFLICT … DO UPDATE/NOTHING`, `RETURNING`, no `INSERT OR REPLACE`, no
`lastrowid`, no `BEGIN`: a transaction is `transaction()` or `side_transaction()`); each
store adapts the placeholders to its driver. Only kb/store/ and kb/migrations/ import a
database driver (tests/test_architecture.py), so no driver's exception reaches other code.

Transactions nest: one opened while this thread already has one open joins it (a savepoint),
and the outermost block commits or rolls back everything. So a caller can make several store
calls and its own side-table writes one change, all or nothing (ingest/service.py writes a
document and its audit record together).
"""

from __future__ import annotations

import json
import time
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Protocol

import numpy as np

from kb.errors import ModelMismatch
from kb.errors import NotFound
from kb.figures.stored import mark_current
from kb.figures.stored import write_passage_figures
from kb.late_interaction import pack
from kb.models import Chunk
from kb.models import Document
from kb.models import DocumentMeta
from kb.models import Passage
from kb.models import SearchFilters
from kb.models import Source

# Vector ids in the FAISS index pack the passage id and which of its vectors it is:
# (passage_id << VECTOR_ID_BITS) | sub, sub 0 being the whole passage and 1.. its sentences.
VECTOR_ID_BITS = 6
MAX_SENTENCE_VECTORS = (1 << VECTOR_ID_BITS) - 1

NO_FILTERS = SearchFilters()
#: The columns passage_from_row reads, in its order.
PASSAGE_COLUMNS = (
    "id, document_id, ordinal, text, page, section, char_start, char_end, token_count,"
    " page_end, source_keys, ocr_confidence"
)
#: The columns of a new passage row, in passage_row's order.
PASSAGE_INSERT_COLUMNS = (
    "document_id, ordinal, text, page, section, char_start, char_end, token_count, embedding,"
    " page_end, source_keys, ocr_confidence"
)
# How often Store.wait_for_change reads the generation when the backend cannot be woken.
CHANGE_POLL_SECONDS = 0.2


class Connection(Protocol):
    """What `connection()` and the transactions yield: SQL with `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any:
        """Run one statement; the result has fetchone(), fetchall(), iteration, rowcount."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        """Run one statement once per row of parameters."""


def now() -> str:
    """The time a row is written, as stored (ISO 8601, UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def passage_from_row(row: Sequence) -> Passage:
    """A Passage from the columns `Store` implementations select for it, in this order:
    id, document_id, ordinal, text, page, section, char_start, char_end, token_count,
    page_end, source_keys (JSON list), ocr_confidence."""
    *columns, page_end, source_keys, ocr_confidence = row
    return Passage(
        *columns,
        page_end=page_end,
        # Most passages cite no source: skip the JSON parser for them (a search reads 100).
        source_keys=() if source_keys == "[]" else tuple(json.loads(source_keys)),
        ocr_confidence=ocr_confidence,
    )


def metadata_values(meta: DocumentMeta) -> tuple:
    """A document's title, publisher, year, kind, url and tags (a JSON list), as stored."""
    return (meta.title, meta.publisher, meta.year, meta.kind, meta.url, json.dumps(list(meta.tags)))


def passage_row(document_id: str, ordinal: int, chunk: Chunk, vector: np.ndarray) -> tuple:
    """A new passage's values for PASSAGE_INSERT_COLUMNS (the vector as float32 bytes)."""
    return (
        document_id,
        ordinal,
        chunk.text,
        chunk.page,
        chunk.section,
        chunk.char_start,
        chunk.char_end,
        chunk.token_count,
        vector.tobytes(),
        chunk.page_end,
        json.dumps(list(chunk.source_keys)),
        chunk.ocr_confidence,
    )


def document_from_row(row: Sequence) -> Document:
    """A Document from: id, title, publisher, year, kind, url, tags (JSON list), file_path,
    sha256, added_at, passage count, sources (JSON list of [key, who, year, title, url, read,
    note])."""
    doc_id, title, publisher, year, kind, url, tags, file_path, sha256, added_at, count, cited = row
    if not isinstance(tags, list):
        tags = json.loads(tags)
    if cited is None:
        cited = []
    elif not isinstance(cited, list):
        cited = json.loads(cited)
    meta = DocumentMeta(doc_id, title, publisher, year, kind, url, tuple(tags))
    sources = tuple(Source(*entry) for entry in cited)
    return Document(meta, file_path, sha256, added_at, count, sources)


class Store(ABC):
    """Documents, passages, vectors and keyword search, plus transactions for the side tables.

    Implementations: kb.store.sqlite.SqliteStore (one file, one machine) and
    kb.store.postgres.PostgresStore (a database server shared by many machines).
    Open one with kb.factory.open_store(settings).
    """

    #: "sqlite" or "postgres": which numbered migrations apply (kb/migrations/<dialect>/).
    dialect: str
    #: Called as (document_id, passages written, passages in all) inside put_document's
    #: transaction after each passage: a seam for fault tests (kb/pause.py), None otherwise.
    on_passage_written: Callable[[str, int, int], None] | None = None

    def describe(self) -> str:
        """Where the data is, for messages (a path, or a database address without password)."""
        return self.dialect

    # -- connections and transactions ---------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Close every connection this store opened."""

    @abstractmethod
    def connection(self) -> Connection:
        """This thread's connection, for reads of the side tables (and single-statement writes
        that need no transaction). It has `execute(sql, params) -> cursor` and
        `executemany(sql, rows)`; SQL uses `?` placeholders (see the module docstring)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction that bumps the generation; all or nothing. Yields the
        connection. Inside another transaction of this thread it joins that one (see the
        module docstring)."""

    @abstractmethod
    def side_transaction(
        self, busy_timeout: float | None = None
    ) -> AbstractContextManager[Connection]:
        """One write transaction that leaves the generation alone (users, sessions, rate
        limits, jobs, audit); all or nothing, and serialised against other writers so that a
        read-then-write inside it is atomic across threads, processes and machines. Inside
        another transaction of this thread it joins that one: a savepoint that an exception
        rolls back, committed with the outer transaction.

        Args:
            busy_timeout: seconds to wait for another writer, when shorter than the store's.
        """

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside the block all see one committed state."""

    # -- settings recorded with the vectors ---------------------------------------------------

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Wait until the generation is no longer `since`, or `timeout` seconds have passed;
        returns the generation then. Servers call it on a background thread (kb.reload) to
        reload their vector index as soon as any process on any machine changes a document.

        This default reads the generation every CHANGE_POLL_SECONDS (SQLite: one row of one
        table in a file on this machine); PostgreSQL is woken by LISTEN/NOTIFY instead.
        """
        deadline = time.monotonic() + timeout
        while True:
            current = self.generation()
            left = deadline - time.monotonic()
            if current != since or left <= 0:
                return current
            time.sleep(min(CHANGE_POLL_SECONDS, left))

    def ensure_model(self, model_name: str, dimension: int, splitter: dict) -> None:
        """Record the embedding model and splitter on first use; refuse to mix models
        (kb.errors.ModelMismatch)."""
        stored = self.get_meta("embedding_model")
        if stored is None or self.count_passages() == 0:
            with self.transaction() as conn:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [
                        ("embedding_model", model_name),
                        ("embedding_dim", str(dimension)),
                        ("splitter", json.dumps(splitter, sort_keys=True)),
                    ],
                )
            return
        if stored != model_name:
            raise ModelMismatch(
                f"The store's passages were embedded with {stored}, not {model_name}; "
                f"re-embed with `kb ingest --reembed` or use a new data folder."
            )

    def model_name(self) -> str | None:
        return self.get_meta("embedding_model")

    # -- documents ----------------------------------------------------------------------------

    @abstractmethod
    def find_by_sha256(self, sha256: str) -> Document | None: ...

    def put_document(
        self,
        meta: DocumentMeta,
        *,
        file_path: str,
        sha256: str,
        fingerprint: str,
        text: str,
        chunks: Sequence[Chunk],
        embeddings: np.ndarray,
        sentence_embeddings: Sequence[np.ndarray] | None = None,
        sentence_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
        sources: Sequence[Source] = (),
        piece_vectors: Sequence[np.ndarray] | None = None,
    ) -> bool:
        """Add a document or replace it (and all its passages) in one transaction.

        `sources` are the document's Sources entries, which its passages' source keys name.

        Every passage's figures (money, percentages, counts) are read and written in the same
        transaction (kb.figures.stored), so every document has them however it came in; so
        are its word-piece vectors (late interaction) when given.
        The backends differ only in how a passage and its keyword index row are written
        (_insert_passage) and how a document's rows go (_delete_document).

        Args:
            sentence_spans: per chunk, the (start, end) in its text of the sentence behind each
                of its sentence embeddings, so a figure can be tied to its sentence's vector.
            piece_vectors: per chunk, its word-piece vectors (kb.late_interaction.pack stores
                them), or None to store none.

        Returns:
            True when a document with that id was replaced, False when it is new.
        """
        if len(chunks) != len(embeddings):
            raise ValueError("each chunk needs exactly one embedding")
        if sentence_embeddings is not None and len(sentence_embeddings) != len(chunks):
            raise ValueError("each chunk needs its (possibly empty) sentence embeddings")
        if piece_vectors is not None and len(piece_vectors) != len(chunks):
            raise ValueError("each chunk needs its word-piece vectors")
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        with self.transaction() as conn:
            was_empty = not conn.execute("SELECT EXISTS (SELECT 1 FROM passages)").fetchone()[0]
            replaced = self._delete_document(conn, meta.id)
            conn.execute(
                "INSERT INTO documents (id, title, publisher, year, kind, url, tags, file_path,"
                " sha256, fingerprint, text, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (meta.id, *metadata_values(meta), file_path, sha256, fingerprint, text, now()),
            )
            conn.executemany(
                "INSERT INTO document_sources (document_id, position, key, who, year, title,"
                " url, read, note) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (meta.id, position, s.key, s.who, s.year, s.title, s.url, s.read, s.note)
                    for position, s in enumerate(sources)
                ],
            )
            for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
                passage_id = self._insert_passage(
                    conn, meta.title, passage_row(meta.id, ordinal, chunk, vector)
                )
                write_passage_figures(
                    conn,
                    passage_id,
                    chunk.text,
                    sentence_spans[ordinal] if sentence_spans is not None else (),
                )
                if sentence_embeddings is not None:
                    sentences = np.asarray(sentence_embeddings[ordinal], dtype=np.float32)
                    conn.executemany(
                        "INSERT INTO sentence_vectors (passage_id, sub, embedding) VALUES (?,?,?)",
                        [
                            (passage_id, sub, row.tobytes())
                            for sub, row in enumerate(sentences[:MAX_SENTENCE_VECTORS], start=1)
                        ],
                    )
                if piece_vectors is not None:
                    conn.execute(
                        "INSERT INTO piece_vectors (passage_id, vectors) VALUES (?,?)",
                        (passage_id, pack(piece_vectors[ordinal])),
                    )
                if self.on_passage_written is not None:
                    self.on_passage_written(meta.id, ordinal + 1, len(chunks))
            if was_empty:
                mark_current(conn)  # every passage of the store was read by this extractor
        return replaced

    @abstractmethod
    def _insert_passage(self, conn: Connection, title: str, row: Sequence[Any]) -> int:
        """Write one passage (`row`: the values of PASSAGE_INSERT_COLUMNS) and its place in the
        keyword index (which also holds its document's `title`); returns its id."""

    @abstractmethod
    def _delete_document(self, conn: Connection, document_id: str) -> bool:
        """Delete a document's rows and all that hangs on them inside the open transaction;
        whether there was one."""

    def update_metadata(self, meta: DocumentMeta) -> None:
        """Change a document's metadata without touching its passages' text or vectors (their
        keyword index rows take the new title: _retitle_keywords)."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE documents SET title=?, publisher=?, year=?, kind=?, url=?, tags=?"
                " WHERE id=?",
                (*metadata_values(meta), meta.id),
            ).rowcount
            if changed == 0:
                raise NotFound(f"There is no document with id {meta.id!r}.")
            self._retitle_keywords(conn, meta.id, meta.title)

    @abstractmethod
    def _retitle_keywords(self, conn: Connection, document_id: str, title: str) -> None:
        """Give a document's passages' keyword index rows its new title."""

    def remove_document(self, document_id: str) -> Document:
        """Delete a document and its passages; returns what was removed."""
        document = self.get_document(document_id)
        with self.transaction() as conn:
            self._delete_document(conn, document_id)
        return document

    @abstractmethod
    def get_document(self, document_id: str) -> Document: ...

    @abstractmethod
    def list_documents(self) -> list[Document]: ...

    @abstractmethod
    def documents_by_id(self, ids: Iterable[str]) -> dict[str, Document]: ...

    # -- passages and vectors -----------------------------------------------------------------

    @abstractmethod
    def passages_by_id(self, ids: Sequence[int]) -> dict[int, Passage]: ...

    def passage_id_ranges(self) -> dict[str, tuple[int, int, int]]:
        """Each document's (passage count, lowest passage id, highest passage id). Passage ids
        are never reused, so a replaced document shows new ids: the derived indexes (FAISS,
        tantivy) update document by document from it. (SQL both databases speak.)"""
        rows = self.connection().execute(
            "SELECT document_id, COUNT(*), MIN(id), MAX(id) FROM passages GROUP BY document_id"
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def piece_vectors(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored word-piece vectors of these passages, packed (kb.late_interaction.pack),
        for late interaction: those that have them (a store past `late_interaction_up_to`
        passages keeps none). (SQL both databases speak.)"""
        found: dict[int, bytes] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            rows = self.connection().execute(
                f"SELECT passage_id, vectors FROM piece_vectors WHERE passage_id IN ({marks})",
                part,
            )
            found.update((int(pid), bytes(blob)) for pid, blob in rows)
        return found

    def document_embeddings(self, document_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(packed vector ids, vectors) of one document's passages and sentences: what the
        FAISS index adds for a new upload without a rebuild. (SQL both databases speak.)"""
        dim = int(self.get_meta("embedding_dim") or 0)
        bits = VECTOR_ID_BITS
        rows = (
            self.connection()
            .execute(
                f"SELECT id << {bits}, embedding FROM passages WHERE document_id = ?"
                f" UNION ALL SELECT (s.passage_id << {bits}) | s.sub, s.embedding"
                " FROM sentence_vectors s JOIN passages p ON p.id = s.passage_id"
                " WHERE p.document_id = ?",
                (document_id, document_id),
            )
            .fetchall()
        )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), dim)

    @abstractmethod
    def vector_ids_matching(self, filters: SearchFilters) -> np.ndarray:
        """Packed vector ids (passage and sentence vectors) of the passages passing the
        filters."""

    @abstractmethod
    def keyword_search(
        self, terms: Sequence[str], limit: int, filters: SearchFilters = NO_FILTERS
    ) -> list[tuple[int, float]]:
        """Passages holding any of the terms, best first, as (passage id, score); the score's
        scale belongs to the backend (callers use the order). Passage text counts more than
        its section heading, and that more than the document title."""

    # -- reads every store shares (SQL both databases speak, through connection()) -----------

    def get_meta(self, key: str) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def generation(self) -> int:
        """A number that changes with every write to documents or passages."""
        return int(self.get_meta("generation") or 0)

    def fingerprint(self, document_id: str) -> str | None:
        row = (
            self.connection()
            .execute("SELECT fingerprint FROM documents WHERE id = ?", (document_id,))
            .fetchone()
        )
        return row[0] if row else None

    def document_text(self, document_id: str) -> str:
        row = (
            self.connection()
            .execute("SELECT text FROM documents WHERE id = ?", (document_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"There is no document with id {document_id!r}.")
        return row[0]

    def count_passages(self) -> int:
        return self.connection().execute("SELECT COUNT(*) FROM passages").fetchone()[0]

    def get_passage(self, passage_id: int) -> Passage:
        if not 0 < passage_id < 1 << 63:  # beyond 64-bit integers (an id typed into a URL)
            raise NotFound(f"There is no passage with id {passage_id}.")
        row = (
            self.connection()
            .execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id = ?", (passage_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"There is no passage with id {passage_id}.")
        return passage_from_row(row)

    def passages_of(self, document_id: str) -> list[Passage]:
        rows = self.connection().execute(
            f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = ? ORDER BY ordinal",
            (document_id,),
        )
        return [passage_from_row(row) for row in rows]

    def vector_ids(self) -> np.ndarray:
        """Every packed vector id the FAISS index should hold (passages and sentences)."""
        bits = VECTOR_ID_BITS
        rows = self.connection().execute(
            f"SELECT id << {bits} FROM passages"
            f" UNION ALL SELECT (passage_id << {bits}) | sub FROM sentence_vectors"
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def count_vectors(self) -> int:
        """Passage vectors plus sentence vectors: what the FAISS index should hold."""
        return (
            self.connection()
            .execute(
                "SELECT (SELECT COUNT(*) FROM passages) + (SELECT COUNT(*) FROM sentence_vectors)"
            )
            .fetchone()[0]
        )

    def iter_embeddings(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (packed vector ids, vectors) in batches: every passage's vector, then every
        sentence vector, with ids packed as (passage_id << VECTOR_ID_BITS) | sub."""
        dim = int(self.get_meta("embedding_dim") or 0)
        bits = VECTOR_ID_BITS
        # Each batch starts after the last key read, compared as a row value, so that the
        # primary key's index finds the place; a computed key, (passage_id << bits) | sub, had
        # every batch scan the index from its start (276 against 181 ms for a batch near the
        # end at 400,000 sentence vectors, and growing with the table).
        queries = (
            "SELECT id, 0, embedding FROM passages WHERE id > ? ORDER BY id LIMIT ?",
            "SELECT passage_id, sub, embedding FROM sentence_vectors"
            " WHERE (passage_id, sub) > (?, ?) ORDER BY passage_id, sub LIMIT ?",
        )
        for number, sql in enumerate(queries):
            last = (-1, 0)
            while True:
                after = last if number else last[:1]
                rows = self.connection().execute(sql, (*after, batch)).fetchall()
                if not rows:
                    break
                ids = np.fromiter(
                    ((r[0] << bits) | r[1] for r in rows), dtype=np.int64, count=len(rows)
                )
                vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
                yield ids, vectors.reshape(len(rows), dim)
                last = (int(rows[-1][0]), int(rows[-1][1]))

    # -- consistency (`kb check`) -------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems that make the store inconsistent (empty list when all is well): the same
        checks on every backend, in SQL both databases speak, with each backend's own keyword
        index (_keyword_index_problems) and file integrity (_integrity_problems) checks.
        Foreign keys prevent strays and orphans in a working store; a crash outside a
        transaction, a bug or a restored backup need not honour them."""
        count = self._count
        problems = []
        size = int(self.get_meta("embedding_dim") or 0)
        bad = count("SELECT COUNT(*) FROM passages WHERE length(embedding) != ?", (size * 4,))
        if bad:
            problems.append(f"{bad} passages have no embedding of the recorded size ({size}).")
        bad = count(
            "SELECT COUNT(*) FROM sentence_vectors WHERE length(embedding) != ?", (size * 4,)
        )
        if bad:
            problems.append(f"{bad} sentence vectors are not of the recorded size ({size}).")
        stray = count(
            "SELECT COUNT(*) FROM sentence_vectors s LEFT JOIN passages p ON p.id = s.passage_id"
            " WHERE p.id IS NULL"
        )
        if stray:
            problems.append(f"{stray} sentence vectors belong to no passage.")
        problems.extend(self._keyword_index_problems())
        orphans = count(
            "SELECT COUNT(*) FROM passages p LEFT JOIN documents d ON d.id = p.document_id"
            " WHERE d.id IS NULL"
        )
        if orphans:
            problems.append(f"{orphans} passages belong to no document.")
        problems.extend(self.miscounted_documents())
        problems.extend(self._integrity_problems())
        return problems

    def miscounted_documents(self) -> list[str]:
        """A problem when a document's kept passage count (documents.passage_count, which the
        database's triggers maintain: migration 0009) differs from its passages."""
        sql = (
            "SELECT COUNT(*) FROM documents d WHERE d.passage_count !="
            " (SELECT COUNT(*) FROM passages p WHERE p.document_id = d.id)"
        )
        wrong = self.connection().execute(sql).fetchone()[0]
        if not wrong:
            return []
        return [f"{wrong} documents record a passage count that differs from their passages."]

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The one number a query gives."""
        return self.connection().execute(sql, params).fetchone()[0]

    @abstractmethod
    def _keyword_index_problems(self) -> list[str]:
        """The keyword index out of step with the passages, in sentences (keyword_out_of_step
        for passages missing from it or differing from their text there)."""

    def _integrity_problems(self) -> list[str]:
        """The database's own check of its storage, where it has one."""
        return []


def keyword_out_of_step(count: int) -> str:
    """`kb check`'s sentence for passages missing from the keyword index or differing there."""
    return f"{count} passages are missing from the keyword index or differ from their text there."
