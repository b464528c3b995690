"""Building a knowledge base from settings: the one place that wires the parts together."""

from __future__ import annotations

from kb.embedder import Embedder
from kb.embedder import make_embedder
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb.store import Store


def open_store(settings: Settings) -> Store:
    return Store(settings.db_path, busy_timeout=settings.busy_timeout)


def open_knowledge_base(settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
    """A KnowledgeBase over the settings' data folder.

    Args:
        settings: where the data lives and which embedder to use.
        embedder: an embedder to use instead of the one the settings name (tests pass a fake).
    """
    return KnowledgeBase(
        open_store(settings),
        embedder or make_embedder(settings.embedder),
        settings.index_path,
        hnsw_threshold=settings.hnsw_threshold,
    )
