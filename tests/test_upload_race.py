"""Two uploads at the same moment, on both databases: the checks that depend on what else is
stored or queued (a free id, the same file already being added) and the job's creation are one
write transaction (DocumentService.queue_upload), so two requests cannot both pass them.

Each test holds both requests just before their job is recorded, until the other request gets
there too (at most a few seconds): where the check and the creation are separate, both meet
there having passed the check; where they are one transaction, the second request is still
waiting for the first one's write lock, so they never meet."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import both_backends
from conftest import log_in
from test_upload import META
from test_upload import text_of
from test_upload import upload
from test_upload import wait_for_job

from kb.jobs import Jobs

pytestmark = both_backends


@pytest.fixture
def met_at_job_creation(monkeypatch) -> list[bool]:
    """Holds each request just before it records its job until the other one is there too;
    the list says, per request, whether they met there (True) or one waited alone (False)."""
    barrier = threading.Barrier(2)
    met: list[bool] = []
    create = Jobs.create

    def held(self, **values):
        try:
            barrier.wait(timeout=3)
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        return create(self, **values)

    monkeypatch.setattr(Jobs, "create", held)
    return met


def _at_once(app, logged_in, files: list[tuple[bytes, str, dict]]) -> list:
    """POST the upload form once per file, each from its own logged-in browser, at once."""
    other = app.test_client()
    assert log_in(other).status_code == 303
    clients = [logged_in, other]
    responses: list = [None] * len(files)

    def send(n: int) -> None:
        data, name, fields = files[n]
        responses[n] = upload(clients[n], data, name, **fields)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return responses


def test_two_files_with_the_same_title_at_once_get_their_own_ids(
    logged_in, app, met_at_job_creation
):
    """Both passed "is the id free?" before either recorded its job, so both took the same id
    and the second file replaced the first document."""
    store = app.extensions["kb"].store
    before = len(store.list_documents())
    first = b"# Notes\n\nThe quokka consortium shared its payroll in 2019.\n"
    second = b"# Notes\n\nThe wombat consortium shared its finance service in 2021.\n"
    responses = _at_once(app, logged_in, [(first, "a.md", META), (second, "b.md", META)])
    assert [r.status_code for r in responses] == [303, 303], [text_of(r) for r in responses]
    jobs = [wait_for_job(logged_in, r.headers["Location"]) for r in responses]
    assert sorted(job["document_id"] for job in jobs) == [
        "quokka-payroll-study",
        "quokka-payroll-study-2",
    ]
    assert [job["outcome"] for job in jobs] == ["added", "added"]
    assert len(store.list_documents()) == before + 2
    assert met_at_job_creation == [False, False]  # one after the other, never both checked


def test_the_same_file_twice_at_once_is_taken_once_and_refused_once(
    logged_in, app, met_at_job_creation
):
    """The same file under two titles at the same moment: one upload goes ahead, the other is
    told in one sentence that it is being added right now, or is already in (before: both
    were queued, and the knowledge base held the same file twice)."""
    data = b"# Notes\n\nThe quokka consortium shared its payroll in 2019.\n"
    other_title = {**META, "title": "Quokka payroll, again"}
    responses = _at_once(app, logged_in, [(data, "a.md", META), (data, "b.md", other_title)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303, 409], [text_of(r) for r in responses]
    refused = text_of(next(r for r in responses if r.status_code == 409))
    # Being added, or already added if the first one's worker was quicker than this request.
    said = re.search(
        r"[ab]\.md is (being added right now|already in the knowledge base) as", refused
    )
    assert said, refused
    assert len(app.extensions["jobs"].recent()) == 1
    accepted = next(r for r in responses if r.status_code == 303)
    assert wait_for_job(logged_in, accepted.headers["Location"])["outcome"] == "added"
    assert met_at_job_creation == [False]  # the refused one never got as far as its job


def test_a_file_forgotten_between_keeping_it_and_queueing_it_is_kept_again(
    logged_in, app, monkeypatch
):
    """Another upload of the same file may fail just after this one kept the file and before
    its job is queued; its worker then forgets the file (no job used it yet). The job queued
    after that must still find its file (before: it failed, unable to read it)."""
    from ingest.service import DocumentService

    claim_place = DocumentService._claim_place

    def forgotten_first(self, submission, replacing):
        self.originals.discard(submission.sha256)  # what the other upload's failure does
        return claim_place(self, submission, replacing)

    monkeypatch.setattr(DocumentService, "_claim_place", forgotten_first)
    data = b"# Notes\n\nThe quokka consortium shared its payroll in 2019.\n"
    response = upload(logged_in, data, "a.md", **META)
    assert response.status_code == 303, text_of(response)
    job = wait_for_job(logged_in, response.headers["Location"])
    assert job["outcome"] == "added", job
