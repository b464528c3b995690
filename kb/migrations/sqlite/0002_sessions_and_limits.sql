-- Issue 12: revocable sessions bound to an account, and the search rate limit shared by every
-- server process.

-- Accounts get a number that is never reused (AUTOINCREMENT): a session belongs to that
-- number, so an account removed and re-created under the same name is a new account and no
-- cookie of the old one opens it. The name stays unique, case-blind.
CREATE TABLE users_by_id (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO users_by_id (name, password_hash, created_at)
    SELECT name, password_hash, created_at FROM users ORDER BY created_at, name;
DROP TABLE users;
ALTER TABLE users_by_id RENAME TO users;

-- Logins (kb.sessions): the cookie carries a random token; only its SHA-256 is stored, so a
-- copy of the database opens no session. Logging out deletes the row; removing the account
-- deletes its rows (ON DELETE CASCADE; the store turns foreign keys on).
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The search rate limit (kb.ratelimit): one token bucket per client, shared by all processes.
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_buckets_by_time ON rate_buckets (updated_at);

-- Old failed logins are deleted by time on every attempt.
CREATE INDEX login_failures_by_time ON login_failures (at);
