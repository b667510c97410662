//! Conversions between SQLite rows and the store's types: method codes, the current-row column
//! list shared by every query that returns [`StoredVersion`]s, and checked integer conversions
//! (a corrupt row is an error, never a panic).

use std::sync::Arc;

use rusqlite::Row;
use rusqlite::types::{ToSql, ToSqlOutput, Value};

use crate::{SqlValue, StoreError, StoredVersion, VersionMeta, WriteMethod};

/// The integer stored for a write method.
pub(crate) fn method_code(method: WriteMethod) -> i64 {
    match method {
        WriteMethod::Create => 1,
        WriteMethod::Update => 2,
        WriteMethod::Delete => 3,
        WriteMethod::Patch => 4,
    }
}

/// The write method for a stored integer.
pub(crate) fn method_from_code(code: i64) -> Result<WriteMethod, StoreError> {
    match code {
        1 => Ok(WriteMethod::Create),
        2 => Ok(WriteMethod::Update),
        3 => Ok(WriteMethod::Delete),
        4 => Ok(WriteMethod::Patch),
        other => Err(StoreError::internal(format!(
            "unknown write method code {other} in the database"
        ))),
    }
}

/// A stored non-negative integer (version, seq) as `u64`.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::internal(format!("negative {what} {value} in the database")))
}

/// A caller's `u64` (cursor, position) as a SQLite integer, saturating: positions beyond
/// `i64::MAX` cannot exist in the database, so clamping keeps comparisons correct.
pub(crate) fn to_i64_saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A caller's page size as a SQLite `LIMIT`.
pub(crate) fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads a [`StoredVersion`] from a row selecting, in order: type, id, version, last_updated,
/// deleted, method, seq, content (see [`super::RESOURCE_COLUMNS`]).
pub(crate) fn stored_version(row: &Row<'_>) -> Result<StoredVersion, StoreError> {
    let version: i64 = row.get(2)?;
    let deleted: i64 = row.get(4)?;
    let method: i64 = row.get(5)?;
    let seq: i64 = row.get(6)?;
    let content = row.get_ref(7)?.as_str().map_err(rusqlite::Error::from)?;
    Ok(StoredVersion {
        resource_type: row.get(0)?,
        id: row.get(1)?,
        meta: VersionMeta {
            version_id: to_u64(version, "version")?,
            last_updated_micros: row.get(3)?,
            deleted: deleted != 0,
            method: method_from_code(method)?,
        },
        content: Arc::from(content),
        seq: to_u64(seq, "seq")?,
    })
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Integer(value) => ToSqlOutput::Owned(Value::Integer(*value)),
            SqlValue::Real(value) => ToSqlOutput::Owned(Value::Real(*value)),
            SqlValue::Text(value) => {
                ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(value.as_bytes()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_codes_round_trip() {
        for method in [
            WriteMethod::Create,
            WriteMethod::Update,
            WriteMethod::Delete,
            WriteMethod::Patch,
        ] {
            assert_eq!(method_from_code(method_code(method)).ok(), Some(method));
        }
        assert!(method_from_code(0).is_err());
        assert!(method_from_code(99).is_err());
    }

    #[test]
    fn conversions_never_panic() {
        assert!(to_u64(-1, "version").is_err());
        assert_eq!(to_u64(7, "version").ok(), Some(7));
        assert_eq!(to_i64_saturating(u64::MAX), i64::MAX);
        assert_eq!(limit(usize::MAX), i64::MAX);
    }
}
