-- Vigil SQLite schema, version 3: the full-text index behind `_content` and `_text`.
--
-- One row per current, non-deleted resource, keyed by its `rid` (the FTS5 rowid), written with
-- the index rows in the same transaction and removed with them. The search layer hands over
-- text that it has already split into words (lower case, accents removed) joined by single
-- spaces, so the tokenizer only splits at spaces: every other character category is a token
-- character. The table is contentless (the resource text is in `resource_version` already).
-- Resources stored before this version have no row until `vigil reindex` runs.
CREATE VIRTUAL TABLE resource_text USING fts5(
    content,
    narrative,
    content = '',
    contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 0 categories 'L* N* M* P* S* C*'"
);
