"""The keyword index for large stores: BM25 over the passages in tantivy, a cache derived from
the store like the FAISS index (rebuilt from it, never the source of truth).

Why: the store's own keyword search (FTS5 in SQLite, tsvector in PostgreSQL) scores every
passage holding any query term. At 1,000,000 passages a 4-word query matches a tenth of them
and FTS5 takes about a third of a second; tantivy's block-max WAND finds the same kind of top
100 without scoring most matches (docs/performance.md, "Keyword side"). Below
`DEFAULT_KEYWORD_INDEX_FROM` passages the store's search is fast enough and stays in use.

The index reads the store only through the Store interface (documents, their passages), so it
serves both backends. Each passage is one field of its text, section heading and document title
(English stemming), scored by BM25 as FTS5 scores a row: one term frequency and one length per
passage. Separate fields with FTS5's column weights (1.0, 0.6, 0.3) ranked worse on the
evaluation sets (tantivy scores each field with its own statistics; docs/performance.md).
Filters (kinds, tags, documents, years) are fields of each passage. An upload or removal is
applied to the live index document by document (kb.derived); a change to most of the store is
rebuilt beside the live index and swapped in.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import tantivy

from kb.derived import DerivedIndex
from kb.models import Document
from kb.models import SearchFilters
from kb.store import Store

# Measured (bench/search.py, docs/performance.md): below this many passages FTS5 answers in a
# few milliseconds and keeps today's ranking exactly; from it on, tantivy.
DEFAULT_KEYWORD_INDEX_FROM = 50_000
# Memory tantivy's writer may buffer before it writes a segment.
WRITER_HEAP = 128_000_000
STATE_FILE = "state.json"


def keyword_index_path(vector_index_path: Path) -> Path:
    """Where the keyword index of a data folder lives: `keywords/` beside the FAISS file."""
    return Path(vector_index_path).with_name("keywords")


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=True, indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name="en_stem", index_option="freq")
    for field in ("document", "kind", "tag"):
        builder.add_text_field(field, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("year", indexed=True, fast=True)
    return builder.build()


SCHEMA = _schema()


class KeywordIndex(DerivedIndex):
    """A tantivy index of the store's passages in a folder beside the database.

    The folder holds one sub-folder per built index and `state.json` naming the live one, with
    the store generation and the document fingerprints it holds.

    Args:
        store: the source of truth.
        folder: where the index lives.
    """

    def __init__(self, store: Store, folder: Path) -> None:
        super().__init__()
        self.store = store
        self.folder = Path(folder)
        self._searcher: tantivy.Searcher | None = None

    def __len__(self) -> int:
        return self.ensure_fresh().num_docs

    def ensure_fresh(self, wait: bool = False) -> tantivy.Searcher:
        """A searcher over the store's current generation: loaded, updated in place from the
        documents that changed, or (a large change) rebuilt beside the live index while the
        live one keeps answering; wait: finish such a rebuild first (benchmarks, tests)."""
        self.fresh(wait)
        return self._searcher

    def _use(self, index: tantivy.Index, state: dict) -> None:
        index.reload()
        searcher = index.searcher()
        # The searcher first: a search that sees the new index also sees its searcher.
        self._searcher = searcher
        super()._use(index, state)

    def _load(self) -> None:
        try:
            state = json.loads((self.folder / STATE_FILE).read_text())
            if state.get("model") != self.store.model_name():
                return
            index = tantivy.Index.open(str(self.folder / state["live"]))
        except (OSError, ValueError, KeyError, TypeError):
            return  # missing or damaged: rebuilt from the store
        self._use(index, state)

    def _build(self, generation: int, current: dict | None) -> tuple[tantivy.Index, dict]:
        """A new index of every passage, in a folder of its own, then made the live one."""
        name = f"g{generation}-{os.getpid()}-{threading.get_ident()}"
        path = self.folder / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        index = tantivy.Index(SCHEMA, path=str(path))
        writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        for document in self.store.list_documents():
            self._add_document(writer, document)
        writer.commit()
        writer.wait_merging_threads()
        state = {
            "generation": generation,
            "model": self.store.model_name(),
            "live": name,
            "documents": current,
        }
        self._save_state(state)
        return index, state

    def _apply(self, todo, generation: int, current: dict) -> None:
        """Take the changed documents out of the live index and put them back from the store.
        tantivy's searchers read a fixed set of segments, so searches go on meanwhile."""
        writer = self._live.writer(heap_size=WRITER_HEAP, num_threads=1)
        for document_id in todo.remove:
            writer.delete_documents_by_term("document", document_id)
        documents = self.store.documents_by_id(todo.add)
        for document_id in todo.add:
            if document_id in documents:
                self._add_document(writer, documents[document_id])
        writer.commit()
        writer.wait_merging_threads()
        state = dict(self._state, generation=generation, documents=current)
        self._save_state(state)
        self._use(self._live, state)

    def _add_document(self, writer: tantivy.IndexWriter, document: Document) -> None:
        meta = document.meta
        fields: dict = {"document": meta.id, "kind": meta.kind}
        if meta.tags:
            fields["tag"] = list(meta.tags)
        if meta.year is not None:
            fields["year"] = meta.year
        for passage in self.store.passages_of(meta.id):
            writer.add_document(
                tantivy.Document(
                    pid=passage.id,
                    body=f"{passage.text}\n{passage.section or ''}\n{meta.title}",
                    **fields,
                )
            )

    def _save_state(self, state: dict) -> None:
        """Point state.json at the live index (written aside, then renamed), and delete the
        folders of indexes no longer live. A read-only disk leaves the index in memory only."""
        tmp = self.folder / f"{STATE_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.folder / STATE_FILE)
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        for path in self.folder.iterdir():
            if path.is_dir() and path.name != state["live"]:
                shutil.rmtree(path, ignore_errors=True)

    # -- searching ----------------------------------------------------------------------------

    def search(
        self, terms: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[tuple[int, float]]:
        """Passages holding any of the terms, best first, as (passage id, BM25 score; higher is
        better), within the filters."""
        searcher = self.ensure_fresh()
        if not terms or limit <= 0:
            return []
        quoted = " ".join('"' + term.replace('"', "") + '"' for term in terms)
        query = self._live.parse_query(quoted, ["body"])
        if filters is not None and not filters.is_empty():
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query)]
                + [(tantivy.Occur.Must, clause) for clause in _filter_clauses(filters)]
            )
        hits = searcher.search(query, limit, count=False).hits
        # The passage id from its fast field (a column), not the stored document: a quarter of
        # the keyword time at 100,000 passages.
        ids = searcher.fast_field_values("pid", [address for _, address in hits])
        return [(pid, score) for pid, (score, _) in zip(ids, hits, strict=True)]


def _filter_clauses(filters: SearchFilters) -> list[tantivy.Query]:
    """The filters as tantivy queries, all of which a passage must match (as
    kb.store.sqlite.document_filter_sql)."""
    clauses = []
    for field, values in (
        ("kind", filters.kinds),
        ("document", filters.documents),
        ("tag", filters.tags),
    ):
        if values:
            clauses.append(tantivy.Query.term_set_query(SCHEMA, field, list(values)))
    if filters.year_from is not None or filters.year_to is not None:
        clauses.append(
            tantivy.Query.range_query(
                SCHEMA, "year", tantivy.FieldType.Integer, filters.year_from, filters.year_to
            )
        )
    return clauses
