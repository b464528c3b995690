-- Issue 14 (part 1): side tables that the same SQL reads and writes on SQLite and PostgreSQL
-- (the same change as sqlite/0007).

-- `user` is a reserved word in PostgreSQL: the columns are named as in figure_reviews.
ALTER TABLE jobs RENAME COLUMN "user" TO username;
ALTER TABLE audit_log RENAME COLUMN "user" TO username;

-- A failed login reserved before its password is checked is taken back by its id.
ALTER TABLE login_failures ADD COLUMN id BIGSERIAL PRIMARY KEY;
