"""What the derived indexes (kb.index's FAISS, kb.keyword_index's tantivy) share: knowing which
documents changed since an index was built, so that an upload is added to the live index
instead of rebuilding it, and building a replacement beside the live index.

A document's passages are written and replaced together (Store.put_document), so an index is
brought up to date document by document: the documents whose fingerprint (content hash, when
it was added, passage count and the metadata the indexes hold) differs from the one recorded
with the index are taken out of it and put back from the store; removed ones are taken out.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kb.store import Store

# Above this share of the index's passages changed, a rebuild is no slower than the edits and
# leaves a compact index (IVF lists and tantivy segments fragment with many deletions).
REBUILD_SHARE = 0.25
# From this many passages a rebuild runs beside the live index (1,000,000 passages take minutes:
# docs/performance.md); below it, at once, so that a small store's searches never see a stale
# index.
BACKGROUND_FROM = 20_000


def document_fingerprints(store: Store) -> dict[str, list] | None:
    """Each document's id -> [fingerprint, passage count]; None when the store cannot tell
    its documents' passage ids (Store.passage_id_ranges), so the indexes must be rebuilt.

    The fingerprint covers the metadata the indexes hold (title, kind, year, tags) and the
    passages' ids: ids are never reused, so a replaced document always looks changed.
    """
    try:
        ranges = store.passage_id_ranges()
    except NotImplementedError:
        return None
    out = {}
    for document in store.list_documents():
        meta = document.meta
        key = [meta.title, meta.kind, meta.year, sorted(meta.tags), ranges.get(meta.id)]
        digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]
        out[meta.id] = [digest, ranges.get(meta.id, (0,))[0]]
    return out


@dataclass(frozen=True)
class Changes:
    """What to do to an index built at `held` to make it `current`.

    Attributes:
        remove: documents whose passages leave the index (removed or replaced).
        add: documents whose passages (re-)enter it (new or replaced).
        passages: passages touched, removed and added.
    """

    remove: tuple[str, ...]
    add: tuple[str, ...]
    passages: int

    def worth_rebuilding(self, total: int) -> bool:
        """Whether rebuilding beats editing an index of `total` passages."""
        return self.passages > REBUILD_SHARE * max(total, 1)


def changes(held: dict[str, list] | None, current: dict[str, list] | None) -> Changes | None:
    """The documents that differ between two fingerprint maps (document_fingerprints); None
    when either is unknown (rebuild)."""
    if held is None or current is None:
        return None
    remove = tuple(sorted(d for d in held if current.get(d, [None])[0] != held[d][0]))
    add = tuple(sorted(d for d in current if held.get(d, [None])[0] != current[d][0]))
    touched = sum(held[d][1] for d in remove) + sum(current[d][1] for d in add)
    return Changes(remove, add, touched)


class BackgroundBuild:
    """At most one replacement build at a time, on its own thread, handed over when done.

    Searches keep using the live index (a little stale) while a full rebuild of a large store
    runs; the next search after it finishes picks the new one up.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, build: Callable[[], object]) -> None:
        """Start `build` unless one is already running."""
        with self._lock:
            if self.running or self._result is not None:
                return

            def run() -> None:
                try:
                    result = build()
                except BaseException as error:  # noqa: BLE001 - reported by take()
                    self._error = error
                    return
                with self._lock:
                    self._result = result

            self._thread = threading.Thread(target=run, name="index-rebuild", daemon=True)
            self._thread.start()

    def take(self) -> object | None:
        """The finished build's result (once), or None; re-raises the build's error."""
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            result, self._result = self._result, None
            return result

    def wait(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()


class ReadWriteLock:
    """Many searches at once, or one in-place edit of the index they read (FAISS indexes are
    not safe to search while ids are added or removed). An edit waits for the searches under
    way; searches arriving meanwhile wait for the edit (a few milliseconds for an upload)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class DerivedIndex:
    """Keeping an index derived from the store fresh: loaded from its file, edited document by
    document, or rebuilt (beside the live index when there is one).

    Subclasses set `self.store` and implement `_load`, `_build`, `_apply` and `_use`; the live
    index is `self._live` and its saved state `self._state` (with "generation" and
    "documents": document_fingerprints at build time).
    """

    store: Store

    def __init__(self) -> None:
        self._live = None
        self._state: dict = {}
        # A server's threads all notice a new generation at once; one of them updates it.
        self._lock = threading.Lock()
        self._rebuild = BackgroundBuild()

    @property
    def generation(self) -> int:
        return self._state.get("generation", -1) if self._live is not None else -1

    def fresh(self, wait: bool = False):
        """The live index, up to date with the store's generation unless a rebuild is under way
        (then the live one answers meanwhile; wait: finish it first)."""
        generation = self.store.generation()
        if self._live is not None and self.generation == generation:
            return self._live
        if not self._lock.acquire(blocking=self._live is None or wait):
            return self._live  # another thread is bringing it up to date
        try:
            self._adopt_rebuild()
            if self._live is None:
                self._load()
            if wait and self._rebuild.running:
                self._rebuild.wait()
                self._adopt_rebuild()
            if self.generation == generation or self._rebuild.running:
                return self._live
            self._refresh(wait)
            return self._live
        finally:
            self._lock.release()

    def _refresh(self, wait: bool) -> None:
        with self.store.snapshot():
            generation = self.store.generation()
            current = document_fingerprints(self.store)
            passages = self.store.count_passages()
        if self._live is None:
            self._use(*self._build(generation, current))
            return
        # A small index is rebuilt at once (as fast as an edit); a large one beside the live one.
        wait = wait or passages < BACKGROUND_FROM
        held = self._state.get("documents")
        todo = changes(held, current)
        if (
            todo is None
            or todo.worth_rebuilding(sum(count for _, count in held.values()))
            or self._needs_rebuild()
        ):
            self._start_rebuild(wait)
            return
        try:
            self._apply(todo, generation, current)
        except NotImplementedError:  # the store cannot hand over one document's part
            self._start_rebuild(wait)

    def _start_rebuild(self, wait: bool) -> None:
        if wait and not self._rebuild.running:
            self._use(*self._build_fresh())
            return
        self._rebuild.start(self._build_fresh)
        if wait:
            self._rebuild.wait()
            self._adopt_rebuild()

    def _adopt_rebuild(self) -> None:
        built = self._rebuild.take()
        if built is not None:
            self._use(*built)

    def _build_fresh(self):
        with self.store.snapshot():
            return self._build(self.store.generation(), document_fingerprints(self.store))

    def _needs_rebuild(self) -> bool:
        """Whether the live index must be rebuilt whatever changed (a different kind)."""
        return False

    def _load(self) -> None:
        raise NotImplementedError

    def _build(self, generation: int, current: dict | None):
        """(index, state) of every passage in the store, saved; runs inside a snapshot."""
        raise NotImplementedError

    def _apply(self, todo: Changes, generation: int, current: dict) -> None:
        raise NotImplementedError

    def _use(self, index, state: dict) -> None:
        self._live, self._state = index, state
