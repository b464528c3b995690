"""Faults: a lost or damaged vector cache, a locked database, a full disk, a killed upload.

Each test breaks something the way it breaks in production and checks that the knowledge base
says so in one sentence, keeps what it had (`kb check` passes, earlier documents are intact and
found), and carries on once the fault is gone. The fake (hashing) embedder keeps them fast; the
one killing processes repeatedly is marked slow. Figures: docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT
from conftest import both_backends

from ingest.pipeline import IngestItem
from ingest.pipeline import Ingestor
from kb.embedder import HashingEmbedder
from kb.errors import StoreError
from kb.factory import open_store
from kb.index import VectorIndex
from kb.models import DocumentMeta
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb_cli.main import cli

QUERIES = [
    "savings from back office sharing",
    "what went wrong in Somerset",
    "Tayside Contracts joint committee",
    "Christie Commission prevention",
    "staff morale and redundancies",
    "procurement collaboration in Scotland",
]
MODES = ("hybrid", "semantic", "keyword")

# The tests that use a store (or a knowledge base on one) run on SQLite and on PostgreSQL;
# the vector cache's and the full disk's are SQLite's alone (see each).
pytestmark = both_backends


def kb_cli(data: Path, *args: str, env: dict | None = None):
    """`kb` in this process, against a data folder, with the fake embedder."""
    return CliRunner().invoke(
        cli, ["--data-dir", str(data), "--embedder", "hashing", *args], env=env or {}
    )


def open_kb(data: Path, database_url: str | None = None) -> KnowledgeBase:
    settings = Settings(
        data_dir=data, corpus_dir=ROOT / "corpus", embedder="hashing", database_url=database_url
    )
    return KnowledgeBase(open_store(settings), HashingEmbedder(), settings.index_path)


def hit_ids(kb: KnowledgeBase) -> dict[tuple[str, str], list[int]]:
    return {
        (query, mode): [hit.passage.id for hit in kb.search(query, k=10, mode=mode)]
        for query in QUERIES
        for mode in MODES
    }


@pytest.fixture(scope="module")
def corpus_data(tmp_path_factory) -> Path:
    """The default corpus ingested once into SQLite (fake embedder), with its vector cache
    saved. The cache is files in the data folder whichever store it is derived from; these
    tests copy the folder for each damage, which a PostgreSQL database is not part of."""
    data = tmp_path_factory.mktemp("corpus") / "data"
    result = kb_cli(data, "ingest")
    assert result.exit_code == 0, result.output
    return data


# --- the FAISS cache: lost or damaged, rebuilt from SQLite ----------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "both files deleted": lambda index, info: (index.unlink(), info.unlink()),
    "index deleted": lambda index, info: index.unlink(),
    "record deleted": lambda index, info: info.unlink(),
    "index cut in half": lambda index, info: _truncate(index),
    "index emptied": lambda index, info: index.write_bytes(b""),
    "index overwritten with junk": lambda index, info: index.write_bytes(os.urandom(4096)),
    "record is junk": lambda index, info: info.write_text("{not json"),
    "record miscounts": lambda index, info: info.write_text(
        json.dumps({**json.loads(info.read_text()), "count": 7})
    ),
    "record names another model": lambda index, info: info.write_text(
        json.dumps({**json.loads(info.read_text()), "model": "another/model"})
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_lost_or_damaged_vector_cache_is_rebuilt_with_the_same_results(
    corpus_data, tmp_path, damage
):
    data = tmp_path / "data"
    shutil.copytree(corpus_data, data)
    before = open_kb(data)
    expected = hit_ids(before)
    assert all(expected[(q, "hybrid")] for q in QUERIES)
    before.store.close()

    index, info = data / "index.faiss", data / "index.json"
    DAMAGE[damage](index, info)
    after = open_kb(data)  # as a freshly started process would
    assert hit_ids(after) == expected
    # The cache was written again, whole, for the store's current generation.
    record = json.loads(info.read_text())
    assert record["generation"] == after.store.generation()
    assert record["count"] == after.store.count_vectors() == len(after.index)
    assert not list(data.glob("*.tmp"))
    after.store.close()
    check = kb_cli(data, "check")
    assert check.exit_code == 0 and check.output.startswith("OK: 12 documents"), check.output


def test_cache_deleted_under_a_running_process_is_rebuilt_on_the_next_write(corpus_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus_data, data)
    kb = open_kb(data)
    expected = hit_ids(kb)
    (data / "index.faiss").unlink()
    (data / "index.json").unlink()
    assert hit_ids(kb) == expected  # the copy in memory serves on
    removed = kb.store.remove_document("tayside-contracts")
    assert removed.passage_count > 0
    hits = kb.search("Tayside Contracts joint committee", k=10)
    assert all(hit.document.id != "tayside-contracts" for hit in hits)
    assert len(kb.index) == kb.store.count_vectors()
    assert (data / "index.faiss").exists()  # saved again for the new generation


def test_a_passage_removed_by_another_process_mid_search_is_skipped(kb, raw_database, backend):
    """The index can name a passage that a concurrent write has just deleted: no KeyError."""
    kb.search("savings", k=5)  # the index is loaded for this generation
    victim = kb.search("duplicate payments invoice", k=1, mode="semantic")[0].passage
    # Deleted without bumping the generation: the window between two reads.
    if backend == "sqlite":
        raw_database.execute("DELETE FROM passages_fts WHERE rowid = ?", (victim.id,))
    raw_database.execute("DELETE FROM passages WHERE id = ?", (victim.id,))
    hits = kb.search("duplicate payments invoice", k=5)
    assert hits and victim.id not in [hit.passage.id for hit in hits]


@pytest.mark.parametrize("step", ["_build", "_apply"])
def test_threads_that_see_a_new_generation_update_the_index_once(kb, monkeypatch, step):
    """A rebuild (a fresh process, nothing saved) or an edit (a live index and one document
    removed) happens once, however many threads notice the new generation."""
    kb.search("savings", k=3)
    builds = []
    original = getattr(VectorIndex, step)

    def counting(self, *args):
        builds.append(threading.get_ident())
        time.sleep(0.05)  # long enough for every thread to arrive while it runs
        return original(self, *args)

    monkeypatch.setattr(VectorIndex, step, counting)
    if step == "_build":
        (kb.index.path).unlink()  # no saved copy to load: the new generation must be built
        kb.index = VectorIndex(kb.store, kb.index.path)
    kb.store.remove_document("tayside")
    errors: list[BaseException] = []

    def search() -> None:
        try:
            kb.search("joint committee councillors", k=3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(builds) == 1


# --- a database locked by another writer ------------------------------------------------------

HOLDER = r"""
import select, sys
if sys.argv[1].startswith("postgresql:"):  # the documents' writer lock (kb/store/postgres.py)
    import psycopg
    from kb.store.postgres import DOCUMENTS_LOCK
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    conn.execute("BEGIN")
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DOCUMENTS_LOCK,))
else:
    import sqlite3
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))  # until told (or a hang guard)
conn.execute("COMMIT")
"""


class Holder:
    """Another process holding the write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the
    documents' advisory lock) until released (or, as a guard against a hang, until `seconds`
    pass)."""

    def __init__(self, settings: Settings, seconds: float = 120) -> None:
        database = settings.database_url or str(settings.db_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, database, str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def ingested(settings, backend, tmp_path) -> Settings:
    """A knowledge base of the test's backend holding one note (`kb ingest`)."""
    note = tmp_path / "note.md"
    note.write_text("# A note\n\n## Findings\n\nShared services save little money.\n")
    assert kb_cli(settings.data_dir, "ingest", str(note)).exit_code == 0
    return settings


