-- Figures (money amounts, percentages, counts) read out of each passage at ingest
-- (kb/figures/extract.py), written in the same transaction as the passage.
CREATE TABLE IF NOT EXISTS passage_figures (
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    qualifier TEXT NOT NULL DEFAULT '',
    approximate INTEGER NOT NULL DEFAULT 0,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    -- which of the passage's vectors covers the figure's sentence: 0 the whole passage, 1.. the
    -- sentence vectors (sentence_vectors.sub)
    sub INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (passage_id, ordinal)
);
CREATE INDEX IF NOT EXISTS passage_figures_by_value ON passage_figures (kind, value);

-- A researcher's decision on a "possible disagreement" the matching found: the passage's figure
-- does (confirmed) or does not (dismissed) measure what the book's figure measures. Keyed by the
-- passage's text so a changed passage is reviewed again.
CREATE TABLE IF NOT EXISTS figure_reviews (
    figure_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    passage_sha TEXT NOT NULL,
    figure_start INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'dismissed')),
    username TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (figure_id, document_id, passage_sha, figure_start)
);
