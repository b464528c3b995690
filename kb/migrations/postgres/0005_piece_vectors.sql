-- Late interaction (kb/late_interaction.py): each passage's word-piece vectors from the model's
-- last layer before pooling, packed as int8 with a scale per piece. A passage without a row
-- (stored before this migration) leaves the late-interaction stage off for searches it is in.
CREATE TABLE piece_vectors (
    passage_id BIGINT PRIMARY KEY REFERENCES passages(id) ON DELETE CASCADE,
    vectors BYTEA NOT NULL
);
