-- Vigil SQLite schema, version 6: the audit log's hash chain and search.
--
-- * audit.prev_hash / audit.hash are filled by every append from now on (SHA-256 over the
--   entry's fields and the previous hash; see vigil-store's audit_chain module). Positions are
--   taken as max(seq) + 1 inside the single writer's transaction, so they are contiguous.
-- * The chain head (newest position and hash) is kept in `setting` under `audit-head`,
--   written in the same commit as the entry: removing the newest entries is detected.
-- * audit_key: search keys of each entry (`entity` references, other `agent` names such as the
--   client), append-only like the log itself, for AuditEvent?entity= and ?agent=.
-- * audit_agent: the acting agent itself (AuditEvent?agent=), without a key row per entry.
-- * audit_recorded: AuditEvent?date= ranges.
CREATE TABLE audit_key (
    name  TEXT    NOT NULL, -- 'entity' or 'agent'
    value TEXT    NOT NULL,
    seq   INTEGER NOT NULL, -- audit.seq
    PRIMARY KEY (name, value, seq)
) WITHOUT ROWID;
CREATE TRIGGER audit_key_no_update BEFORE UPDATE ON audit_key
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_key_no_delete BEFORE DELETE ON audit_key
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE INDEX audit_agent ON audit (agent, seq);
CREATE INDEX audit_recorded ON audit (recorded, seq);
