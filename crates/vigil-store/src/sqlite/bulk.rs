//! Bulk-load mode (`vigil import`): the store opened by one process alone, commits not
//! fsync'd, the search value indexes dropped during the load and rebuilt sorted at its end.
//!
//! # Why
//!
//! Each unit of an import inserts about 13 index rows per resource; in the value indexes
//! (`idx_*_value`, ordered by parameter and value) they land on pages all over B-trees that
//! outgrow any page cache, so every COMMIT wrote megabytes of WAL, the checkpoints wrote them
//! again, and the fsync per batch waited for it (526 of 872 s of a 1M-resource import). Without
//! the value indexes the load appends to B-trees ordered by `rid` or `seq`; `CREATE INDEX` at
//! the end sorts each index once (in parallel sorter threads, spilling to temporary files so
//! memory stays bounded) and writes it sequentially.
//!
//! # Safety
//!
//! - **Exclusive.** Every [`super::SqliteStore`] holds a lock on `vigil.lock` in the data
//!   directory for its whole life: shared normally, exclusive in bulk mode, both taken without
//!   waiting. So a bulk load refuses to start while a server (or any other store) has the
//!   directory open, and a server refuses to open it during a bulk load: nobody ever searches
//!   without the indexes or shares the unsynced commits.
//! - **Consistent, not durable, until the end.** WAL mode with `synchronous=NORMAL`: a crash
//!   (of the process or the machine) loses the last commits but never corrupts the database;
//!   an interrupted import is re-run (it is idempotent). [`finish`] makes everything durable:
//!   indexes rebuilt, `synchronous=FULL`, a `wal_checkpoint(TRUNCATE)` that fsyncs the WAL and
//!   the database file.
//! - **Never left without indexes.** The dropped indexes' own `CREATE INDEX` text (read from
//!   `sqlite_master`, so it always matches the schema) is saved in `setting` in the same
//!   transaction that drops them; every open that is not a bulk load rebuilds whatever is
//!   listed there (after an interrupted import), and [`finish`] clears it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::{StoreError, StoreErrorKind};

/// The lock file in the data directory (see the module documentation).
pub const LOCK_FILE: &str = "vigil.lock";

/// The indexes a bulk load drops and rebuilds: the value indexes of the search tables, whose
/// rows land at random places. The tables themselves (clustered on `rid`), `resource` and its
/// `(type, id)` key, and the history indexes (appended in `seq` order) stay.
///
/// Without `idx_token_value`, a token search the import itself makes (a conditional reference
/// such as `Practitioner?identifier=...`, `ifNoneExist`, a conditional create) on an
/// identifier uses the interim partial index below; on any other token parameter it scans
/// every token row (quadratic if there is one per resource).
/// [`SqliteOptions::bulk_keep_token_index`] keeps the whole index (measured at 1M: 747 s with
/// it, 487 s without it and without the interim index).
///
/// [`SqliteOptions::bulk_keep_token_index`]: super::SqliteOptions::bulk_keep_token_index
pub(crate) const DEFERRED_INDEXES: [&str; 9] = [
    "idx_string_value",
    "idx_token_value",
    "idx_date_value",
    "idx_number_value",
    "idx_quantity_value",
    "idx_quantity_canonical",
    "idx_reference_target",
    "idx_reference_url",
    "idx_uri_value",
];

/// The token value index, which a bulk load may keep.
pub(crate) const TOKEN_INDEX: &str = "idx_token_value";

/// While the token index is dropped, a partial index on the `identifier` rows alone (5% of the
/// token rows on Synthea) keeps the import's own identifier lookups (conditional references,
/// `ifNoneExist`, conditional creates) from scanning every token row. SQLite uses a partial
/// index for `param = ?` when the bound value matches its `WHERE` (and re-prepares the
/// statement when the binding changes). Dropped when the real index is rebuilt.
const IDENTIFIER_INDEX: &str = "CREATE INDEX IF NOT EXISTS bulk_load_identifier \
     ON idx_token (param, type, code, system, rid) WHERE param = 'identifier'";

/// `setting` rows `bulk-load-index:NAME` hold the `CREATE INDEX` of each dropped index.
const SETTING_PREFIX: &str = "bulk-load-index:";

/// Takes the data directory's lock: shared for a normal store, exclusive for a bulk load.
/// Neither waits: a conflict is an error saying who probably holds it.
pub(crate) fn lock_dir(dir: &Path, exclusive: bool) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| {
            StoreError::internal(format!(
                "cannot open the lock file {}: {error}",
                path.display()
            ))
        })?;
    let taken = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match taken {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) if exclusive => Err(StoreError::new(
            StoreErrorKind::Busy,
            format!(
                "the data directory {} is in use by another process (a running server?); a bulk \
                 load needs it alone: stop that process, or import without the bulk mode",
                dir.display()
            ),
        )),
        Err(TryLockError::WouldBlock) => Err(StoreError::new(
            StoreErrorKind::Busy,
            format!(
                "the data directory {} is being bulk loaded by another process (vigil import); \
                 open it when that has finished",
                dir.display()
            ),
        )),
        Err(TryLockError::Error(error)) => Err(StoreError::internal(format!(
            "cannot lock {}: {error}",
            path.display()
        ))),
    }
}

