"""Reloading a server's vector index as soon as the store changes, on a background thread.

Each server keeps its own FAISS index (a cache of the store's vectors). Searches check the
store's generation and rebuild a stale index themselves, but then the first search after a
change pays for the rebuild. A server with an IndexReloader waits on the store for the next
change (Store.wait_for_change: PostgreSQL's LISTEN/NOTIFY, or SQLite's generation read a few
times a second) and reloads at once, so a document added through any server, or by any worker,
is searchable through every server on every machine within about a second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kb.search import KnowledgeBase

# One wait's bound. A change wakes the thread at once (LISTEN/NOTIFY) or within SQLite's poll;
# this only bounds how late a stop request is noticed (a server shutting down, a test ending).
WAIT_SECONDS = 1.0
RETRY_SECONDS = 1.0  # after an error (the database unreachable), before trying again
_log = logging.getLogger(__name__)


class IndexReloader:
    """Keeps a knowledge base's vector index at the store's generation.

    Args:
        kb: the knowledge base whose index is reloaded.
        on_reload: called with the generation after each reload (tests, logging).
    """

    def __init__(self, kb: KnowledgeBase, on_reload: Callable[[int], None] | None = None) -> None:
        self.kb = kb
        self.on_reload = on_reload
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kb-index-reload", daemon=True)

    def start(self) -> IndexReloader:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        index = self.kb.index
        while not self._stop.is_set():
            try:
                current = self.kb.store.wait_for_change(index.generation, WAIT_SECONDS)
                if current != index.generation and not self._stop.is_set():
                    # Waiting here is the point: searches use the live indexes meanwhile.
                    index.ensure_fresh(wait=True)
                    if self.kb.uses_keyword_index():
                        self.kb.keywords.ensure_fresh(wait=True)
                    _log.info("Vector index reloaded at generation %s", index.generation)
                    if self.on_reload is not None:
                        self.on_reload(index.generation)
            except Exception:
                _log.exception("Could not reload the vector index; trying again shortly")
                self._stop.wait(RETRY_SECONDS)
