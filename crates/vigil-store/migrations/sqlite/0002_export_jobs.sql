-- Vigil SQLite schema, version 2: durable background jobs (first user: bulk data $export).
--
-- The store keeps a job as opaque JSON (`body`) plus the few columns it filters on; the owner
-- (vigil-service) defines the states and the body. `state` changes go through a
-- compare-and-set (`UPDATE ... WHERE id = ? AND state = ?`), so a cancel and a worker's
-- progress update cannot overwrite each other.
CREATE TABLE job (
    id      TEXT    PRIMARY KEY,
    kind    TEXT    NOT NULL, -- e.g. 'export'
    state   TEXT    NOT NULL, -- owner-defined, e.g. 'accepted', 'in-progress', 'completed'
    created INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    updated INTEGER NOT NULL,
    body    TEXT    NOT NULL  -- owner-defined JSON: request, progress, output manifest, error
);
CREATE INDEX job_kind_state ON job (kind, state, created);
