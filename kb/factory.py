"""Building a knowledge base from settings: the one place that wires the parts together."""

from __future__ import annotations

from kb.embedder import MINILM_NAME
from kb.embedder import Embedder
from kb.embedder import make_embedder
from kb.errors import StoreError
from kb.originals import Originals
from kb.pause import PAUSED_FILE
from kb.pause import pause_after
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb.store import SqliteStore
from kb.store import Store


def open_store(settings: Settings, create: bool = False) -> Store:
    """The store the settings name: PostgreSQL at settings.database_url when it is set, else
    the SQLite file in the data folder.

    Args:
        settings: where the data lives.
        create: make the SQLite database if it is not there (commands that add documents or
            users); otherwise a missing one is an error, not a new empty knowledge base in the
            wrong folder. A PostgreSQL database is made by its administrator (`createdb`);
            its tables are made on first use either way.
    """
    if settings.database_url:
        store = open_postgres_store(settings)
    else:
        store = open_sqlite_store(settings, create)
    if settings.pause_after_passages:
        store.on_passage_written = pause_after(
            settings.pause_after_passages, settings.data_dir / PAUSED_FILE
        )
    return store


def open_originals(settings: Settings, store: Store) -> Originals:
    """Where the settings keep originals and uploaded files (kb.originals)."""
    return Originals(store, settings.files_dir, settings.originals)


def open_postgres_store(settings: Settings) -> Store:
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise StoreError(
            "KB_DATABASE_URL (--database-url) must be a PostgreSQL address, "
            "postgresql://user:password@host:port/dbname."
        )
    # psycopg is imported only when PostgreSQL is used: SQLite needs none of it.
    from kb.store.postgres import PostgresStore

    return PostgresStore(settings.database_url, busy_timeout=settings.busy_timeout)


def open_sqlite_store(settings: Settings, create: bool) -> Store:
    if not create and not settings.db_path.exists():
        raise StoreError(
            f"There is no knowledge base in {settings.data_dir}: run `kb ingest` first, or point "
            f"--data-dir (KB_DATA_DIR) at the folder that holds one."
        )
    return SqliteStore(settings.db_path, busy_timeout=settings.busy_timeout)


def make_model_embedder(settings: Settings, *, ingest: bool = False) -> Embedder:
    """The embedder the settings name. The real model runs from its ONNX export in the data
    folder (no torch), falling back to sentence-transformers (kb.onnx_embedder.ExportedMiniLM).

    Args:
        ingest: for taking files in: one batch at a time on each core, on the runtime the
            setting ingest_runtime names, and the model is exported first if its export is
            missing, stale or damaged.
    """
    if settings.embedder in ("minilm", MINILM_NAME):
        import os

        from kb.onnx_embedder import ExportedMiniLM

        if ingest:
            return ExportedMiniLM(
                settings.data_dir,
                threads=os.cpu_count() or 1,
                export_if_missing=True,
                piece_runtime=settings.ingest_runtime,
            )
        return ExportedMiniLM(settings.data_dir)
    return make_embedder(settings.embedder)


def open_knowledge_base(
    settings: Settings, embedder: Embedder | None = None, create: bool = False
) -> KnowledgeBase:
    """A KnowledgeBase over the settings' data folder.

    Args:
        settings: where the data lives and which embedder to use.
        embedder: an embedder to use instead of the one the settings name (tests pass a fake).
        create: make an empty database if there is none (see open_store).
    """
    return KnowledgeBase(
        open_store(settings, create),
        embedder or make_model_embedder(settings),
        settings.index_path,
        approximate_from=settings.approximate_from,
        keyword_index_from=settings.keyword_index_from,
        late_interaction_up_to=settings.late_interaction_up_to,
    )
