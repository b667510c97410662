//! The [`Transaction`] a unit of work sees: `current`, `put`, the search hook, audit and
//! inbound-message records, all on the writer connection inside the unit's savepoint.
//!
//! `put` is where the store's invariants are enforced: the version must be exactly the next one,
//! the history row, current row, index rows and change event (stamped with the unit's
//! [`ChangeContext`]) are written together, and the previous version's index rows are replaced
//! (a deletion marker keeps none).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{method_code, stored_version};
use super::{CURRENT_BY_KEY, changes, index, now_micros, reader};
use crate::{
    AuditRecord, ChangeContext, InboundMessage, NewVersion, SqlValue, StoreError, StoreErrorKind,
    StoredVersion, Transaction, VersionMeta, WriteMethod,
};

/// A unit of work's view of the writer connection.
pub(crate) struct SqliteTransaction<'c> {
    conn: &'c Connection,
    context: &'c ChangeContext,
    /// The audit chain's end as this unit left it (read once, then carried from append to
    /// append); written as the chain head when the unit finishes.
    audit_tail: Option<changes::AuditTail>,
}

impl<'c> SqliteTransaction<'c> {
    pub(crate) fn new(conn: &'c Connection, context: &'c ChangeContext) -> Self {
        SqliteTransaction {
            conn,
            context,
            audit_tail: None,
        }
    }

    /// The end of a unit whose work succeeded: records the audit chain head once, however
    /// many entries the unit appended (inside its savepoint, so it is rolled back with them).
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        match &self.audit_tail {
            Some(tail) if tail.appended => changes::write_audit_head(self.conn, tail),
            _ => Ok(()),
        }
    }
}

impl Transaction for SqliteTransaction<'_> {
    fn current(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let mut statement = self.conn.prepare_cached(CURRENT_BY_KEY)?;
        let mut rows = statement.query(params![resource_type, id])?;
        match rows.next()? {
            Some(row) => Ok(Some(stored_version(row)?)),
            None => Ok(None),
        }
    }

    fn put(&mut self, version: NewVersion) -> Result<StoredVersion, StoreError> {
        put(self.conn, self.context, version)
    }

    fn replace_index(
        &mut self,
        resource_type: &str,
        id: &str,
        index: Vec<crate::IndexRow>,
    ) -> Result<bool, StoreError> {
        let found: Option<(i64, bool)> = self
            .conn
            .prepare_cached("SELECT rid, deleted FROM resource WHERE type = ?1 AND id = ?2")?
            .query_row(params![resource_type, id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        match found {
            Some((rid, false)) => {
                index::delete_rows(self.conn, rid)?;
                index::insert_rows(self.conn, rid, resource_type, &index)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn query_resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        reader::query_resources(self.conn, sql, params)
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        changes::append_audit(self.conn, &mut self.audit_tail, record)
    }

    fn record_message(&mut self, message: &InboundMessage) -> Result<bool, StoreError> {
        changes::record_message(self.conn, message)
    }

    fn inbound_message(
        &mut self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError> {
        changes::inbound_message(self.conn, sender, control_id)
    }

    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO setting (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![name, value])?;
        Ok(())
    }
}

fn put(
    conn: &Connection,
    context: &ChangeContext,
    version: NewVersion,
) -> Result<StoredVersion, StoreError> {
    let existing: Option<(i64, i64)> = conn
        .prepare_cached("SELECT rid, version FROM resource WHERE type = ?1 AND id = ?2")?
        .query_row(params![version.resource_type, version.id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let expected = existing.map_or(1, |(_, current)| current.saturating_add(1));
    if i64::try_from(version.version_id).ok() != Some(expected) {
        return Err(StoreError::new(
            StoreErrorKind::VersionConflict,
            format!(
                "version {} is not the next version ({expected})",
                version.version_id
            ),
        ));
    }
    let deleted = version.method == WriteMethod::Delete;
    let method = method_code(version.method);
    let seq: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM resource_version")?
        .query_row([], |row| row.get(0))?;
    let rid = match existing {
        Some((rid, _)) => {
            conn.prepare_cached(
                "UPDATE resource SET version = ?2, last_updated = ?3, deleted = ?4, method = ?5, seq = ?6 \
                 WHERE rid = ?1",
            )?
            .execute(params![rid, expected, version.last_updated_micros, deleted, method, seq])?;
            index::delete_rows(conn, rid)?;
            rid
        }
        None => {
            // Not `RETURNING rid` read with query_row: resetting that statement before it is
            // done truncates the statement journal, which inside a large unit of work cost more
            // than everything else the writer does (`vigil import` on Synthea: units 8x faster).
            conn.prepare_cached(
                "INSERT INTO resource (type, id, version, last_updated, deleted, method, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                version.resource_type,
                version.id,
                expected,
                version.last_updated_micros,
                deleted,
                method,
                seq
            ])?;
            conn.last_insert_rowid()
        }
    };
    conn.prepare_cached(
        "INSERT INTO resource_version (seq, rid, type, version, last_updated, method, deleted, content) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        seq,
        rid,
        version.resource_type,
        expected,
        version.last_updated_micros,
        method,
        deleted,
        version.content
    ])?;
    if !deleted {
        index::insert_rows(conn, rid, &version.resource_type, &version.index)?;
    }
    changes::append_event(conn, context, seq, rid, expected, method, now_micros())?;
    Ok(StoredVersion {
        resource_type: version.resource_type,
        id: version.id,
        meta: VersionMeta {
            version_id: version.version_id,
            last_updated_micros: version.last_updated_micros,
            deleted,
            method: version.method,
        },
        content: Arc::from(version.content),
        seq: seq.unsigned_abs(),
    })
}
