"""Uploads: a file read safely from a form, kept, queued, and taken in by a worker.

The name a browser sends is never used as a path: `display_name` keeps only plain characters
(werkzeug's secure_filename) for messages and for the scratch copy a worker reads. The document
service checks the file, keeps its bytes (kb.originals: a folder, or the database when servers
are on several machines) and queues a job (kb.jobs); a worker (ingest.jobrunner) takes it in:
this process's own upload thread by default, or `kb worker` processes when the settings say
servers only queue uploads (KB_UPLOADS=queue). The jobs table holds the progress, so any
process can report it, and the store's generation bump makes the new document searchable in
every process.
"""

from __future__ import annotations

import os
import threading

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from ingest.jobrunner import JobRunner
from ingest.service import check_size
from kb.errors import IngestError

# Room for the form's other fields (title, tags, CSRF token) on top of the file itself; also
# the most any request but an upload may send (web.production).
FORM_ALLOWANCE_BYTES = 1 << 20


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


class UploadWorker:
    """Unless the settings leave uploads to `kb worker`, runs queued jobs on one background
    thread of this process, one at a time, while the site keeps serving searches. The jobs
    are queued by the document service (ingest.service.DocumentService.queue_upload).

    Args:
        runner: runs the jobs on this process's thread; None: servers only queue them.
        keep_polling: also look for jobs other processes queued (or left behind when they
            died) every `poll_seconds`, not only after an upload here (a production server;
            tests leave it off so that no thread outlives its test's database).
    """

    def __init__(
        self,
        runner: JobRunner | None,
        *,
        keep_polling: bool = False,
        poll_seconds: float = 2.0,
    ) -> None:
        self.runner = runner
        self.keep_polling = keep_polling
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if runner is not None and keep_polling:
            self._ensure_thread()

    def wake(self) -> None:
        """A job was queued here: have this process's runner (if it has one) look at once."""
        if self.runner is not None:
            self._ensure_thread()
            self._wake.set()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="kb-uploads", daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop this process's upload thread once the job in hand (if any) is finished; a
        server's thread otherwise lasts as long as the process."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        assert self.runner is not None
        self.runner.run(
            self._stop,
            self.poll_seconds if self.keep_polling else None,
            wake=self._wake,
        )
