//! Values bound to the search layer's SQL queries, independent of the database driver so the
//! same compiled query can run on SQLite and PostgreSQL.

/// A parameter of a SQL query run through [`crate::Store::query_resources`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (dates as microseconds, versions, sequence numbers).
    Integer(i64),
    /// A double (numbers and quantities).
    Real(f64),
    /// Text (codes, ids, normalised strings).
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Integer(value)
    }
}

impl From<f64> for SqlValue {
    fn from(value: f64) -> Self {
        SqlValue::Real(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        SqlValue::Text(value)
    }
}