def _with_timeout(settings: Settings, seconds: float) -> Settings:
    return dataclasses.replace(settings, busy_timeout=seconds)


def test_a_write_waits_for_another_writer_and_then_succeeds(ingested):
    store = open_store(_with_timeout(ingested, 120))
    holder = Holder(ingested)
    removed = []
    writer = threading.Thread(target=lambda: removed.append(store.remove_document("note")))
    try:
        writer.start()
        writer.join(0.5)
        # Still waiting while the lock is held (a write that did not wait would be done: this
        # can only fail for that reason, never because the machine is slow).
        assert writer.is_alive() and not removed
    finally:
        holder.release()
    writer.join(120)
    assert [document.id for document in removed] == ["note"]
    assert store.list_documents() == []
    store.close()


def test_a_write_locked_past_the_busy_timeout_fails_in_one_sentence_and_changes_nothing(
    ingested,
):
    store = open_store(_with_timeout(ingested, 0.5))
    generation = store.generation()
    holder = Holder(ingested)
    try:
        other = open_store(_with_timeout(ingested, 0))  # opening a ready store writes nothing
        # It gives up, rather than waiting for the holder (which holds until released).
        with pytest.raises(StoreError) as caught:
            store.remove_document("note")
        # Reading goes on while the other process writes (SQLite: WAL).
        assert [d.id for d in other.list_documents()] == ["note"]
        other.close()
    finally:
        holder.release()
    assert str(caught.value) == (
        "The database is busy with another writer and stayed locked for 0.5 seconds; "
        "try again when that work finishes."
    )
    assert store.generation() == generation and store.get_document("note").passage_count
    store.remove_document("note")  # the lock is gone: the same write now succeeds
    store.close()


