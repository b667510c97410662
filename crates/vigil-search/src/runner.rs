//! Where compiled SQL runs: committed data through [`Store`], or inside a unit of work through
//! [`Transaction`] (so conditional references in a transaction bundle see what the bundle
//! already wrote).

use vigil_store::{SqlValue, Store, StoreError, StoreErrorKind, StoredVersion, Transaction};

/// Runs the search layer's statements.
pub trait QueryRunner {
    /// Resources selected by a statement.
    fn resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError>;
    /// A `count(*)`.
    fn count(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;
}

/// Committed data.
pub struct StoreRunner<'a>(pub &'a dyn Store);

impl QueryRunner for StoreRunner<'_> {
    fn resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        self.0.query_resources(sql, params)
    }
    fn count(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        self.0.query_count(sql, params)
    }
}

/// Inside a unit of work.
pub struct TransactionRunner<'a>(pub &'a mut dyn Transaction);

impl QueryRunner for TransactionRunner<'_> {
    fn resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        self.0.query_resources(sql, params)
    }
    fn count(&mut self, _sql: &str, _params: &[SqlValue]) -> Result<u64, StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "totals are not computed inside a unit of work",
        ))
    }
}
