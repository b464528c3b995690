"""Running queued upload jobs: what `kb worker` and a server's own upload thread both do.

A runner claims the oldest job (kb.jobs), renews its lease on a heartbeat thread while it works,
reads the file from where the server kept it (kb.originals), takes it in through the document
service (ingest.service), which writes the document and its audit entry in one transaction,
and records the outcome. If
the process dies at any point, the lease runs out and another runner takes the job again; the
document was written in one transaction, so nothing of the first try is left behind.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ingest.pipeline import Outcome
from ingest.service import DocumentService
from ingest.service import Submission
from kb.errors import StoreUnavailable
from kb.jobs import CONNECTION_LOST
from kb.jobs import DEFAULT_LEASE_SECONDS
from kb.jobs import Job
from kb.jobs import Jobs
from kb.jobs import worker_name
from kb.originals import Originals

# A scratch copy older than this belongs to a process that died mid-job (a live job's copy is
# removed when it ends); such folders are swept when a runner starts.
STALE_COPY_SECONDS = 24 * 3600
FAILED_UNEXPECTEDLY = (
    "Something went wrong on our side while taking the file in, so nothing was stored; "
    "try again later."
)
FILE_GONE = "The uploaded file is no longer kept anywhere, so nothing was stored; upload it again."
_log = logging.getLogger(__name__)


class JobRunner:
    """Claims queued upload jobs and takes their files in, one at a time.

    Args:
        documents: the document service, with its pipeline (a store and an embedder): it
            takes the file in and writes the audit entry in the same transaction.
        jobs: the queue.
        originals: where the servers kept the uploaded files.
        scratch_dir: a folder on this machine for the copy a job's file is read from.
        lease_seconds: how long a claim holds without a heartbeat (renewed every third of it).
        name: this runner's name in the jobs it claims (default: host, pid and a random part).
    """

    def __init__(
        self,
        documents: DocumentService,
        jobs: Jobs,
        originals: Originals,
        scratch_dir: Path,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        name: str | None = None,
    ) -> None:
        self.documents = documents
        self.jobs = jobs
        self.originals = originals
        self.lease_seconds = lease_seconds
        self.name = name or worker_name()
        self.scratch_dir = Path(scratch_dir)
        self._sweep()

    def _sweep(self) -> None:
        """Delete the scratch copies that dead processes left behind."""
        if not self.scratch_dir.is_dir():
            return
        cutoff = time.time() - STALE_COPY_SECONDS
        for folder in self.scratch_dir.glob("upload-*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue

    def run_next(self) -> Job | None:
        """Claim the next job and run it to its end; None when no job was waiting."""
        job = self.jobs.claim(self.name, self.lease_seconds)
        if job is None:
            return None
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(job.id, stop), name="kb-job-lease", daemon=True
        )
        beat.start()
        try:
            self._run(job)
        finally:
            stop.set()
            beat.join()
        return self.jobs.get(job.id)

    def run(
        self,
        stop: threading.Event,
        poll_seconds: float | None = 1.0,
        on_job: Callable[[Job], None] | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        """Run jobs until `stop` is set (the job in hand is finished first).

        Args:
            stop: set to stop.
            poll_seconds: when idle, look for new jobs this often; None: only when woken.
            on_job: told of each finished job.
            wake: set by whoever queues a job in this process, to look at once.
        """
        wake = wake or stop
        while not stop.is_set():
            try:
                job = self.run_next()
                if job is not None:
                    if on_job is not None:
                        on_job(job)
                    continue
            except StoreUnavailable as exc:
                # One line, not a traceback every round while the database is away.
                _log.warning("Could not look for upload jobs; trying again shortly: %s", exc)
            except Exception:
                # Anything else: wait and try again, never die of it.
                _log.exception("Could not take the next upload job; trying again shortly")
            wake.wait(poll_seconds)
            if wake is not stop:
                wake.clear()

    def _heartbeat(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                if not self.jobs.renew(job_id, self.name, self.lease_seconds):
                    _log.warning("Upload job %s is no longer held by this worker", job_id)
                    return
            except StoreUnavailable as exc:
                _log.warning("Could not renew the lease on upload job %s: %s", job_id, exc)
            except Exception:
                _log.exception("Could not renew the lease on upload job %s", job_id)

    def _run(self, job: Job) -> None:
        try:
            data = self.originals.read(job.sha256)
            if data is None:
                self.jobs.finish(job.id, "failed", message=FILE_GONE)
                return
            submission = Submission(job.document_meta, job.file_name, job.sha256, None, len(data))
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="upload-", dir=self.scratch_dir) as folder:
                # display_name (web.uploads) made the name plain: no folders in it.
                path = Path(folder) / Path(job.file_name).name
                path.write_bytes(data)
                progress: Callable[[str, int, int], None] = partial(self.jobs.progress, job.id)
                done_with_document: list[Outcome] = []

                def finish_with_document(outcome: Outcome, _meta) -> None:
                    # Inside the document's transaction: the job is done exactly when the
                    # document is written, even if this worker is killed right after.
                    self.jobs.finish(job.id, outcome.status, passages=outcome.passages)
                    done_with_document.append(outcome)

                outcome = self.documents.take_in(
                    submission,
                    path,
                    user=job.user,
                    on_progress=progress,
                    on_written=finish_with_document,
                )
            if outcome.status == "failed":
                self._fail(job, outcome.reason)
                return
            if not done_with_document:  # unchanged: nothing was written
                self.jobs.finish(job.id, outcome.status, passages=outcome.passages)
        except StoreUnavailable as exc:
            self._put_back(job, exc)
        except Exception:
            _log.exception("Upload job %s failed unexpectedly", job.id)
            try:
                self._fail(job, FAILED_UNEXPECTEDLY)
            except Exception:
                _log.exception("Could not record the failure of upload job %s", job.id)

    def _fail(self, job: Job, message: str) -> None:
        """Record the job failed and forget its file in one transaction: whoever sees the job
        failed no longer finds the file (a crash in between left it kept for nothing)."""
        with self.jobs.store.side_transaction():
            self.jobs.finish(job.id, "failed", message=message)
            self.originals.discard(job.sha256)  # sees the job failed: no longer in use

    def _put_back(self, job: Job, exc: StoreUnavailable) -> None:
        """The database connection was lost mid-job: the document's transaction rolled back,
        so nothing of it is stored and the kept file stays; the job goes back in the queue
        (or, with the database still away, waits for its lease to pass), never failed."""
        try:
            released = self.jobs.release(job.id, self.name, CONNECTION_LOST)
            then = (
                "it will be tried again now"
                if released  # else its commit went through just before the connection went
                else "it was finished meanwhile, or taken by another worker"
            )
        except StoreUnavailable:
            then = "it will be tried again once the database is back and its lease has passed"
        _log.warning(
            "Upload job %s (%s): lost the connection to the database mid-job, so nothing of it "
            "was stored; %s. %s",
            job.id,
            job.file_name,
            then,
            exc,
        )
