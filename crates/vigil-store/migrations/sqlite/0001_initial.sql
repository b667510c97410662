-- Vigil SQLite schema, version 1: resources, history, search index tables, outbox.
--
-- Key choices (measured, see README.md):
-- * `rid` is a compact integer key for (type, id); history, index and outbox rows carry it
--   instead of repeating the two strings.
-- * Content is stored once, in resource_version; the current row points at it by seq
--   (measured: 32% smaller database, fewer WAL pages per commit).
-- * Index tables carry the resource type next to the parameter, so a search for one type reads
--   one contiguous index range: (param, type, value..., rid) is the covering index order.
-- * Index tables are WITHOUT ROWID, clustered on (rid, param, n): replacing a version's rows
--   and correlated EXISTS sub-queries driven from `resource` read one contiguous range, and
--   no separate rid index is needed (measured: fewer B-trees to update per row).

-- The current version of each resource (possibly a deletion marker).
CREATE TABLE resource (
    rid          INTEGER PRIMARY KEY,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    deleted      INTEGER NOT NULL, -- 0 or 1
    method       INTEGER NOT NULL, -- 1 create, 2 update, 3 delete, 4 patch
    seq          INTEGER NOT NULL  -- resource_version.seq of this version, which holds the content
);
CREATE UNIQUE INDEX resource_type_id ON resource (type, id);

-- Every version ever written; seq is the global history order (and the outbox position).
CREATE TABLE resource_version (
    seq          INTEGER PRIMARY KEY,
    rid          INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method       INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    content      TEXT    NOT NULL  -- JSON as written by the service; empty for deletions
);
CREATE UNIQUE INDEX resource_version_rid ON resource_version (rid, version);
CREATE INDEX resource_version_type ON resource_version (type, seq, last_updated);
CREATE INDEX resource_version_time ON resource_version (last_updated);

-- Search index rows of the current version of each resource, one table per parameter type.
CREATE TABLE idx_string (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    normalized      TEXT    NOT NULL,
    exact           TEXT    NOT NULL,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_string_value ON idx_string (param, type, normalized, rid);

CREATE TABLE idx_token (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    system          TEXT,
    code            TEXT,
    text            TEXT,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_token_value ON idx_token (param, type, code, system, rid);

CREATE TABLE idx_date (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    low             INTEGER NOT NULL, -- inclusive, microseconds since the epoch
    high            INTEGER NOT NULL, -- inclusive
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_date_value ON idx_date (param, type, low, high, rid);

CREATE TABLE idx_number (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    low             REAL, -- NULL only when the search layer gave NaN
    high            REAL,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_number_value ON idx_number (param, type, low, high, rid);

CREATE TABLE idx_quantity (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    system          TEXT,
    code            TEXT,
    value           REAL,
    canonical_code  TEXT,
    canonical_value REAL,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_quantity_value ON idx_quantity (param, type, value, rid);
CREATE INDEX idx_quantity_canonical ON idx_quantity (param, type, canonical_code, canonical_value, rid)
    WHERE canonical_code IS NOT NULL;

CREATE TABLE idx_reference (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    target_type     TEXT,
    target_id       TEXT,
    url             TEXT,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_reference_target ON idx_reference (param, type, target_id, target_type, rid);
CREATE INDEX idx_reference_url ON idx_reference (param, type, url, rid) WHERE url IS NOT NULL;

CREATE TABLE idx_uri (
    rid             INTEGER NOT NULL,
    n               INTEGER NOT NULL, -- position of the row in the version's index list
    type            TEXT    NOT NULL,
    param           TEXT    NOT NULL,
    uri             TEXT    NOT NULL,
    PRIMARY KEY (rid, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_uri_value ON idx_uri (param, type, uri, rid);

-- One event per stored version, in commit order; seq equals resource_version.seq.
CREATE TABLE outbox (
    seq     INTEGER PRIMARY KEY,
    rid     INTEGER NOT NULL,
    version INTEGER NOT NULL,
    method  INTEGER NOT NULL,
    created INTEGER NOT NULL -- microseconds since the epoch, when the event was appended
);

-- How far each named consumer has processed the outbox.
CREATE TABLE outbox_consumer (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
