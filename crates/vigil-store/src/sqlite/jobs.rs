//! Snapshot scans and durable jobs: the queries behind [`crate::ResourceStore::last_seq`],
//! [`crate::ResourceStore::scan_as_of`] and the job methods (table `job`, migration 0002).
//!
//! A snapshot is a position in the global history (`seq`). History is append-only, so the
//! newest version of a resource with `seq <= as_of` never changes once written: a scan at a
//! fixed `as_of` returns the same resources however long it runs and whatever is written
//! meanwhile. The contract suite (`tests/contract/jobs.rs`) tests all of it.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{limit, stored_version, to_i64_saturating, to_u64};
use crate::{JobRecord, SnapshotScan, StoreError, StoreErrorKind, StoredVersion};

/// Versions as of `?1` of resources of type `?2` with id after `?3`, written at or after `?4`.
/// The current row is the snapshot version unless it was written later (the common case needs
/// no sub-query); otherwise the newest earlier version comes from the `(rid, version)` index,
/// which carries `seq` as the rowid.
const SCAN_AS_OF: &str = "SELECT r.type, r.id, v.version, v.last_updated, v.deleted, v.method, v.seq, v.content \
     FROM resource r JOIN resource_version v ON v.seq = CASE WHEN r.seq <= ?1 THEN r.seq \
       ELSE (SELECT max(w.seq) FROM resource_version w WHERE w.rid = r.rid AND w.seq <= ?1) END \
     WHERE r.type = ?2 AND r.id > ?3 AND v.deleted = 0 AND v.last_updated >= ?4 \
     ORDER BY r.id LIMIT ?5";

const JOB_COLUMNS: &str = "id, kind, state, created, updated, body";

pub(crate) fn last_seq(conn: &Connection) -> Result<u64, StoreError> {
    let seq: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM resource_version")?
        .query_row([], |row| row.get(0))?;
    to_u64(seq, "seq")
}

pub(crate) fn scan_as_of(
    conn: &Connection,
    scan: &SnapshotScan,
) -> Result<Vec<StoredVersion>, StoreError> {
    if scan.limit == 0 {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(SCAN_AS_OF)?;
    let mut rows = statement.query(params![
        to_i64_saturating(scan.as_of_seq),
        scan.resource_type,
        scan.after_id.as_deref().unwrap_or(""),
        scan.since_micros.unwrap_or(i64::MIN),
        limit(scan.limit),
    ])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(stored_version(row)?);
    }
    Ok(out)
}

fn job_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        state: row.get(2)?,
        created_micros: row.get(3)?,
        updated_micros: row.get(4)?,
        body: row.get(5)?,
    })
}

pub(crate) fn insert_job(conn: &Connection, job: &JobRecord) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO job (id, kind, state, created, updated, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            job.id,
            job.kind,
            job.state,
            job.created_micros,
            job.updated_micros,
            job.body
        ])?;
    if inserted == 0 {
        return Err(StoreError::new(
            StoreErrorKind::VersionConflict,
            format!("a job with id {} exists", job.id),
        ));
    }
    Ok(())
}

pub(crate) fn update_job(
    conn: &Connection,
    job: &JobRecord,
    expected_state: &str,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE job SET state = ?3, updated = ?4, body = ?5 WHERE id = ?1 AND state = ?2",
        )?
        .execute(params![
            job.id,
            expected_state,
            job.state,
            job.updated_micros,
            job.body
        ])?;
    Ok(changed > 0)
}

pub(crate) fn delete_job(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("DELETE FROM job WHERE id = ?1")?
        .execute([id])?;
    Ok(changed > 0)
}

pub(crate) fn job(conn: &Connection, id: &str) -> Result<Option<JobRecord>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], job_row)
        .optional()?)
}

pub(crate) fn jobs(
    conn: &Connection,
    kind: &str,
    state: Option<&str>,
    max: usize,
) -> Result<Vec<JobRecord>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM job WHERE kind = ?1 AND (?2 IS NULL OR state = ?2) \
         ORDER BY created, id LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![kind, state, limit(max)], job_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
