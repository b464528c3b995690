-- Issue 20: each document's number of passages, kept by the database rather than counted on
-- every read. A search reads its hits' documents, and counting a document's passages costs
-- one index entry per passage (10,000 a document: 3 ms a search at 100,000 passages,
-- docs/performance.md). Triggers keep it, so no writer (put_document, a removal, a bulk
-- load) can leave it wrong; kb check compares it with a count. Statement triggers with
-- transition tables: one UPDATE per document per statement, not one per passage.
ALTER TABLE documents ADD COLUMN passage_count INTEGER NOT NULL DEFAULT 0;
UPDATE documents SET passage_count =
    (SELECT COUNT(*) FROM passages p WHERE p.document_id = documents.id);

CREATE FUNCTION passages_counted_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE documents d SET passage_count = d.passage_count + n.added
        FROM (SELECT document_id, COUNT(*) AS added FROM new_passages GROUP BY document_id) n
        WHERE d.id = n.document_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION passages_counted_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE documents d SET passage_count = d.passage_count - n.removed
        FROM (SELECT document_id, COUNT(*) AS removed FROM old_passages GROUP BY document_id) n
        WHERE d.id = n.document_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER passages_counted_in AFTER INSERT ON passages
    REFERENCING NEW TABLE AS new_passages
    FOR EACH STATEMENT EXECUTE FUNCTION passages_counted_in();

CREATE TRIGGER passages_counted_out AFTER DELETE ON passages
    REFERENCING OLD TABLE AS old_passages
    FOR EACH STATEMENT EXECUTE FUNCTION passages_counted_out();
