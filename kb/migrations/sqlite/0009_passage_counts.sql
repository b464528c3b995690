-- Issue 20: each document's number of passages, kept by the database rather than counted on
-- every read. A search reads its hits' documents, and counting a document's passages costs
-- one index entry per passage (10,000 a document: 3 ms a search at 100,000 passages,
-- docs/performance.md). Triggers keep it, so no writer (put_document, a removal, a bulk
-- load) can leave it wrong; kb check compares it with a count.
ALTER TABLE documents ADD COLUMN passage_count INTEGER NOT NULL DEFAULT 0;
UPDATE documents SET passage_count =
    (SELECT COUNT(*) FROM passages p WHERE p.document_id = documents.id);

CREATE TRIGGER IF NOT EXISTS passages_counted_in AFTER INSERT ON passages BEGIN
    UPDATE documents SET passage_count = passage_count + 1 WHERE id = NEW.document_id;
END;

CREATE TRIGGER IF NOT EXISTS passages_counted_out AFTER DELETE ON passages BEGIN
    UPDATE documents SET passage_count = passage_count - 1 WHERE id = OLD.document_id;
END;
