"""PostgreSQL unreachable: once a server has found the database server gone, every request
fails at once with StoreUnavailable (a 503, not a wait for the connection pool's timeout),
and works again, without a restart, as soon as the server is back."""

from __future__ import annotations

import time

import pytest

from kb.errors import StoreUnavailable

pytestmark = pytest.mark.postgres
postgres = pytest.importorskip("kb.store.postgres")


def test_an_unreachable_server_fails_at_once_and_is_used_again_when_back(
    postgres_database, monkeypatch
):
    store = postgres.PostgresStore(postgres_database)
    try:
        generation = store.generation()
        reachable = store.url
        store.url = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
        store._probe()  # as after a failed statement: the server is not there

        def no_pool_wait(*args, **kwargs):
            raise AssertionError("waited for the pool while the server was known to be down")

        monkeypatch.setattr(store._pool, "connection", no_pool_wait)
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            store.generation()
        monkeypatch.undo()

        store.url = reachable  # the server is back
        time.sleep(postgres.UNREACHABLE_RETRY_SECONDS)  # the next request probes it again
        assert store.generation() == generation
    finally:
        store.close()


# -- the connection lost in the middle of a job ------------------------------------------------


def _terminate_own_backend_after(store, server: str, passages: int) -> list[int]:
    """Have the server end the connection writing the document once `passages` of it are
    written (pg_terminate_backend from another connection, waiting until it is gone), the
    first time only; the backend pids ended are returned in the list."""
    import psycopg

    ended: list[int] = []

    def written(document_id: str, done: int, total: int) -> None:
        if ended or done != passages:
            return
        # On this thread's open transaction: the backend that is writing the document.
        pid = store.connection().execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(server, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]
        ended.append(pid)

    store.on_passage_written = written
    return ended


def _paragraphs(count: int) -> bytes:
    lines = ["# Payroll sharing"] + [
        f"Paragraph {n} says that council number {n} shared its payroll service with "
        f"neighbour {n + 1}, and that the saving was reported as {n}.{n % 10} per cent."
        for n in range(count)
    ]
    return ("\n\n".join(lines) + "\n").encode()


def test_a_connection_lost_mid_write_stores_nothing_and_the_job_is_tried_again(
    postgres_database, tmp_path, embedder, caplog
):
    import hashlib

    from conftest import build_corpus

    from ingest.jobrunner import JobRunner
    from ingest.pipeline import Ingestor
    from ingest.service import DocumentService
    from kb.jobs import Jobs
    from kb.models import DocumentMeta
    from kb.originals import Originals

    store = postgres.PostgresStore(postgres_database)
    try:
        build_corpus(store, embedder)
        before = {d.id: d.passage_count for d in store.list_documents()}
        data = _paragraphs(120)
        sha = hashlib.sha256(data).hexdigest()
        originals = Originals(store, tmp_path / "files", "database")
        originals.keep(sha, ".md", data)
        meta = DocumentMeta("payroll", "Payroll sharing", "Test Unit", 2024, "report", "", ())
        jobs = Jobs(store)
        job = jobs.create(action="add", user="ada", file_name="p.md", sha256=sha, meta=meta)
        ingestor = Ingestor(store, embedder, tmp_path / "files", originals=originals)
        runner = JobRunner(DocumentService(store, ingestor=ingestor), jobs, originals, tmp_path)
        ended = _terminate_own_backend_after(store, postgres_database, passages=5)

        first = runner.run_next()

        assert ended, "the connection was not ended mid-write"
        assert (first.id, first.status, first.attempts) == (job.id, "queued", 1)
        assert {d.id: d.passage_count for d in store.list_documents()} == before  # no half
        assert store.check() == []
        assert originals.has(sha)  # kept for the next try
        lost = [r for r in caplog.records if r.name == "ingest.jobrunner"]
        assert len(lost) == 1 and lost[0].exc_info is None
        assert "lost the connection to the database mid-job" in lost[0].getMessage()
        assert "tried again" in lost[0].getMessage()

        again = runner.run_next()
        assert (again.id, again.status, again.outcome, again.attempts) == (
            job.id,
            "done",
            "added",
            2,
        )
        assert store.get_document("payroll").passage_count == again.passages > 5
        assert store.check() == []
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_servers_upload_thread_tries_again_after_the_connection_is_lost(
    logged_in, app, postgres_server, caplog
):
    """The same through a server's own upload thread (web.uploads.UploadWorker): the upload
    the researcher sent is stored whole, on its second try, and the page never says failed."""
    from test_upload import upload
    from test_upload import wait_for_job

    store = app.extensions["kb"].store
    ended = _terminate_own_backend_after(store, store.url, passages=5)
    response = upload(logged_in, _paragraphs(120), "payroll.md", **_FORM)
    assert response.status_code == 303, response.get_data(as_text=True)
    job = wait_for_job(logged_in, response.headers["Location"])
    assert ended, "the connection was not ended mid-write"
    assert (job["status"], job["outcome"], job["attempts"]) == ("done", "added", 2)
    assert store.get_document(job["document_id"]).passage_count == job["passages"] > 5
    assert store.check() == []
    lost = [r for r in caplog.records if r.name == "ingest.jobrunner"]
    assert len(lost) == 1 and lost[0].exc_info is None, [r.getMessage() for r in lost]


_FORM = {"title": "Payroll sharing", "publisher": "Test Unit", "year": "2024", "kind": "report"}
