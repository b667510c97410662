-- Vigil SQLite schema, version 5: settings that belong to the database rather than to one
-- process, so every command that opens it (serve, import, reindex, demo) agrees on them.
-- Today: `full-text` (`on`/`off`), whether the full-text index behind `_content`/`_text`
-- is kept (switched by `vigil reindex --full-text`, which rebuilds or drops its rows).
CREATE TABLE setting (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
