-- Passages whose text came from OCR (a scanned page): Tesseract's mean word confidence for
-- their page, 0 to 1. NULL for text taken from the file's own text layer.
ALTER TABLE passages ADD COLUMN ocr_confidence REAL;

-- An upload's OCR progress ("OCR page 12 of 40").
ALTER TABLE jobs ADD COLUMN ocr_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN ocr_total INTEGER NOT NULL DEFAULT 0;
