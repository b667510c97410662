//! Writing search index rows: one table per [`IndexValue`] variant, each row keyed by the
//! resource's `rid` and carrying its type and parameter. Rows always describe the current
//! version: a new version deletes the previous rows first; a deletion marker leaves none.

use rusqlite::{Connection, params};

use crate::{IndexRow, IndexValue, StoreError};

/// Every index table, for deleting a resource's rows.
const TABLES: [&str; 7] = [
    "idx_string",
    "idx_token",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_reference",
    "idx_uri",
];

/// Deletes every index row of a resource.
pub(crate) fn delete_rows(conn: &Connection, rid: i64) -> Result<(), StoreError> {
    for table in TABLES {
        // `table` is one of the constants above, never input.
        let sql = format!("DELETE FROM {table} WHERE rid = ?1");
        conn.prepare_cached(&sql)?.execute([rid])?;
    }
    super::full_text::delete(conn, rid)
}

/// Inserts the index rows of a resource's new current version. The statements executed and
/// the rows they changed are counted as `vigil_model::work::Stage::Store` units (issue 20).
pub(crate) fn insert_rows(
    conn: &Connection,
    rid: i64,
    resource_type: &str,
    rows: &[IndexRow],
) -> Result<(), StoreError> {
    let mut changed = 0;
    for (n, row) in rows.iter().enumerate() {
        let n = i64::try_from(n).map_err(|_| StoreError::internal("too many index rows"))?;
        changed += insert_row(conn, rid, n, resource_type, row)?;
    }
    let units = rows.len() + changed;
    vigil_model::work::add(vigil_model::work::Stage::Store, units as u64);
    Ok(())
}

fn insert_row(
    conn: &Connection,
    rid: i64,
    n: i64,
    resource_type: &str,
    row: &IndexRow,
) -> Result<usize, StoreError> {
    let param = row.param.as_str();
    let changed = match &row.value {
        IndexValue::String { normalized, exact } => conn
            .prepare_cached(
                "INSERT INTO idx_string (rid, n, type, param, normalized, exact) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![rid, n, resource_type, param, normalized, exact])?,
        IndexValue::Token { system, code, text } => conn
            .prepare_cached(
                "INSERT INTO idx_token (rid, n, type, param, system, code, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![rid, n, resource_type, param, system, code, text])?,
        IndexValue::Date { low, high } => conn
            .prepare_cached("INSERT INTO idx_date (rid, n, type, param, low, high) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![rid, n, resource_type, param, low, high])?,
        IndexValue::Number { low, high } => conn
            .prepare_cached("INSERT INTO idx_number (rid, n, type, param, low, high) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![rid, n, resource_type, param, low, high])?,
        IndexValue::Quantity { system, code, value, canonical_code, canonical_value } => conn
            .prepare_cached(
                "INSERT INTO idx_quantity (rid, n, type, param, system, code, value, canonical_code, \
                 canonical_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![rid, n, resource_type, param, system, code, value, canonical_code, canonical_value])?,
        IndexValue::Reference { target_type, target_id, url } => conn
            .prepare_cached(
                "INSERT INTO idx_reference (rid, n, type, param, target_type, target_id, url) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![rid, n, resource_type, param, target_type, target_id, url])?,
        IndexValue::Uri(uri) => conn
            .prepare_cached("INSERT INTO idx_uri (rid, n, type, param, uri) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![rid, n, resource_type, param, uri])?,
        IndexValue::Text { content, narrative } => {
            super::full_text::insert(conn, rid, content, narrative.as_deref())?;
            1
        }
    };
    Ok(changed)
}
