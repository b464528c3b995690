-- Issue 14 (part 3): upload jobs taken by any worker (`kb worker`, or a server's own upload
-- thread), and the originals of uploaded files kept in the database so that servers and
-- workers on different machines need no shared disk.

-- What a worker needs to take the file in (the metadata the form gave, as JSON), who holds the
-- job now, until when (an ISO 8601 UTC time: a worker renews it while it works; once it has
-- passed, the worker is taken for dead and another claims the job) and how often it was tried.
ALTER TABLE jobs ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS jobs_by_status_and_age ON jobs (status, created_at);

-- A job left unfinished by an older version kept its file in a temporary folder that no worker
-- can find: it is reported as failed, as that version would have reported it.
UPDATE jobs SET status = 'failed', outcome = 'failed',
    message = 'The server process working on this file stopped before it finished, so nothing was stored; upload the file again.'
    WHERE status IN ('queued', 'running');

-- Uploaded files by their sha256 (kb.originals), when KB_ORIGINALS=database: a queued job's
-- file until a worker takes it in, then the kept original that /files/<id> serves.
CREATE TABLE IF NOT EXISTS originals (
    sha256 TEXT PRIMARY KEY,
    suffix TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    added_at TEXT NOT NULL
);
