-- A Sources entry's note: how we read the source or what kind of item it is ("summarised by
-- CAAF", "media release"), kept apart from its author (`who`), which every citation and
-- exported reference gives as the author. Rows stored before have no note (the entry form had
-- no place for one); a corpus document whose entries were rewritten to use it has new bytes,
-- so `kb ingest` replaces its rows, and `kb check` names any stored entries that differ from
-- the file's until then.
ALTER TABLE document_sources ADD COLUMN note TEXT NOT NULL DEFAULT '';
