//! The full-text rows behind `_content` and `_text` ([`crate::IndexValue::Text`]): one row of
//! the FTS5 table `resource_text` per resource, keyed by `rid`, replaced with the index rows.

use rusqlite::{Connection, params};

use crate::StoreError;

/// Writes the full-text row of a resource (its previous row is already gone).
pub(crate) fn insert(
    conn: &Connection,
    rid: i64,
    content: &str,
    narrative: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO resource_text (rowid, content, narrative) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![rid, content, narrative])?;
    Ok(())
}

/// Removes the full-text row of a resource, if any.
pub(crate) fn delete(conn: &Connection, rid: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM resource_text WHERE rowid = ?1")?
        .execute([rid])?;
    Ok(())
}
