"""Upload jobs: a queue in the knowledge base's database, taken by any worker.

A server accepting an upload keeps the file (kb.originals) and records a queued job; a worker
(`kb worker`, or a server's own upload thread) claims it, takes the file in and records the
outcome. Because the queue and the progress are in the database, any server reports any job.

Claiming is atomic: on PostgreSQL the oldest job is locked with `SELECT ... FOR UPDATE SKIP
LOCKED` (workers never wait for each other), on SQLite it is read and taken inside one write
transaction. A claim is a lease: the worker renews it while it works (ingest.jobrunner). A
worker that dies (a crash, `kill -9`, a machine gone) stops renewing; once its lease has passed
another worker claims the job again. Each document is written in one transaction, so the dead
worker left nothing of it behind. A job claimed MAX_ATTEMPTS times without finishing (a file
that kills every worker that reads it) is reported as failed instead of being tried for ever.
A worker that loses its database connection mid-job (PostgreSQL restarted, the network) puts
the job back at once (`release`); that try counts too, so a file whose write breaks the
connection every time is failed after MAX_ATTEMPTS as well, while an outage itself uses no
tries: nothing can be claimed while the database is away.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from kb.errors import NotFound
from kb.models import DocumentMeta
from kb.store import Store

UNFINISHED = ("queued", "running")
_COLUMNS = (
    "id, action, username, file_name, sha256, document_id, title, status, stage, pages, embedded,"
    " to_embed, passages, outcome, message, pid, host, created_at, updated_at, ocr_done,"
    " ocr_total, meta, worker, lease_until, attempts"
)
MAX_ATTEMPTS = 3
DEFAULT_LEASE_SECONDS = 30.0
DIED = (
    "The worker taking this file in stopped before it finished, several times over, so nothing "
    "was stored; upload the file again, or ask an administrator to look at the workers' logs."
)
# Said while a job waits to be tried again after the database connection was lost mid-job
# (ingest.jobrunner), and, if that was how its last try ended, when it runs out of tries.
CONNECTION_LOST = (
    "The connection to the database was lost while this file was being taken in, so nothing "
    "of it was stored; it will be tried again."
)
LOST_EVERY_TIME = (
    f"The connection to the database was lost while this file was being taken in, on the last "
    f"of {MAX_ATTEMPTS} tries, so nothing was stored; upload the file again once the database "
    f"is steady, or ask an administrator to look at the database server's logs."
)
# Jobs a worker may take: queued, or running on a lease that has passed (its worker died).
_CLAIMABLE = "status = 'queued' OR (status = 'running' AND lease_until < ?)"
# Row locks where the database has them: workers skip a job another worker is claiming.
_SKIP_LOCKED = {"postgres": " FOR UPDATE SKIP LOCKED"}


def _now(later: float = 0.0) -> str:
    """A time as stored: ISO 8601, UTC, to the microsecond, so that jobs created in one second
    still sort in the order they came, and leases compare as text (text order is time order:
    "...:01+00:00" sorts before "...:01.5+00:00")."""
    return (datetime.now(UTC) + timedelta(seconds=later)).isoformat(timespec="microseconds")


def worker_name() -> str:
    """This process's name in the jobs it claims: host, pid and a random part (a pid is reused
    after a restart, a container's host name is shared by its copies)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Job:
    """One upload. status: queued, running, done or failed; stage: ocr, read or embed while running;
    outcome (when done): added, replaced, updated or unchanged."""

    id: str
    action: str
    user: str
    file_name: str
    sha256: str
    document_id: str
    title: str
    status: str
    stage: str
    pages: int
    embedded: int
    to_embed: int
    passages: int
    outcome: str
    message: str
    pid: int
    host: str
    created_at: str
    updated_at: str
    ocr_done: int = 0  # scanned pages read by OCR so far, of ocr_total
    ocr_total: int = 0
    meta: str = "{}"  # the form's metadata (JSON), for the worker
    worker: str = ""  # who holds the job (worker_name), until lease_until
    lease_until: str = ""
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    @property
    def document_meta(self) -> DocumentMeta:
        """The metadata the document is to be stored with."""
        values = json.loads(self.meta)
        return DocumentMeta(
            id=self.document_id,
            title=self.title,
            publisher=values["publisher"],
            year=values["year"],
            kind=values["kind"],
            url=values.get("url", ""),
            tags=tuple(values.get("tags", ())),
        )

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.file_name)[1].lower()

    def to_dict(self) -> dict:
        data = asdict(self)
        for private in ("pid", "host", "sha256", "meta", "worker", "lease_until"):
            del data[private]
        return {**data, "finished": self.finished}


def meta_json(meta: DocumentMeta) -> str:
    """A document's metadata (but its id and title, which have columns) for a job's row."""
    values = {"publisher": meta.publisher, "year": meta.year, "kind": meta.kind}
    return json.dumps({**values, "url": meta.url, "tags": list(meta.tags)})


