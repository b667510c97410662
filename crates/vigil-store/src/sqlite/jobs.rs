//! Snapshot scans and durable jobs: the queries behind [`crate::Store::last_seq`],
//! [`crate::Store::scan_as_of`] and the job methods (table `job`, migration 0002).
//!
//! A snapshot is a position in the global history (`seq`). History is append-only, so the
//! newest version of a resource with `seq <= as_of` never changes once written: a scan at a
//! fixed `as_of` returns the same resources however long it runs and whatever is written
//! meanwhile.

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

#[cfg(test)]
mod tests {
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{
        JobRecord, NewVersion, SnapshotScan, Store, StoreErrorKind, WriteMethod, write_with,
    };

    fn put(store: &SqliteStore, id: &str, version_id: u64, method: WriteMethod, at: i64) {
        let content = if method == WriteMethod::Delete {
            String::new()
        } else {
            format!(r#"{{"resourceType":"Patient","id":"{id}","v":{version_id}}}"#)
        };
        let new = NewVersion {
            resource_type: "Patient".into(),
            id: id.into(),
            version_id,
            last_updated_micros: at,
            method,
            content,
            index: Vec::new(),
        };
        write_with(store, move |tx| tx.put(new)).expect("put");
    }

    fn scan(store: &SqliteStore, as_of_seq: u64, since: Option<i64>) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .scan_as_of(&SnapshotScan {
                    resource_type: "Patient".into(),
                    as_of_seq,
                    since_micros: since,
                    after_id: after.clone(),
                    limit: 2,
                })
                .expect("scan");
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            out.extend(page.into_iter().map(|v| (v.id, v.meta.version_id)));
        }
        out
    }

    #[test]
    fn a_snapshot_scan_ignores_later_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        assert_eq!(store.last_seq().expect("seq"), 0);
        put(&store, "a", 1, WriteMethod::Create, 10);
        put(&store, "b", 1, WriteMethod::Create, 20);
        put(&store, "c", 1, WriteMethod::Create, 30);
        put(&store, "d", 1, WriteMethod::Create, 40);
        put(&store, "d", 2, WriteMethod::Delete, 50);
        let snapshot = store.last_seq().expect("seq");
        assert_eq!(snapshot, 5);
        put(&store, "a", 2, WriteMethod::Update, 60); // updated after: version 1 exported
        put(&store, "b", 2, WriteMethod::Delete, 70); // deleted after: still exported
        put(&store, "d", 3, WriteMethod::Update, 80); // re-created after: not exported
        put(&store, "e", 1, WriteMethod::Create, 90); // created after: not exported
        let expected = vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 1)];
        assert_eq!(scan(&store, snapshot, None), expected);
        assert_eq!(
            scan(&store, snapshot, Some(20)),
            vec![("b".into(), 1), ("c".into(), 1)]
        );
        let now = store.last_seq().expect("seq");
        assert_eq!(
            scan(&store, now, None),
            vec![
                ("a".into(), 2),
                ("c".into(), 1),
                ("d".into(), 3),
                ("e".into(), 1)
            ]
        );
    }

    #[test]
    fn jobs_are_durable_and_updated_by_compare_and_set() {
        let dir = tempfile::tempdir().expect("temp dir");
        let job = JobRecord {
            id: "j1".into(),
            kind: "export".into(),
            state: "accepted".into(),
            created_micros: 1,
            updated_micros: 1,
            body: "{}".into(),
        };
        {
            let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
            store.insert_job(&job).expect("insert");
            let again = store.insert_job(&job).expect_err("duplicate id");
            assert_eq!(again.kind(), StoreErrorKind::VersionConflict);
            let running = JobRecord {
                state: "in-progress".into(),
                updated_micros: 2,
                body: r#"{"done":1}"#.into(),
                ..job.clone()
            };
            assert!(store.update_job(&running, "accepted").expect("cas"));
            assert!(
                !store.update_job(&running, "accepted").expect("cas"),
                "stale expected state"
            );
            store.close().expect("close");
        }
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        let stored = store.job("j1").expect("read").expect("kept");
        assert_eq!(stored.state, "in-progress");
        assert_eq!(stored.body, r#"{"done":1}"#);
        assert_eq!(store.jobs("export", None, 10).expect("list").len(), 1);
        assert_eq!(
            store.jobs("export", Some("accepted"), 10).expect("list"),
            Vec::new()
        );
        assert!(store.jobs("import", None, 10).expect("list").is_empty());
        assert!(store.delete_job("j1").expect("delete"));
        assert!(!store.delete_job("j1").expect("delete"));
        assert_eq!(store.job("j1").expect("read"), None);
    }
}
