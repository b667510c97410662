//! The embedded SQLite backend: one database file (`vigil.db`) in a data directory, WAL mode,
//! `synchronous=FULL`, one writer connection doing group commit and a pool of read-only
//! connections.
//!
//! # Table layout
//!
//! The schema lives in `migrations/sqlite/*.sql` (applied at [`SqliteStore::open`] and by
//! [`migrate`]); the search layer compiles queries against these tables:
//!
//! | table | columns | keys and indexes |
//! |---|---|---|
//! | `resource` | `rid, type, id, version, last_updated, deleted, method, seq` | `rid` INTEGER PRIMARY KEY; unique `(type, id)` |
//! | `resource_version` | `seq, rid, type, version, last_updated, method, deleted, content` | `seq` INTEGER PRIMARY KEY (global history order); unique `(rid, version)`; `(type, seq, last_updated)`; `(last_updated)` |
//! | `idx_string` | `rid, n, type, param, normalized, exact` | `(param, type, normalized, rid)` |
//! | `idx_token` | `rid, n, type, param, system, code, text` | `(param, type, code, system, rid)` |
//! | `idx_date` | `rid, n, type, param, low, high` | `(param, type, low, high, rid)` |
//! | `idx_number` | `rid, n, type, param, low, high` | `(param, type, low, high, rid)` |
//! | `idx_quantity` | `rid, n, type, param, system, code, value, canonical_code, canonical_value` | `(param, type, value, rid)`; `(param, type, canonical_code, canonical_value, rid)` where canonical |
//! | `idx_reference` | `rid, n, type, param, target_type, target_id, url` | `(param, type, target_id, target_type, rid)`; `(param, type, url, rid)` where url |
//! | `idx_uri` | `rid, n, type, param, uri` | `(param, type, uri, rid)` |
//! | `outbox` | `seq, rid, version, method, created, request_id, agent` | `seq` INTEGER PRIMARY KEY, equal to the version's `resource_version.seq`; pruned below the slowest consumer |
//! | `outbox_consumer` | `name, position` | `name` PRIMARY KEY; a row is a registered consumer |
//! | `audit` | `seq, recorded, request_id, agent, action, outcome, entity, event, prev_hash, hash` | `seq` INTEGER PRIMARY KEY, contiguous; append-only (triggers refuse UPDATE/DELETE); hash-chained, head in `setting` `audit-head`; `(agent, seq)`; `(recorded, seq)` |
//! | `audit_key` | `name, value, seq` (search keys: `entity`, `agent` for the app) | PRIMARY KEY `(name, value, seq)`; append-only |
//! | `inbound_message` | `sender, control_id, received, raw, state, error` | PRIMARY KEY `(sender, control_id)`; `(state, received)` |
//! | `resource_text` | FTS5 `content, narrative` (contentless; words joined by spaces) | rowid = `rid` |
//! | `setting` | `name, value` (database-wide settings, e.g. `full-text` on/off) | `name` PRIMARY KEY |
//! | `schema_version` | `version, name, applied_micros` | `version` PRIMARY KEY |
//! | `job` | `id, kind, state, created, updated, body` (JSON) | `id` PRIMARY KEY; `(kind, state, created)` |
//!
//! - Content is stored once, in `resource_version`; the current row's `seq` points at it
//!   ([`RESOURCE_COLUMNS`] fetches it with a rowid lookup, so queries need no join for it).
//! - `rid` is the compact integer key of a resource (its `(type, id)`); index, history and
//!   outbox rows carry it. Index rows always belong to the *current* version and are absent
//!   for deletion markers, so a search joins `resource r` on `rid` and needs no version check
//!   (though it must still filter `r.deleted = 0` when it does not start from an index table).
//! - Times are microseconds since the Unix epoch (UTC) in INTEGER columns; `deleted` is 0/1;
//!   `method` is 1 create, 2 update, 3 delete, 4 patch.
//! - Index value order is `(param, type, value..., rid)`: a search on one type and parameter
//!   reads one contiguous, covering range, e.g.
//!   `SELECT rid FROM idx_token WHERE param = $1 AND type = $2 AND code = $3 AND system = $4`.
//!   Index tables are `WITHOUT ROWID`, clustered on their primary key `(rid, param, n)` (`n`
//!   numbers the rows of one version), so correlated sub-queries driven from `resource` read
//!   one contiguous range:
//!   `EXISTS (SELECT 1 FROM idx_date d WHERE d.rid = r.rid AND d.param = $1 AND d.high >= $2)`.
//!
//! Search queries run through [`crate::ResourceStore::query_resources`] (committed data, read pool) or
//! [`crate::Transaction::query_resources`] (inside a unit of work); they select
//! [`RESOURCE_COLUMNS`] from `resource r` and use `$1, $2, ...` placeholders, which SQLite and
//! PostgreSQL both accept.
//!
//! # Durability and concurrency
//!
//! Every connection runs in WAL mode; the writer uses `synchronous=FULL`, so each COMMIT
//! fsyncs the WAL before returning, and both settings are read back at open. The one exception
//! is a bulk load ([`SqliteOptions::bulk_load`], `bulk.rs`): the directory locked for one
//! process, `synchronous=NORMAL` and the value indexes dropped until
//! [`SqliteStore::finish_bulk_load`] rebuilds them and fsyncs. Writes go through
//! the group commit of `writer.rs` (units run on their caller's thread, in savepoints, one
//! COMMIT per batch); reads take a connection from the pool and see the last committed state.