def test_kb_ingest_and_remove_under_a_lock_say_one_sentence_and_exit_1(ingested, tmp_path):
    other = tmp_path / "other.md"
    other.write_text("# Other\n\n## Text\n\nTayside Contracts is a joint committee.\n")
    data = ingested.data_dir
    holder = Holder(ingested)
    try:
        env = {"KB_BUSY_TIMEOUT": "0.3"}
        ingest = kb_cli(data, "ingest", str(other), env=env)
        remove = kb_cli(data, "remove", "note", env=env)
    finally:
        holder.release()
    busy = "The database is busy with another writer and stayed locked for 0.3 seconds"
    assert ingest.exit_code == 1 and "Traceback" not in ingest.output
    failed = [line for line in ingest.output.splitlines() if line.startswith("failed:")]
    assert failed == [f"failed: other.md: {busy}; try again when that work finishes."]
    said = remove.output.strip()
    assert remove.exit_code == 1 and said == f"Error: {busy}; try again when that work finishes."
    again = kb_cli(data, "ingest", str(other))
    assert again.exit_code == 0 and "1 added" in again.output
    assert kb_cli(data, "check").exit_code == 0


# --- a full disk ------------------------------------------------------------------------------


def _mount_small_disk(where: Path, megabytes: int) -> str:
    """Mount a small tmpfs at `where`, else a loop-mounted ext4 image; returns which, or skips."""
    where.mkdir(parents=True)
    tried = []
    tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)]
    done = subprocess.run(tmpfs, capture_output=True, text=True)
    if done.returncode == 0:
        return "tmpfs"
    tried.append(f"tmpfs: {done.stderr.strip()}")
    if shutil.which("mkfs.ext4"):
        image = where.with_suffix(".img")
        with open(image, "wb") as file:
            file.truncate(megabytes << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True)
        done = subprocess.run(
            ["mount", "-o", "loop", str(image), str(where)], capture_output=True, text=True
        )
        if done.returncode == 0:
            return "ext4"
        tried.append(f"loop ext4: {done.stderr.strip()}")
    pytest.skip("cannot mount a small file system here (" + "; ".join(tried) + ")")


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system of its own, unmounted afterwards."""
    where = tmp_path / "disk"
    _mount_small_disk(where, 3)
    yield where
    gc.collect()  # close any SQLite connection still open on it
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _document(number: int, paragraphs: int = 40) -> str:
    rng = random.Random(number)
    words = "council shared services savings staff costs payroll finance procurement".split()
    body = "\n\n".join(
        " ".join(rng.choice(words) for _ in range(60)) + f" marker{number}x{i}. Then more."
        for i in range(paragraphs)
    )
    return f"# Document {number}\n\n## Findings\n\nuniqueword{number} opens it.\n\n{body}\n"


def test_a_full_disk_fails_cleanly_and_keeps_what_was_stored(small_disk, tmp_path):
    """SQLite's alone: a PostgreSQL server's disk is the server's, not this machine's."""
    data = small_disk / "data"
    ballast = small_disk / "ballast"  # freed at the end, to show the next run completes
    ballast.write_bytes(b"\0" * 600_000)
    source = tmp_path / "source"
    source.mkdir()
    settings = Settings(data_dir=data, corpus_dir=ROOT / "corpus", busy_timeout=5)
    store = open_store(settings, create=True)
    ingestor = Ingestor(store, HashingEmbedder(), data / "files")
    stored: dict[str, int] = {}
    failures: list[str] = []

    # 1. New documents until the disk is full (the kept copy or the database runs out).
    for number in range(60):
        path = source / f"doc{number:02d}.md"
        path.write_text(_document(number))
        outcome = ingestor.ingest_one(IngestItem(path))
        if outcome.status == "failed":
            failures.append(outcome.reason)
            break
        stored[outcome.document_id] = outcome.passages
    assert failures and len(stored) >= 2, (failures, stored)

    # 2. The same bytes under new ids: the kept copy exists, so only SQLite needs the space.
    first = source / "doc00.md"
    for number in range(30):
        meta = DocumentMeta(f"copy-{number}", f"Copy {number}", "Us", 2024, "report")
        outcome = ingestor.ingest_one(IngestItem(first, meta))
        if outcome.status == "failed":
            failures.append(outcome.reason)
            break
        stored[outcome.document_id] = outcome.passages
    assert failures[-1] == f"The disk is full at {data}; nothing was written.", failures
    for reason in failures:
        assert "\n" not in reason and reason.endswith("."), reason
        assert "disk is full" in reason or "No space left on device" in reason, reason

    # 3. `kb ingest` on the full disk: one sentence, exit 1, no traceback.
    late = source / "late.md"
    late.write_text(_document(99, paragraphs=10))
    result = kb_cli(data, "ingest", str(late))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "failed: late.md: " in result.output

    # 4. Nothing half-written: the store checks out (the vector cache, which cannot be saved
    # now, is built in memory), no temporary file is left, every document is whole and found.
    store.close()
    gc.collect()
    check = kb_cli(data, "check")
    assert check.exit_code == 0, check.output
    assert check.output.startswith(f"OK: {len(stored)} documents")
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]
    kb = open_kb(data)
    assert {d.id: d.passage_count for d in kb.store.list_documents()} == stored
    for number in range(len([d for d in stored if d.startswith("doc")])):
        hits = kb.search(f"uniqueword{number}", k=3, mode="keyword")
        assert hits and hits[0].document.id == f"doc{number:02d}"
    kb.store.close()

    # 5. Space again: the document that failed goes in.
    ballast.unlink()
    again = kb_cli(data, "ingest", str(late))
    assert again.exit_code == 0 and "1 added" in again.output, again.output
    assert kb_cli(data, "check").exit_code == 0


# --- SIGKILL while an upload is being written -------------------------------------------------

UPLOADER = r"""
import sys, tempfile
from pathlib import Path
from ingest.pipeline import IngestItem, Ingestor
from kb.embedder import HashingEmbedder
from kb.factory import open_store
from kb.pause import pause_after
from kb.settings import Settings
data, source, after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
store = open_store(Settings(data_dir=data, database_url=sys.argv[4] or None), create=True)
if after:  # stop inside a document's transaction after that many passages (kb/pause.py)
    store.on_passage_written = pause_after(after, data / "paused")
