-- Issue 14 (part 1): side tables that the same SQL reads and writes on SQLite and PostgreSQL.

-- `user` is a reserved word in PostgreSQL: the columns are named as in figure_reviews.
ALTER TABLE jobs RENAME COLUMN user TO username;
ALTER TABLE audit_log RENAME COLUMN user TO username;

-- A failed login reserved before its password is checked is taken back by its id (SQLite's
-- rowid has no PostgreSQL counterpart). The rows keep their order and their rowid as id.
CREATE TABLE login_failures_by_id (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
INSERT INTO login_failures_by_id (id, key, at) SELECT rowid, key, at FROM login_failures;
DROP TABLE login_failures;
ALTER TABLE login_failures_by_id RENAME TO login_failures;
CREATE INDEX login_failures_by_key ON login_failures (key, at);
CREATE INDEX login_failures_by_time ON login_failures (at);
