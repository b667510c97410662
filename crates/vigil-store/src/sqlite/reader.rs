//! Reads: a small pool of read-only connections (WAL lets them run alongside the writer and
//! each other, each seeing the last committed state) and the queries behind the read side of
//! [`crate::ResourceStore`]. Every query binds its inputs; SQL text is only ever assembled from constant
//! fragments.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::{Connection, ToSql, params, params_from_iter};

use super::rows::{limit, stored_version, to_i64_saturating, to_u64};
use super::{CURRENT_BY_KEY, RESOURCE_COLUMNS};
use crate::{HistoryQuery, HistoryScope, SqlValue, StoreError, StoreErrorKind, StoredVersion};

/// Columns of a history row, joined to `resource r` for type and id.
const VERSION_COLUMNS: &str =
    "r.type, r.id, v.version, v.last_updated, v.deleted, v.method, v.seq, v.content";

/// A fixed set of read-only connections handed out one caller at a time.
pub(crate) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl ReadPool {
    pub(crate) fn new(connections: Vec<Connection>) -> Self {
        ReadPool {
            idle: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    /// Waits for an idle connection.
    pub(crate) fn get(&self) -> PooledConnection<'_> {
        let mut idle = lock(&self.idle);
        loop {
            if let Some(conn) = idle.pop() {
                return PooledConnection {
                    pool: self,
                    conn: Some(conn),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Closes every idle connection (all are idle once the store is owned for closing).
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        let connections = std::mem::take(&mut *lock(&self.idle));
        for conn in connections {
            conn.close().map_err(|(_, error)| StoreError::from(error))?;
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool's vector stays consistent even if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection borrowed from the pool; returned on drop.
pub(crate) struct PooledConnection<'p> {
    pool: &'p ReadPool,
    conn: Option<Connection>,
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // `conn` is only taken in `drop`.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled connection used after return"))
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.pool.idle).push(conn);
            self.pool.returned.notify_one();
        }
    }
}

fn collect_versions(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredVersion>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(stored_version(row)?);
    }
    Ok(out)
}

pub(crate) fn read(
    conn: &Connection,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredVersion>, StoreError> {
    Ok(collect_versions(conn, CURRENT_BY_KEY, params![resource_type, id])?.pop())
}

pub(crate) fn vread(
    conn: &Connection,
    resource_type: &str,
    id: &str,
    version_id: u64,
) -> Result<Option<StoredVersion>, StoreError> {
    let Ok(version) = i64::try_from(version_id) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource r JOIN resource_version v ON v.rid = r.rid \
         WHERE r.type = ?1 AND r.id = ?2 AND v.version = ?3"
    );
    Ok(collect_versions(conn, &sql, params![resource_type, id, version])?.pop())
}

/// The WHERE clause and arguments of a history query; `paged` adds the seq cursor.
fn history_filter<'q>(
    query: &'q HistoryQuery,
    paged: bool,
    args: &mut Vec<&'q dyn ToSql>,
    bounds: &'q [i64; 3],
) -> String {
    let mut clauses: Vec<&str> = Vec::new();
    match &query.scope {
        HistoryScope::System => {}
        HistoryScope::Type(resource_type) => {
            clauses.push("v.type = ?");
            args.push(resource_type);
        }
        HistoryScope::Instance(resource_type, id) => {
            clauses.push("v.rid = (SELECT rid FROM resource WHERE type = ? AND id = ?)");
            args.push(resource_type);
            args.push(id);
        }
    }
    // In the paged query the unary `+` keeps the planner on the seq order instead of the time
    // index, so a page is read newest-first and stops at the limit; counting wants the index.
    let (since, before) = if paged {
        ("+v.last_updated >= ?", "+v.last_updated <= ?")
    } else {
        ("v.last_updated >= ?", "v.last_updated <= ?")
    };
    if query.since_micros.is_some() {
        clauses.push(since);
        args.push(&bounds[0]);
    }
    if query.before_micros.is_some() {
        clauses.push(before);
        args.push(&bounds[1]);
    }
    if paged && query.before_seq.is_some() {
        clauses.push("v.seq < ?");
        args.push(&bounds[2]);
    }
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

fn history_bounds(query: &HistoryQuery) -> [i64; 3] {
    [
        query.since_micros.unwrap_or(i64::MIN),
        query.before_micros.unwrap_or(i64::MAX),
        to_i64_saturating(query.before_seq.unwrap_or(u64::MAX)),
    ]
}

pub(crate) fn history(
    conn: &Connection,
    query: &HistoryQuery,
) -> Result<Vec<StoredVersion>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let bounds = history_bounds(query);
    let page_size = limit(query.limit);
    let mut args: Vec<&dyn ToSql> = Vec::new();
    let filter = history_filter(query, true, &mut args, &bounds);
    args.push(&page_size);
    // One resource's versions are in seq order too; ordering by version walks the
    // (rid, version) index instead of sorting.
    let order = match query.scope {
        HistoryScope::Instance(..) => "v.version DESC",
        _ => "v.seq DESC",
    };
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource_version v JOIN resource r ON r.rid = v.rid{filter} \
         ORDER BY {order} LIMIT ?"
    );
    collect_versions(conn, &sql, params_from_iter(args))
}

pub(crate) fn history_count(conn: &Connection, query: &HistoryQuery) -> Result<u64, StoreError> {
    let bounds = history_bounds(query);
    let mut args: Vec<&dyn ToSql> = Vec::new();
    let filter = history_filter(query, false, &mut args, &bounds);
    let sql = format!("SELECT count(*) FROM resource_version v{filter}");
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args), |row| row.get(0))?;
    to_u64(count, "count")
}

pub(crate) fn scan(
    conn: &Connection,
    resource_type: Option<&str>,
    after: Option<(&str, &str)>,
    max: usize,
) -> Result<Vec<StoredVersion>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let page_size = limit(max);
    let mut clauses = vec!["r.deleted = 0"];
    let mut args: Vec<&dyn ToSql> = Vec::new();
    if let Some(resource_type) = &resource_type {
        clauses.push("r.type = ?");
        args.push(resource_type);
    }
    if let Some((after_type, after_id)) = &after {
        clauses.push("(r.type, r.id) > (?, ?)");
        args.push(after_type);
        args.push(after_id);
    }
    args.push(&page_size);
    let sql = format!(
        "SELECT {RESOURCE_COLUMNS} FROM resource r WHERE {} ORDER BY r.type, r.id LIMIT ?",
        clauses.join(" AND ")
    );
    collect_versions(conn, &sql, params_from_iter(args))
}

/// Prepares a search-layer statement, refusing anything that would write.
fn prepare_read_only<'c>(
    conn: &'c Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    let statement = conn.prepare_cached(sql)?;
    if !statement.readonly() {
        return Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "only read-only queries may run through the query hook",
        ));
    }
    Ok(statement)
}

pub(crate) fn query_resources(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<StoredVersion>, StoreError> {
    let mut statement = prepare_read_only(conn, sql)?;
    if statement.column_count() != 8 {
        return Err(StoreError::internal(format!(
            "a resource query must select the 8 columns of RESOURCE_COLUMNS, not {}",
            statement.column_count()
        )));
    }
    let mut rows = statement.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(stored_version(row)?);
    }
    Ok(out)
}

pub(crate) fn query_count(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<u64, StoreError> {
    let mut statement = prepare_read_only(conn, sql)?;
    let count: i64 = statement.query_row(params_from_iter(params), |row| row.get(0))?;
    to_u64(count, "count")
}