/// Starts a bulk load on the writer connection: `synchronous=NORMAL`, then the deferred
/// indexes' definitions saved and the indexes dropped (all but the token index when
/// `keep_token` is set), in one transaction. Returns how many were dropped (0 when an
/// interrupted load already had).
pub(crate) fn start(conn: &Connection, keep_token: bool) -> Result<usize, StoreError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tx = conn.unchecked_transaction()?;
    let mut dropped = 0;
    for name in DEFERRED_INDEXES {
        if keep_token && name == TOKEN_INDEX {
            continue;
        }
        let sql: Option<String> = tx
            .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")?
            .query_row([name], |row| row.get(0))
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })?;
        let Some(sql) = sql else { continue };
        tx.execute(
            "INSERT INTO setting (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![format!("{SETTING_PREFIX}{name}"), sql],
        )?;
        // `name` is one of the constants above, never input.
        tx.execute_batch(&format!("DROP INDEX {name}"))?;
        dropped += 1;
    }
    if !keep_token {
        tx.execute_batch(IDENTIFIER_INDEX)?;
    }
    tx.commit()?;
    Ok(dropped)
}

/// Rebuilds every index a bulk load dropped (listed in `setting`) and forgets the list, in one
/// transaction. Sorts spill to temporary files (not memory) and use `threads` sorter threads.
/// Returns how many indexes were built and what it took.
pub(crate) fn restore_indexes(
    conn: &Connection,
    threads: usize,
) -> Result<(usize, Duration), StoreError> {
    let started = Instant::now();
    let pending: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, value FROM setting WHERE name LIKE 'bulk-load-index:%' ORDER BY name",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let interim: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'bulk_load_identifier'",
        [],
        |row| row.get(0),
    )?;
    if interim > 0 {
        conn.execute_batch("DROP INDEX bulk_load_identifier")?;
    }
    if pending.is_empty() {
        return Ok((0, Duration::ZERO));
    }
    // Sorter runs spill to files: an in-memory temp store would hold every index in RAM.
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.pragma_update(None, "threads", i64::try_from(threads).unwrap_or(1))?;
    let built = (|| {
        let tx = conn.unchecked_transaction()?;
        for (name, sql) in &pending {
            // Written by `start` from sqlite_master; IF NOT EXISTS tolerates a schema that
            // recreated it meanwhile.
            let sql = sql.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
            tx.execute_batch(&sql).map_err(|error| {
                StoreError::internal(format!(
                    "rebuilding the search index {name} failed: {error}"
                ))
            })?;
            tx.execute("DELETE FROM setting WHERE name = ?1", [name])?;
        }
        tx.commit()?;
        Ok::<_, StoreError>(())
    })();
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "threads", 0)?;
    built?;
    Ok((pending.len(), started.elapsed()))
}

/// Ends a bulk load: indexes rebuilt, `synchronous=FULL` again, and a checkpoint that fsyncs
/// the WAL and the database file and truncates the WAL. Once this returns, every commit of the
/// load is durable.
pub(crate) fn finish(conn: &Connection, threads: usize) -> Result<BulkLoadReport, StoreError> {
    let (indexes, index_time) = restore_indexes(conn, threads)?;
    let started = Instant::now();
    conn.pragma_update(None, "synchronous", "FULL")?;
    let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    if synchronous != 2 {
        return Err(StoreError::internal(format!(
            "synchronous is {synchronous}, not FULL (2), after a bulk load"
        )));
    }
    // (busy, log frames, checkpointed frames): busy means a reader kept frames from being
    // copied, which would leave the WAL (and durability) to a later checkpoint: an error here,
    // since nobody else has the database and the store's own readers are idle.
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        return Err(StoreError::internal(
            "the final checkpoint of the bulk load was blocked by a reader",
        ));
    }
    Ok(BulkLoadReport {
        indexes,
        index_time,
        sync_time: started.elapsed(),
    })
}

/// What ending a bulk load did ([`super::SqliteStore::finish_bulk_load`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkLoadReport {
    /// Search indexes rebuilt.
    pub indexes: usize,
    /// Time spent rebuilding them.
    pub index_time: Duration,
    /// Time of the final checkpoint and fsync.
    pub sync_time: Duration,
}
