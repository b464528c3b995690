"""Uploads: a file read safely from a form, then taken in on a background thread.

The name a browser sends is never used as a path: `display_name` keeps only plain characters
(werkzeug's secure_filename) for messages, and the bytes are copied into a fresh folder under
`<data folder>/uploads` that is deleted when the job ends. One worker thread per process takes
files in one at a time while the site keeps serving searches; the jobs table (kb.jobs) holds
the progress, so any process can report it, and the store's generation bump makes the new
document searchable in every process.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from ingest.pipeline import Ingestor
from ingest.service import Submission
from ingest.service import check_size
from ingest.service import ingest_submission
from kb.audit import AuditLog
from kb.errors import IngestError
from kb.jobs import Job
from kb.jobs import Jobs

# A temporary copy older than this belongs to a process that died mid-job (a live job's copy
# is removed when it ends); such folders are swept when a worker starts.
STALE_COPY_SECONDS = 24 * 3600
# Room for the form's other fields (title, tags, CSRF token) on top of the file itself; also
# the most any request but an upload may send (web.production).
FORM_ALLOWANCE_BYTES = 1 << 20
FAILED_UNEXPECTEDLY = (
    "Something went wrong on our side while taking the file in, so nothing was stored; "
    "try again later."
)
_log = logging.getLogger(__name__)


def display_name(filename: str | None) -> str:
    """A name safe to show and to use inside our own folder: no folders, plain characters.

    "../../report.pdf" becomes "report.pdf"; a name with nothing plain left becomes "upload"
    with its extension, if that is plain.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem, suffix = os.path.splitext(base)
    safe_stem = secure_filename(stem)[:100] or "upload"
    safe_suffix = secure_filename(suffix[1:])[:16]
    return safe_stem + (f".{safe_suffix}" if safe_suffix else "")


def read_upload(storage: FileStorage | None, max_bytes: int) -> tuple[bytes, str]:
    """The uploaded file's bytes and display name.

    Raises:
        IngestError: no file was chosen, or it is over the size limit.
    """
    if storage is None or not storage.filename:
        raise IngestError("Choose a file to upload.")
    name = display_name(storage.filename)
    # The request as a whole is capped (MAX_CONTENT_LENGTH), so this read is bounded too.
    data = storage.read()
    check_size(name, len(data), max_bytes)
    return data, name


def max_request_bytes(max_upload_bytes: int) -> int:
    """The largest request body accepted at all: one file at the limit and its form."""
    return max_upload_bytes + FORM_ALLOWANCE_BYTES


@dataclass(frozen=True)
class Task:
    """A prepared file waiting for the worker, with its temporary copy."""

    job_id: str
    action: str
    user: str
    submission: Submission
    folder: Path

    @property
    def path(self) -> Path:
        return self.folder / self.submission.name


class UploadWorker:
    """One background thread that takes queued uploads in, one at a time.

    Args:
        ingestor: the pipeline (the app's store and embedder).
        jobs: where progress and outcomes are recorded.
        audit: where finished changes are recorded.
        uploads_dir: where temporary copies are kept while their job runs.
    """

    def __init__(self, ingestor: Ingestor, jobs: Jobs, audit: AuditLog, uploads_dir: Path) -> None:
        self.ingestor = ingestor
        self.jobs = jobs
        self.audit = audit
        self.uploads_dir = Path(uploads_dir)
        self._queue: queue.Queue[Task] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sweep()

    def _sweep(self) -> None:
        """Delete the temporary copies that dead processes left behind."""
        if not self.uploads_dir.is_dir():
            return
        cutoff = time.time() - STALE_COPY_SECONDS
        for folder in self.uploads_dir.glob("upload-*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue

    def submit(self, *, action: str, user: str, submission: Submission, data: bytes) -> Job:
        """Copy the file aside, record a queued job and hand it to the worker thread.

        Raises:
            IngestError: the temporary copy could not be written (nothing was recorded).
        """
        folder = self._copy(submission, data)
        try:
            job = self.jobs.create(
                action=action,
                user=user,
                file_name=submission.name,
                sha256=submission.sha256,
                document_id=submission.meta.id,
                title=submission.meta.title,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._queue.put(Task(job.id, action, user, submission, folder))
        self._ensure_thread()
        return job

    def _copy(self, submission: Submission, data: bytes) -> Path:
        try:
            self.uploads_dir.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.uploads_dir))
            target = folder / submission.name
            if target.parent != folder:  # display_name never holds a separator; be sure
                raise IngestError(f"{submission.name} is not a usable file name.")
            target.write_bytes(data)
        except OSError as exc:
            raise IngestError(
                f"{submission.name} could not be saved for processing ({exc.strerror or exc})."
            ) from exc
        return folder

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="kb-uploads", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            try:
                self._run(task)
            finally:
                self._queue.task_done()

    def _run(self, task: Task) -> None:
        try:
            self.jobs.start(task.job_id)
            progress = partial(self.jobs.progress, task.job_id)
            outcome = ingest_submission(self.ingestor, task.submission, task.path, progress)
            if outcome.status == "failed":
                self.jobs.finish(task.job_id, "failed", message=outcome.reason)
                return
            if outcome.status != "unchanged":
                meta = task.submission.meta
                detail = f"{task.submission.name}, {outcome.passages} passages"
                self.audit.record(task.user, task.action, meta.id, meta.title, detail)
            self.jobs.finish(task.job_id, outcome.status, passages=outcome.passages)
        except Exception:
            _log.exception("Upload job %s failed unexpectedly", task.job_id)
            try:
                self.jobs.finish(task.job_id, "failed", message=FAILED_UNEXPECTEDLY)
            except Exception:
                _log.exception("Could not record the failure of upload job %s", task.job_id)
        finally:
            shutil.rmtree(task.folder, ignore_errors=True)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every queued job has finished (tests, shutdown); False on timeout."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout)
