-- Issue 13: honest page ranges and the primary sources our own documents cite.
-- A passage whose page is known only to lie in a range keeps its first page in `page` and its
-- last in `page_end` (NULL when the page is known exactly, or unknown).
ALTER TABLE passages ADD COLUMN page_end TEXT;
-- The keys of the document's Sources entries the passage cites, in order (a JSON array).
ALTER TABLE passages ADD COLUMN source_keys TEXT NOT NULL DEFAULT '[]';
-- Each document's Sources entries: `[^key]: Who (Year) "Title". URL (read YYYY-MM-DD)`.
CREATE TABLE document_sources (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    who TEXT NOT NULL,
    year TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    read TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (document_id, key)
);
