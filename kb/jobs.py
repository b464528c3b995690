"""Upload jobs: a document being taken in the background, and how far it has got.

The table lives in the knowledge base's database, so any server process can report the
progress of a job that another process runs. A job whose process has died (a restart, a crash)
would otherwise say "running" for ever: it is reported as failed on its next read, and since
each document is written in one transaction, nothing of it was stored. A process on this host
is looked up by its pid; one on another host (a container sharing the data folder) counts as
dead when its job has not moved for STALE_AFTER_SECONDS.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from kb.errors import NotFound
from kb.store import Store

UNFINISHED = ("queued", "running")
STALE_AFTER_SECONDS = 15 * 60
_COLUMNS = (
    "id, action, username, file_name, sha256, document_id, title, status, stage, pages, embedded,"
    " to_embed, passages, outcome, message, pid, host, created_at, updated_at, ocr_done, ocr_total"
)
DIED = (
    "The server process working on this file stopped before it finished, so nothing was "
    "stored; upload the file again."
)


def _now() -> str:
    """A time as stored: ISO 8601, UTC, to the microsecond, so that jobs created in one second
    still sort in the order they came (text order is time order: "...:01+00:00" sorts before
    "...:01.5+00:00")."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


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

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["pid"], data["host"], data["sha256"]
        return {**data, "finished": self.finished}


def _alive(job: Job) -> bool:
    """Whether the process running an unfinished job still exists (see the module docstring)."""
    if job.host != socket.gethostname():
        moved = datetime.fromisoformat(job.updated_at)
        return (datetime.now(UTC) - moved).total_seconds() < STALE_AFTER_SECONDS
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


class Jobs:
    """The upload jobs in a store's database.

    Args:
        store: the knowledge base's store (its migrations create the table).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self, *, action: str, user: str, file_name: str, sha256: str, document_id: str, title: str
    ) -> Job:
        """A new queued job, run by this process."""
        job_id = secrets.token_hex(8)
        now = _now()
        self.store.connection().execute(
            "INSERT INTO jobs (id, action, username, file_name, sha256, document_id, title, status,"
            " pid, host, created_at, updated_at) VALUES (?,?,?,?,?,?,?,'queued',?,?,?,?)",
            (
                job_id,
                action,
                user,
                file_name,
                sha256,
                document_id,
                title,
                os.getpid(),
                socket.gethostname(),
                now,
                now,
            ),
        )
        return self.get(job_id)

    def start(self, job_id: str) -> None:
        self._set(job_id, status="running")

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
        self.store.connection().execute(
            f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?",
            (*values.values(), _now(), job_id),
        )

    def get(self, job_id: str) -> Job:
        """The job; one whose process has died is marked failed first.

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
        job = Job(*row)
        if not job.finished and not _alive(job):
            self.finish(job.id, "failed", message=DIED)
            return self.get(job_id)
        return job

    def recent(self, limit: int = 10) -> list[Job]:
        rows = self.store.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [Job(*row) for row in rows]

    def pending(self) -> list[Job]:
        """Jobs still queued or running (in any live process)."""
        rows = self.store.connection().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN ('queued', 'running')"
        )
        return [job for job in (Job(*row) for row in rows) if _alive(job)]
