-- Vigil SQLite schema, version 3: the change feed's request context, audit records and
-- inbound messages, all written in the same commit as the resources they concern.
--
-- * outbox: each change event says through which request it was written (request id and a
--   short agent string such as 'user:alice'); rows written before this version keep ''.
-- * outbox_consumer: a row is a registered consumer; the outbox is pruned below the slowest.
-- * audit: append-only (the triggers refuse UPDATE and DELETE); seq is the commit order.
--   prev_hash/hash are reserved for the hash chain the security issue adds (NULL until then).
-- * inbound_message: one row per (sender, control id): replays are recognised and failed
--   messages stay visible by state (dead letters).
ALTER TABLE outbox ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN agent TEXT NOT NULL DEFAULT '';

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    recorded   INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    request_id TEXT    NOT NULL,
    agent      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    entity     TEXT    NOT NULL, -- JSON or text: what the action touched
    event      TEXT    NOT NULL, -- JSON: the event as the owner keeps it
    prev_hash  TEXT,
    hash       TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE inbound_message (
    sender     TEXT    NOT NULL,
    control_id TEXT    NOT NULL,
    received   INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    raw        TEXT    NOT NULL,
    state      TEXT    NOT NULL, -- owner-defined: 'processed', 'failed', 'dead-letter'
    error      TEXT,
    PRIMARY KEY (sender, control_id)
) WITHOUT ROWID;
CREATE INDEX inbound_message_state ON inbound_message (state, received);
