//! Store errors: a struct with a kind, so callers can tell conflicts from faults.

use std::fmt;

/// What went wrong in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The version written is not the next one: another writer got there first.
    VersionConflict,
    /// The caller's unit of work asked to abort (the message says why).
    Aborted,
    /// The database is busy or locked beyond the configured timeout.
    Busy,
    /// An I/O or database fault; not the caller's mistake.
    Internal,
    /// The request is refused as not supported (e.g. a statement that would write, sent
    /// through the read-only query hook). No trait method answers this for a whole method.
    Unsupported,
    /// The named thing does not exist (e.g. an unregistered change-log consumer).
    NotFound,
}

/// A store error with a message safe to log (no resource content).
#[derive(Debug, Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A new error of the given kind.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
        }
    }
    /// An internal fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Internal, message)
    }
    /// The kind of error.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::new(StoreErrorKind::Busy, error.to_string())
            }
            _ => StoreError::internal(error.to_string()),
        }
    }
}