mod bulk;
mod changes;
mod dialect;
mod full_text;
mod index;
mod jobs;
mod migrations;
mod reader;
mod rows;
mod transaction;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use bulk::{BulkLoadReport, LOCK_FILE};
pub use dialect::SqliteDialect;
pub use migrations::{MIGRATIONS, Migration, MigrationReport, latest_version, migrate};
pub use writer::WriteStats;

use crate::{
    AuditEntry, AuditHead, AuditQuery, ChangeContext, ChangeEvent, ChangeLog, ConsumerStart,
    HistoryQuery, InboundMessage, JobRecord, JobStore, MessageStore, ResourceStore, SnapshotScan,
    SqlValue, StoreError, StoredVersion, UnitOfWork,
};
use reader::ReadPool;
use transaction::SqliteTransaction;
use writer::{BatchLimits, Writer};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "vigil.db";

macro_rules! resource_columns {
    () => {
        "r.type, r.id, r.version, r.last_updated, r.deleted, r.method, r.seq, \
         (SELECT c.content FROM resource_version c WHERE c.seq = r.seq)"
    };
}

/// The columns, in order, that a query run through `query_resources` must select (from
/// `resource` aliased `r`) to produce [`StoredVersion`]s. The last one looks the content up in
/// `resource_version` by `seq` (a rowid lookup).
pub const RESOURCE_COLUMNS: &str = resource_columns!();

/// The current row of one resource by (type, id).
pub(crate) const CURRENT_BY_KEY: &str = concat!(
    "SELECT ",
    resource_columns!(),
    " FROM resource r WHERE r.type = ?1 AND r.id = ?2"
);

/// Tuning of the SQLite backend; [`Default`] suits a small server.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections in the pool (at least 1).
    pub read_connections: usize,
    /// How long a connection waits for a lock held by another process before answering
    /// [`crate::StoreErrorKind::Busy`].
    pub busy_timeout: Duration,
    /// Most units of work committed in one transaction.
    pub max_batch_units: usize,
    /// Longest a batch stays open while units keep arriving.
    pub max_batch_latency: Duration,
    /// Longest a small batch waits for writers that are on their way (also capped by what the
    /// last COMMIT took). Zero turns lingering off.
    pub group_commit_wait: Duration,
    /// Page cache per connection, in KiB.
    pub cache_size_kib: u32,
    /// WAL pages after which a commit checkpoints the WAL into the database (SQLite's
    /// `wal_autocheckpoint`; its default is 1000). Bulk loads raise it so index pages that many
    /// batches touch are copied into the database once rather than after every few commits.
    pub wal_autocheckpoint_pages: u32,
    /// Open for a bulk load (`vigil import`): the data directory alone (refused while any
    /// other store has it open), commits not fsync'd, the search value indexes dropped until
    /// [`SqliteStore::finish_bulk_load`] rebuilds them and makes everything durable (see
    /// `bulk.rs`). Off by default.
    pub bulk_load: bool,
    /// In a bulk load, keep the token value index (see `bulk.rs`): for inputs whose
    /// resources are found by identifier during the load (many conditional creates,
    /// `ifNoneExist` or distinct conditional references), which would each scan the token
    /// table without it. Off by default.
    pub bulk_keep_token_index: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            max_batch_units: 256,
            max_batch_latency: Duration::from_millis(10),
            group_commit_wait: Duration::from_millis(2),
            cache_size_kib: 32 * 1024,
            wal_autocheckpoint_pages: 1000,
            bulk_load: false,
            bulk_keep_token_index: false,
        }
    }
}