class Jobs:
    """The upload jobs in a store's database.

    Args:
        store: the knowledge base's store (its migrations create the table).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        *,
        action: str,
        user: str,
        file_name: str,
        sha256: str,
        meta: DocumentMeta,
    ) -> Job:
        """A new queued job for any worker; its file is already kept (kb.originals)."""
        job_id = secrets.token_hex(8)
        now = _now()
        # Writes go through the store's transactions, which turn the driver's errors (a
        # database locked past the timeout, a full disk) into one StoreError sentence.
        with self.store.side_transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, action, username, file_name, sha256, document_id, title,"
                " status, pid, host, created_at, updated_at, meta)"
                " VALUES (?,?,?,?,?,?,?,'queued',0,'',?,?,?)",
                (
                    job_id,
                    action,
                    user,
                    file_name,
                    sha256,
                    meta.id,
                    meta.title,
                    now,
                    now,
                    meta_json(meta),
                ),
            )
        return self.get(job_id)

    def claim(self, worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job | None:
        """Take the oldest job that is queued, or whose worker's lease has passed; None when
        there is none. A job already tried MAX_ATTEMPTS times is marked failed instead."""
        lock = _SKIP_LOCKED.get(self.store.dialect, "")
        waiting = self.store.connection().execute(
            f"SELECT 1 FROM jobs WHERE {_CLAIMABLE} LIMIT 1", (_now(),)
        )
        if waiting.fetchone() is None:
            return None  # a read, so that idle workers looking every second take no write lock
        while True:
            with self.store.side_transaction() as conn:
                now = _now()
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE {_CLAIMABLE}"
                    f" ORDER BY created_at, id LIMIT 1{lock}",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                job = Job(*row)
                if job.attempts >= MAX_ATTEMPTS:
                    message = LOST_EVERY_TIME if job.message == CONNECTION_LOST else DIED
                    conn.execute(
                        "UPDATE jobs SET status = 'failed', outcome = 'failed', message = ?,"
                        " updated_at = ? WHERE id = ?",
                        (message, now, job.id),
                    )
                    continue
                conn.execute(
                    # The message is cleared: it tells how the latest try ended (a try
                    # killed before it could say so must not inherit an earlier reason).
                    "UPDATE jobs SET status = 'running', worker = ?, lease_until = ?,"
                    " attempts = attempts + 1, pid = ?, host = ?, message = '', updated_at = ?"
                    " WHERE id = ?",
                    (
                        worker,
                        _now(lease_seconds),
                        os.getpid(),
                        socket.gethostname(),
                        now,
                        job.id,
                    ),
                )
            return self.get(job.id)

    def renew(self, job_id: str, worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """Extend a worker's lease on its running job; False when the job is no longer its own
        (the lease passed and another worker claimed it, or it finished)."""
        with self.store.side_transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ?"
                " AND status = 'running'",
                (_now(lease_seconds), job_id, worker),
            )
            return cursor.rowcount == 1

    def release(self, job_id: str, worker: str, message: str) -> bool:
        """Put a worker's running job back in the queue, for any worker to take again at once
        (the attempt it used stays counted: see LOST_EVERY_TIME); `message` says why while it
        waits. False when the job is no longer this worker's running job (it finished, or its
        lease passed and another worker claimed it)."""
        with self.store.side_transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = 'queued', worker = '', lease_until = '', message = ?,"
                " updated_at = ? WHERE id = ? AND worker = ? AND status = 'running'",
                (message, _now(), job_id, worker),
            )
            return cursor.rowcount == 1

    def progress(self, job_id: str, stage: str, done: int, total: int) -> None:
        """Record a pipeline progress call: ("ocr", pages done, pages to read), ("read", pages,
        pages) or ("embed", done, total)."""
        if stage == "read":
            self._set(job_id, stage=stage, pages=total)
        elif stage == "ocr":
            self._set(job_id, stage=stage, ocr_done=done, ocr_total=total)
        else:
            self._set(job_id, stage=stage, embedded=done, to_embed=total)

    def finish(self, job_id: str, outcome: str, *, passages: int = 0, message: str = "") -> None:
        """Done with an outcome (added, replaced, ...), or failed (outcome "failed")."""
        status = "failed" if outcome == "failed" else "done"
        self._set(job_id, status=status, outcome=outcome, passages=passages, message=message)

    def _set(self, job_id: str, **values) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self.store.side_transaction() as conn:
            conn.execute(
                f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?",
                (*values.values(), _now(), job_id),
            )

    def get(self, job_id: str) -> Job:
        """The job.

        Raises:
            NotFound: no job has that id.
        """
        row = (
            self.store.connection()
            .execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"There is no upload job with id {job_id!r}.")
        return Job(*row)

    def recent(self, limit: int = 10) -> list[Job]:
        rows = self.store.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [Job(*row) for row in rows]

    def pending(self) -> list[Job]:
        """Jobs still queued or running (a job whose worker died is queued again by the next
        claim, so it counts as pending too)."""
        rows = self.store.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN ('queued', 'running')"
        )
        return [Job(*row) for row in rows]
