"""The store: the interface (kb.store.base) and its implementations, one module each.

- kb.store.sqlite: SqliteStore, one file on one machine (the default).

Open the one the settings name with kb.factory.open_store.
"""

from kb.store.base import MAX_SENTENCE_VECTORS
from kb.store.base import VECTOR_ID_BITS
from kb.store.base import Store
from kb.store.sqlite import SqliteStore

__all__ = ["MAX_SENTENCE_VECTORS", "VECTOR_ID_BITS", "SqliteStore", "Store"]