/// The SQLite store. Share it between threads (`Arc<SqliteStore>` or `&SqliteStore`).
pub struct SqliteStore {
    // Field order is drop order: readers close before the writer, so the writer is the last
    // connection and SQLite checkpoints the WAL when it closes.
    readers: ReadPool,
    writer: Writer,
    dir: PathBuf,
    /// Set while a bulk load is open (until `finish_bulk_load`).
    bulk_load: std::sync::atomic::AtomicBool,
    /// Sorter threads for rebuilding indexes after a bulk load.
    sort_threads: usize,
    /// The data directory's lock (`bulk.rs`), held until the store is dropped.
    _lock: std::fs::File,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`, applying pending migrations.
    pub fn open(dir: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        database_path(dir)?;
        let lock = bulk::lock_dir(dir, options.bulk_load)?;
        let mut conn = open_write_connection(dir, &options)?;
        migrations::apply(&mut conn)?;
        let sort_threads = std::thread::available_parallelism().map_or(2, usize::from);
        if options.bulk_load {
            let dropped = bulk::start(&conn, options.bulk_keep_token_index)?;
            tracing::debug!(
                dropped,
                "bulk load: search value indexes dropped until the end"
            );
        } else {
            let (rebuilt, took) = bulk::restore_indexes(&conn, sort_threads)?;
            if rebuilt > 0 {
                tracing::warn!(
                    rebuilt,
                    seconds = took.as_secs_f64(),
                    "rebuilt the search indexes an interrupted bulk load had dropped"
                );
            }
        }
        let readers = (0..options.read_connections.max(1))
            .map(|_| open_read_connection(dir, &options))
            .collect::<Result<Vec<_>, _>>()?;
        let limits = BatchLimits {
            max_units: options.max_batch_units.max(1),
            max_latency: options.max_batch_latency,
            linger: options.group_commit_wait,
        };
        Ok(SqliteStore {
            readers: ReadPool::new(readers),
            writer: Writer::new(conn, limits)?,
            dir: dir.to_path_buf(),
            bulk_load: std::sync::atomic::AtomicBool::new(options.bulk_load),
            sort_threads,
            _lock: lock,
        })
    }

    /// Ends a bulk load ([`SqliteOptions::bulk_load`]): rebuilds the search indexes, sets
    /// `synchronous=FULL` again and checkpoints with an fsync, so everything committed so far
    /// is durable when this returns `Ok`. Nothing to do (and `Ok`) for a store not opened for a
    /// bulk load, or a second time. [`SqliteStore::close`] calls it too.
    pub fn finish_bulk_load(&self) -> Result<BulkLoadReport, StoreError> {
        if !self.bulk_load.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(BulkLoadReport::default());
        }
        let report = self
            .writer
            .with_idle_connection(|conn| bulk::finish(conn, self.sort_threads))?;
        self.bulk_load
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(report)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counters of committed batches and units since open.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Copies the WAL into the database file and truncates it (between batches).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.writer.with_idle_connection(checkpoint)
    }

    /// Reads a pragma on the writer connection (for checks and diagnostics): e.g.
    /// `journal_mode` or `synchronous`.
    pub fn writer_pragma(&self, name: &str) -> Result<String, StoreError> {
        self.writer
            .with_idle_connection(|conn| read_pragma(conn, name))
    }

    /// Runs a store-internal write on the writer connection and returns its value.
    fn write_value<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut value = None;
        self.writer.write(|conn| {
            value = Some(work(conn)?);
            Ok(())
        })?;
        value.ok_or_else(|| StoreError::internal("a store write committed without its value"))
    }

    /// Finishes (every write has returned once `self` is owned), checkpoints and closes every
    /// connection, reporting any error.
    pub fn close(self) -> Result<(), StoreError> {
        self.readers.close()?;
        self.finish_bulk_load()?;
        self.writer.with_idle_connection(|conn| {
            // Gathers planner statistics where they changed enough to matter.
            conn.execute_batch("PRAGMA optimize")?;
            checkpoint(conn)
        })?;
        self.writer
            .into_connection()
            .close()
            .map_err(|(_, error)| StoreError::from(error))
    }
}

impl ResourceStore for SqliteStore {
    fn write_as(&self, context: &ChangeContext, work: UnitOfWork<'_>) -> Result<(), StoreError> {
        self.writer.write(|conn| {
            let mut tx = SqliteTransaction::new(conn, context);
            work(&mut tx)?;
            tx.finish()
        })
    }

    fn read(&self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>, StoreError> {
        reader::read(&self.readers.get(), resource_type, id)
    }

    fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version_id: u64,
    ) -> Result<Option<StoredVersion>, StoreError> {
        reader::vread(&self.readers.get(), resource_type, id, version_id)
    }

    fn history(&self, query: &HistoryQuery) -> Result<Vec<StoredVersion>, StoreError> {
        reader::history(&self.readers.get(), query)
    }

    fn history_count(&self, query: &HistoryQuery) -> Result<u64, StoreError> {
        reader::history_count(&self.readers.get(), query)
    }

    fn scan(
        &self,
        resource_type: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        reader::scan(&self.readers.get(), resource_type, after, limit)
    }

    fn scan_as_of(&self, scan: &SnapshotScan) -> Result<Vec<StoredVersion>, StoreError> {
        jobs::scan_as_of(&self.readers.get(), scan)
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        jobs::last_seq(&self.readers.get())
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .readers
            .get()
            .prepare_cached("SELECT value FROM setting WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?)
    }

    fn query_resources(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        reader::query_resources(&self.readers.get(), sql, params)
    }

    fn query_count(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        reader::query_count(&self.readers.get(), sql, params)
    }
}

impl ChangeLog for SqliteStore {
    fn changes_after(&self, after_seq: u64, limit: usize) -> Result<Vec<ChangeEvent>, StoreError> {
        changes::changes_after(&self.readers.get(), after_seq, limit)
    }

    fn wait_for_change(&self, after_seq: u64, timeout: Duration) -> Result<u64, StoreError> {
        Ok(self.writer.wait_for_commit(after_seq, timeout))
    }

    fn register_consumer(&self, name: &str, start: ConsumerStart) -> Result<u64, StoreError> {
        self.write_value(|conn| changes::register_consumer(conn, name, start))
    }

    fn unregister_consumer(&self, name: &str) -> Result<bool, StoreError> {
        self.write_value(|conn| changes::unregister_consumer(conn, name))
    }

    fn consumer_position(&self, name: &str) -> Result<Option<u64>, StoreError> {
        changes::consumer_position(&self.readers.get(), name)
    }

    fn set_consumer_position(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.writer
            .write(|conn| changes::set_consumer_position(conn, name, seq))
    }

    fn consumers(&self) -> Result<Vec<(String, u64)>, StoreError> {
        changes::consumers(&self.readers.get())
    }

    fn prune_outbox(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            // One chunk per unit of work: requests queued on the writer get in between.
            let deleted = self.write_value(changes::prune_chunk)?;
            total += deleted;
            if deleted == 0 {
                return Ok(total);
            }
        }
    }

    fn audit_after(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        changes::audit_after(&self.readers.get(), after_seq, limit)
    }

    fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, StoreError> {
        changes::audit_entry(&self.readers.get(), seq)
    }

    fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        changes::search_audit(&self.readers.get(), query)
    }

    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        changes::audit_head(&self.readers.get())
    }
}

impl JobStore for SqliteStore {
    fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.writer.write(|conn| jobs::insert_job(conn, job))
    }

    fn update_job(&self, job: &JobRecord, expected_state: &str) -> Result<bool, StoreError> {
        self.write_value(|conn| jobs::update_job(conn, job, expected_state))
    }

    fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        jobs::job(&self.readers.get(), id)
    }

    fn jobs(
        &self,
        kind: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        jobs::jobs(&self.readers.get(), kind, state, limit)
    }

    fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        self.write_value(|conn| jobs::delete_job(conn, id))
    }
}

impl MessageStore for SqliteStore {
    fn inbound_message(
        &self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError> {
        changes::inbound_message(&self.readers.get(), sender, control_id)
    }

    fn inbound_messages(
        &self,
        state: &str,
        limit: usize,
    ) -> Result<Vec<InboundMessage>, StoreError> {
        changes::inbound_messages(&self.readers.get(), state, limit)
    }
}

pub(crate) use vigil_model::instant::now_micros;

fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    // Returns (busy, log frames, checkpointed frames); busy only means readers held old frames.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn read_pragma(conn: &Connection, name: &str) -> Result<String, StoreError> {
    let value: rusqlite::types::Value = conn.pragma_query_value(None, name, |row| row.get(0))?;
    Ok(match value {
        rusqlite::types::Value::Integer(number) => number.to_string(),
        rusqlite::types::Value::Text(text) => text,
        other => format!("{other:?}"),
    })
}

fn database_path(dir: &Path) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(|error| {
        StoreError::internal(format!(
            "cannot create data directory {}: {error}",
            dir.display()
        ))
    })?;
    Ok(dir.join(DATABASE_FILE))
}

fn configure(conn: &Connection, options: &SqliteOptions) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "cache_size", -i64::from(options.cache_size_kib))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Opens the read-write connection: WAL and `synchronous=FULL`, both checked.
pub(crate) fn open_write_connection(
    dir: &Path,
    options: &SqliteOptions,
) -> Result<Connection, StoreError> {
    let conn = Connection::open(database_path(dir)?)?;
    configure(&conn, options)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::internal(format!(
            "the database refused WAL mode (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    if synchronous != 2 {
        return Err(StoreError::internal(format!(
            "synchronous is {synchronous}, not FULL (2)"
        )));
    }
    conn.pragma_update(None, "wal_autocheckpoint", options.wal_autocheckpoint_pages)?;
    Ok(conn)
}

fn open_read_connection(dir: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(dir.join(DATABASE_FILE), flags)?;
    configure(&conn, options)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}
