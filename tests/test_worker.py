"""The upload queue and its workers: atomic claims, leases that let another worker take over a
dead worker's job, servers that only queue, `kb worker`, originals kept in the database, the
index reloaded on a change, and a clear 503 while the database cannot be reached."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import ROOT
from conftest import build_corpus
from conftest import log_in
from test_faults import _wait_for_pause
from test_upload import META
from test_upload import PHRASE
from test_upload import make_pdf
from test_upload import titles_found
from test_upload import upload
from test_upload import wait_for_job

from ingest.jobrunner import JobRunner
from ingest.pipeline import Ingestor
from ingest.service import DocumentService
from kb.errors import StoreUnavailable
from kb.factory import open_store
from kb.jobs import CONNECTION_LOST
from kb.jobs import DIED
from kb.jobs import LOST_EVERY_TIME
from kb.jobs import MAX_ATTEMPTS
from kb.jobs import Jobs
from kb.models import DocumentMeta
from kb.originals import Originals
from kb.reload import IndexReloader
from kb.search import KnowledgeBase
from kb_cli.main import cli
from web import create_app

A_META = DocumentMeta("a", "A", "Test Unit", 2024, "report", "", ("x",))


def queue_job(store, sha256: str = "0" * 64, meta: DocumentMeta = A_META):
    return Jobs(store).create(action="add", user="ada", file_name="a.md", sha256=sha256, meta=meta)


def expire_lease(store, job_id: str) -> None:
    store.connection().execute(
        "UPDATE jobs SET lease_until = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (job_id,)
    )


# -- the queue: claims and leases -------------------------------------------------------------


def test_a_job_is_claimed_by_one_worker_only(store):
    job = queue_job(store)
    jobs = Jobs(store)
    claimed = jobs.claim("first")
    assert claimed is not None and claimed.id == job.id
    assert (claimed.status, claimed.worker, claimed.attempts) == ("running", "first", 1)
    assert jobs.claim("second") is None  # its lease holds
    assert claimed.document_meta == A_META


def test_concurrent_claims_never_share_a_job(settings, store):
    ids = {queue_job(store, sha256=f"{n:064d}").id for n in range(12)}
    taken: list[str] = []
    lock = threading.Lock()

    def claim_all(name: str) -> None:
        own = open_store(settings)  # a process of its own would have its own store
        try:
            while (job := Jobs(own).claim(name)) is not None:
                with lock:
                    taken.append(job.id)
        finally:
            own.close()

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)  # each job once, none left


def test_a_dead_workers_job_is_claimed_again_after_its_lease(store):
    job = queue_job(store)
    jobs = Jobs(store)
    assert jobs.claim("dead", lease_seconds=30).id == job.id
    assert jobs.claim("alive") is None
    expire_lease(store, job.id)  # no heartbeat came: the worker is gone
    again = jobs.claim("alive")
    assert (again.id, again.worker, again.attempts) == (job.id, "alive", 2)
    assert not jobs.renew(job.id, "dead")  # the first worker's lease is lost for good
    assert jobs.renew(job.id, "alive")


def test_a_job_that_kills_every_worker_is_failed_after_its_attempts(store):
    job = queue_job(store)
    jobs = Jobs(store)
    for _ in range(MAX_ATTEMPTS):
        assert jobs.claim("doomed").id == job.id
        expire_lease(store, job.id)
    assert jobs.claim("next") is None
    failed = jobs.get(job.id)
    assert (failed.status, failed.outcome, failed.message) == ("failed", "failed", DIED)
    assert jobs.pending() == []


def test_a_job_whose_connection_is_lost_every_time_is_failed_saying_so(store):
    job = queue_job(store)
    jobs = Jobs(store)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert jobs.claim("cut-off").attempts == attempt
        assert jobs.release(job.id, "cut-off", CONNECTION_LOST)
        assert not jobs.release(job.id, "cut-off", CONNECTION_LOST)  # no longer its own
        assert (jobs.get(job.id).status, jobs.get(job.id).message) == ("queued", CONNECTION_LOST)
    assert jobs.claim("next") is None
    failed = jobs.get(job.id)
    assert (failed.status, failed.message) == ("failed", LOST_EVERY_TIME)


def test_a_job_whose_last_worker_died_is_failed_as_died_whatever_an_earlier_try_said(store):
    job = queue_job(store)
    jobs = Jobs(store)
    assert jobs.claim("cut-off").attempts == 1
    assert jobs.release(job.id, "cut-off", CONNECTION_LOST)
    for _ in range(2, MAX_ATTEMPTS + 1):
        assert jobs.claim("doomed").message == ""  # a running job's message is its own try's
        expire_lease(store, job.id)  # killed: no heartbeat, no message
    assert jobs.claim("next") is None
    assert jobs.get(job.id).message == DIED


def test_a_job_is_recorded_done_in_its_documents_transaction(kb, settings, store, embedder):
    """A worker killed right after the document's commit leaves its job done, not running (a
    second worker would otherwise find the document already there and say "unchanged")."""
    if store.dialect != "sqlite":
        pytest.skip("reads SQLite's own transaction flag")
    data = f"# Notes\n\n{PHRASE}\n".encode()
    sha = hashlib.sha256(data).hexdigest()
    originals = Originals(store, settings.files_dir)
    originals.keep(sha, ".md", data)
    job = queue_job(store, sha256=sha)
    jobs = Jobs(store)
    seen: list[tuple[str, bool]] = []
    finish = jobs.finish

    def watched_finish(job_id, outcome, **kwargs):
        seen.append((outcome, store.connection().in_transaction))
        finish(job_id, outcome, **kwargs)

    jobs.finish = watched_finish
    runner = JobRunner(
        DocumentService(store, ingestor=Ingestor(store, embedder, settings.files_dir)),
        jobs,
        originals,
        settings.data_dir / "uploads",
    )
    assert runner.run_next().outcome == "added"
    assert seen == [("added", True)]
    assert jobs.get(job.id).status == "done"


def test_the_heartbeat_keeps_a_long_job_its_own(kb, settings, store):
    """A job running longer than its lease is not taken by another worker meanwhile."""
    release = threading.Event()
    embedding = threading.Event()

    class SlowEmbedder(type(kb.embedder)):
        def embed(self, texts):
            embedding.set()
            assert release.wait(30)
            return super().embed(texts)

    originals = Originals(store, settings.files_dir)
    data = f"# Notes\n\n{PHRASE}\n".encode()

    sha = hashlib.sha256(data).hexdigest()
    originals.keep(sha, ".md", data)
    job = queue_job(store, sha256=sha)
    runner = JobRunner(
        DocumentService(store, ingestor=Ingestor(store, SlowEmbedder(), settings.files_dir)),
        Jobs(store),
        originals,
        settings.data_dir / "uploads",
        lease_seconds=0.6,
    )
    done: list = []
    thread = threading.Thread(target=lambda: done.append(runner.run_next()))
    thread.start()
    assert embedding.wait(30)
    time.sleep(1.5)  # more than two leases: only the heartbeat can have kept it
    other = open_store(settings)
    try:
        assert Jobs(other).claim("other", lease_seconds=0.6) is None
    finally:
        other.close()
    release.set()
    thread.join(30)
    assert done[0].id == job.id and done[0].outcome == "added" and done[0].attempts == 1


# -- servers that only queue, and `kb worker` ---------------------------------------------------


@pytest.fixture
def queue_only(kb, settings, researcher):
    """A server that only queues uploads (KB_UPLOADS=queue), logged in, its originals kept in
    the database (KB_ORIGINALS=database)."""
    settings = replace(settings, uploads="queue", originals="database")
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    client = app.test_client()
    assert log_in(client).status_code == 303
    return app, client, settings


def test_a_queue_only_server_leaves_the_upload_to_kb_worker(queue_only, tmp_path):
    app, client, settings = queue_only
    location = upload(client, make_pdf(PHRASE), "quokka.pdf", **META).headers["Location"]
    time.sleep(0.3)  # nothing in this process takes it in
    job_id = location.rsplit("/", 1)[-1]
    assert client.get(f"/admin/jobs/{job_id}").get_json()["status"] == "queued"
    assert META["title"] not in titles_found(client, "quokka procurement consortium")

    env = {"KB_UPLOADS": "queue", "KB_ORIGINALS": "database", "KB_OCR": "off"}
    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(settings.data_dir), "--embedder", "hashing", "worker", "--once"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "added: quokka-payroll-study (quokka.pdf, 1 passages)" in result.output
    job = wait_for_job(client, location)
    assert job["outcome"] == "added" and job["attempts"] == 1
    # Found through the server that queued it, without a restart; audited as its uploader.
    assert titles_found(client, "quokka procurement consortium")[0] == META["title"]
    entry = app.extensions["audit"].entries()[0]
    assert (entry.user, entry.action, entry.document_id) == ("ada", "add", job["document_id"])


def test_originals_kept_in_the_database_are_served_from_there(queue_only):
    app, client, settings = queue_only
    pdf = make_pdf(PHRASE)
    location = upload(client, pdf, "quokka.pdf", **META).headers["Location"]
    kb = app.extensions["kb"]
    runner = JobRunner(
        DocumentService(
            kb.store,
            ingestor=Ingestor(
                kb.store, kb.embedder, settings.files_dir, originals=app.extensions["originals"]
            ),
        ),
        app.extensions["jobs"],
        app.extensions["originals"],
        settings.data_dir / "uploads",
    )
    assert runner.run_next().outcome == "added"
    document = kb.store.get_document(wait_for_job(client, location)["document_id"])
    assert document.file_path == f"{document.sha256}.pdf"  # a name, in no folder
    assert not settings.files_dir.exists() or not any(settings.files_dir.iterdir())
    page = client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Open the original file (PDF)" in page
    served = client.get(f"/files/{document.id}")
    assert served.status_code == 200 and served.mimetype == "application/pdf"
    assert served.data == pdf


def test_a_failed_job_does_not_keep_its_file(queue_only):
    app, client, settings = queue_only
    scan = make_pdf(None)  # no text layer, OCR off: refused by the worker
    location = upload(client, scan, "scan.pdf", **META).headers["Location"]
    originals: Originals = app.extensions["originals"]
    job_id = location.rsplit("/", 1)[-1]
    sha = app.extensions["jobs"].get(job_id).sha256
    assert originals.read(sha) == scan  # kept for the worker
    kb = app.extensions["kb"]
    runner = JobRunner(
        DocumentService(
            kb.store,
            ingestor=Ingestor(kb.store, kb.embedder, settings.files_dir, originals=originals),
        ),
        app.extensions["jobs"],
        originals,
        settings.data_dir / "uploads",
    )
    assert runner.run_next().status == "failed"
    assert originals.read(sha) is None


# -- a worker killed mid-ingest -----------------------------------------------------------------


def _document(paragraphs: int) -> str:
    lines = [f"# Shared services evidence {paragraphs}"]
    for n in range(paragraphs):
        lines.append(
            f"Paragraph {n} says that council number {n} shared its payroll service with "
            f"neighbour {n + 1}, and that the saving was reported as {n}.{n % 10} per cent."
        )
    return "\n\n".join(lines) + "\n"


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_ingest_leaves_no_half_document(settings, store, embedder):
    """`kill -9` of `kb worker` inside the document's transaction: nothing of the document is
    stored, and a worker started afterwards takes the job again and completes it."""
    build_corpus(store, embedder)
    data = _document(120).encode()

    sha = hashlib.sha256(data).hexdigest()
    Originals(store, settings.files_dir).keep(sha, ".md", data)
    meta = DocumentMeta("killed", "Killed mid-ingest", "Test Unit", 2024, "report", "", ())
    job = queue_job(store, sha256=sha, meta=meta)
    before = {d.id: d.passage_count for d in store.list_documents()}
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KB_DATA_DIR": str(settings.data_dir),
        "KB_EMBEDDER": "hashing",
        "KB_OCR": "off",
        "KB_JOB_LEASE_SECONDS": "1",
    }
    kb_command = [sys.executable, "-c", "from kb_cli.main import main; main()"]
    marker = settings.data_dir / "paused"
    worker = subprocess.Popen(
        [*kb_command, "worker", "--poll", "0.1"],
        env={**env, "KB_TEST_PAUSE_AFTER_PASSAGES": "10"},
        stdout=subprocess.DEVNULL,
    )
    try:
        paused = _wait_for_pause(marker, worker)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    assert paused["document"] == "killed" and paused["written"] == 10 < paused["total"]
    assert {d.id: d.passage_count for d in store.list_documents()} == before  # no half
    assert store.check() == []
    assert Jobs(store).get(job.id).status == "running"  # until its lease runs out

    again = subprocess.run(
        [*kb_command, "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    finished = Jobs(store).get(job.id)
    if finished.status == "running":  # the lease had not run out yet when it looked
        time.sleep(1.5)
        subprocess.run(again.args, env=env, check=True, capture_output=True, timeout=300)
        finished = Jobs(store).get(job.id)
    assert (finished.status, finished.outcome, finished.attempts) == ("done", "added", 2)
    assert store.get_document("killed").passage_count == paused["total"]
    assert store.check() == []


# -- every server reloads its index when any process changes the store -------------------------


def test_wait_for_change_returns_on_a_change_and_otherwise_after_its_timeout(settings, store):
    start = store.generation()
    assert store.wait_for_change(start, 0.3) == start
    other = open_store(settings)
    try:

        def bump():
            with other.transaction():
                pass

        timer = threading.Timer(0.2, bump)
        timer.start()
        assert store.wait_for_change(start, 30) == start + 1
        timer.join()
    finally:
        other.close()


def test_another_servers_index_is_reloaded_without_a_search(settings, store, embedder):
    build_corpus(store, embedder)
    other_store = open_store(settings)
    other = KnowledgeBase(other_store, embedder, settings.data_dir / "other.faiss")
    reloads: list[int] = []
    reloaded = threading.Event()
    reloader = IndexReloader(other, on_reload=lambda g: (reloads.append(g), reloaded.set()))
    reloader.start()
    try:
        assert reloaded.wait(30)  # the first load
        reloaded.clear()
        first = other.index.generation
        data = f"# Notes\n\n{PHRASE}\n".encode()
        path = settings.data_dir / "notes.md"
        path.write_bytes(data)
        from ingest.pipeline import IngestItem

        outcome = Ingestor(store, embedder, settings.files_dir).ingest_one(IngestItem(path))
        assert outcome.status == "added"
        assert reloaded.wait(30)
        # Reloaded by the thread at the new generation, before any search asked for it.
        assert reloads[-1] == other.index.generation == store.generation() > first
    finally:
        reloader.stop(5)
        other_store.close()


# -- the database unreachable: 503, one sentence, and recovery ----------------------------------


def test_an_unreachable_database_is_a_503_with_one_sentence_and_recovers(app, client):
    store = app.extensions["kb"].store
    down = threading.Event()
    real = store.keyword_search

    def keyword_search(*args, **kwargs):
        if down.is_set():
            raise StoreUnavailable("connection refused")
        return real(*args, **kwargs)

    store.keyword_search = keyword_search
    down.set()
    api = client.get("/api/search?q=savings&mode=keyword")
    assert api.status_code == 503 and api.headers["Retry-After"]
    body = api.get_json()
    assert body["status"] == 503
    assert body["error"] == (
        "The knowledge base's database cannot be reached right now, so nothing was done; "
        "try again in a minute."
    )
    page = client.get("/?q=savings&mode=keyword")
    assert page.status_code == 503 and "cannot be reached right now" in page.get_data(True)
    down.clear()  # the database is back: the same process answers again
    assert client.get("/api/search?q=savings&mode=keyword").status_code == 200


def test_a_driver_error_for_an_unreachable_server_is_a_503_too():
    from web.errors import database_unreachable

    OperationalError = type("OperationalError", (Exception,), {"__module__": "psycopg"})
    PoolTimeout = type("PoolTimeout", (Exception,), {"__module__": "psycopg_pool"})
    assert database_unreachable(OperationalError("connection refused"))
    assert database_unreachable(PoolTimeout("no connection in 30 s"))
    assert not database_unreachable(ValueError("a bug of ours"))