ingestor = Ingestor(store, HashingEmbedder(), data / "files")
for path in sorted(source.glob("*.md")):
    # As an upload: the bytes land in a temporary file, which is taken in and then removed.
    with tempfile.TemporaryDirectory() as folder:
        upload = Path(folder) / path.name
        upload.write_bytes(path.read_bytes())
        outcome = ingestor.ingest_one(IngestItem(upload))
    print(outcome.status, outcome.document_id, outcome.passages, flush=True)
"""


def _wait_for_pause(marker: Path, proc, hang_seconds: float = 300) -> dict:
    deadline = time.monotonic() + hang_seconds  # a guard against a hang, not a speed limit
    while not marker.exists():
        assert proc.poll() is None, "the uploader ended without pausing"
        assert time.monotonic() < deadline, "the uploader never reached the pause"
        time.sleep(0.05)
    return json.loads(marker.read_text())


@pytest.mark.slow
def test_sigkill_while_an_upload_is_written_leaves_a_consistent_store(tmp_path, backend_settings):
    """A killed writer leaves nothing half-written: SQLite rolls its journal back on the next
    open, PostgreSQL the dead connection's transaction at once."""
    data, source = backend_settings.data_dir, tmp_path / "uploads"
    source.mkdir()
    for number in range(12):
        (source / f"upload{number:02d}.md").write_text(_document(number, paragraphs=150))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    uploader = [sys.executable, "-c", UPLOADER, str(data), str(source)]
    database = backend_settings.database_url or ""
    # Killed inside a document's transaction after this many of its passages: at its start,
    # in its middle, and one passage before its end.
    for after in (1, 20, 5, 40):
        marker = data / "paused"
        marker.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [*uploader, str(after), database], stdout=subprocess.DEVNULL, env=env
        )
        try:
            paused = _wait_for_pause(marker, proc)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert paused["written"] == after < paused["total"], paused  # mid-document
        store = open_store(backend_settings)
        assert store.check() == []
        counts = {d.id: d.passage_count for d in store.list_documents()}
        store.close()
        assert paused["document"] not in counts, paused
        check = kb_cli(data, "check")
        assert check.exit_code == 0, check.output
        assert check.output.startswith(f"OK: {len(counts)} documents")
    done = subprocess.run(
        [*uploader, "0", database], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    statuses = [line.split()[0] for line in done.stdout.splitlines() if " " in line]
    assert len(statuses) == 12 and set(statuses) <= {"added", "unchanged"}
    final = kb_cli(data, "check")
    assert final.exit_code == 0 and final.output.startswith("OK: 12 documents"), final.output
    # Every document whole: as many passages as a clean run gives it.
    clean_store = open_store(Settings(data_dir=tmp_path / "clean"), create=True)
    clean = Ingestor(clean_store, HashingEmbedder(), tmp_path / "f")
    store = open_store(backend_settings)
    for path in sorted(source.glob("*.md")):
        expected = clean.ingest_one(IngestItem(path)).passages
        assert store.get_document(path.stem).passage_count == expected
