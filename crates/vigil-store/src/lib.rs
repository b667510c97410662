//! Storage for Vigil: the [`Store`] trait every backend implements, and the embedded SQLite
//! backend ([`sqlite::SqliteStore`]).
//!
//! The store knows nothing of FHIR semantics beyond "a resource has a type, an id and numbered
//! versions". Validation, version numbering rules, conditional logic and meta handling live in
//! `vigil-service`; the store guarantees atomicity and durability:
//!
//! - A [`Store::write`] unit of work runs in one database transaction. Everything it wrote (the
//!   version rows, current-version rows, index rows and outbox events) is committed together and
//!   is durable (fsync'd) before `write` returns `Ok`. If the closure returns `Err`, nothing it
//!   wrote is kept.
//! - Versions are append-only history; the current row of a resource always points at its latest
//!   version, which may be a deletion marker.
//! - Every stored version appends one [`OutboxEvent`]; consumers keep their own cursor.
//!
//! Architecture invariant: this crate does not parse FHIR JSON (content is opaque text) and does
//! not know HTTP.

#![deny(missing_docs)]

pub mod dialect;
mod error;
mod query;
pub mod sqlite;

pub use dialect::SqlDialect;
pub use error::{StoreError, StoreErrorKind};
pub use query::SqlValue;

use std::sync::{Arc, Mutex};

/// How a version came to be; kept with each version for `_history` bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    /// Created by POST (or by a transaction entry with POST).
    Create,
    /// Written by PUT, including update-as-create.
    Update,
    /// Deletion marker written by DELETE.
    Delete,
    /// Written by PATCH.
    Patch,
}

impl WriteMethod {
    /// The HTTP verb that produced such a version.
    pub fn http_verb(self) -> &'static str {
        match self {
            WriteMethod::Create => "POST",
            WriteMethod::Update => "PUT",
            WriteMethod::Delete => "DELETE",
            WriteMethod::Patch => "PATCH",
        }
    }
}

/// The facts about one version, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    /// Version number, starting at 1, increasing by one per write of the same resource.
    pub version_id: u64,
    /// Time of the write, microseconds since the Unix epoch (UTC).
    pub last_updated_micros: i64,
    /// True when this version is a deletion marker.
    pub deleted: bool,
    /// How the version was written.
    pub method: WriteMethod,
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// Resource type, e.g. `Patient`.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version facts.
    pub meta: VersionMeta,
    /// The resource JSON as the service wrote it (meta already set); empty for deletions.
    pub content: Arc<str>,
    /// Position in the global history (and outbox) order; larger is newer.
    pub seq: u64,
}

/// One row of a search index, computed by the search layer at write time.
///
/// The store persists these in the same transaction as the version they describe and replaces
/// the previous version's rows. Querying them belongs to the search layer.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// Search parameter code or id, e.g. `identifier`.
    pub param: String,
    /// The value, by parameter type.
    pub value: IndexValue,
}

/// An indexed value by search-parameter type.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// A normalised string (lower case, accents removed) plus the original.
    String {
        /// Normalised for case- and accent-insensitive prefix search.
        normalized: String,
        /// As written, for `:exact`.
        exact: String,
    },
    /// A token: system and code (either may be absent), plus display text for `:text`.
    Token {
        /// Code system URI.
        system: Option<String>,
        /// Code.
        code: Option<String>,
        /// Display or text, normalised, for `:text`.
        text: Option<String>,
    },
    /// A date range as microseconds since the epoch, inclusive bounds.
    Date {
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
    },
    /// A number kept as its decimal text plus an f64 for range comparisons.
    Number {
        /// Lower bound of the implied precision range.
        low: f64,
        /// Upper bound of the implied precision range.
        high: f64,
    },
    /// A quantity, with canonical (UCUM) value and unit where convertible.
    Quantity {
        /// System of the unit.
        system: Option<String>,
        /// Unit code.
        code: Option<String>,
        /// Value in the unit as written.
        value: f64,
        /// Canonical unit code where the unit converts.
        canonical_code: Option<String>,
        /// Value in the canonical unit.
        canonical_value: Option<f64>,
    },
    /// A reference: target type and id for local references, or the URL as written.
    Reference {
        /// Target resource type for local references.
        target_type: Option<String>,
        /// Target id for local references.
        target_id: Option<String>,
        /// Absolute or canonical URL when the reference is not local.
        url: Option<String>,
    },
    /// A URI.
    Uri(String),
    /// The full text of the resource for `_content` and `_text`: words (as the search layer
    /// splits them) joined by single spaces. At most one per version.
    Text {
        /// The words of the whole resource.
        content: String,
        /// The words of its narrative, when it has one.
        narrative: Option<String>,
    },
}

/// A new version to append.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Must be exactly one more than the current version (1 for a new resource), or the store
    /// answers [`StoreErrorKind::VersionConflict`].
    pub version_id: u64,
    /// Time of the write, microseconds since the Unix epoch (UTC).
    pub last_updated_micros: i64,
    /// How this version was written; `Delete` stores a deletion marker.
    pub method: WriteMethod,
    /// JSON content (empty for deletions).
    pub content: String,
    /// Search index rows for this version (empty for deletions).
    pub index: Vec<IndexRow>,
}

/// Which versions a history query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    /// Every resource.
    System,
    /// Every resource of one type.
    Type(String),
    /// One resource.
    Instance(String, String),
}

/// A history query: newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Which resources.
    pub scope: HistoryScope,
    /// Only versions written at or after this time (microseconds), `_since`.
    pub since_micros: Option<i64>,
    /// Only versions written at or before this time (microseconds), `_at` upper bound.
    pub before_micros: Option<i64>,
    /// Only versions with `seq` strictly below this (paging cursor).
    pub before_seq: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// An event appended to the outbox for every stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Position in the outbox; strictly increasing.
    pub seq: u64,
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version written.
    pub version_id: u64,
    /// How it was written.
    pub method: WriteMethod,
}

/// A scan of one type's resources as they were at a point of the global history: for each
/// resource, its newest version with `seq <= as_of_seq`, skipped when that version is a deletion
/// marker (or the resource did not exist yet). Ordered by id; for bulk export snapshots.
#[derive(Debug, Clone)]
pub struct SnapshotScan {
    /// Resource type.
    pub resource_type: String,
    /// The snapshot: versions written after this position are ignored.
    pub as_of_seq: u64,
    /// Only resources whose version at the snapshot was written at or after this time
    /// (microseconds), `_since`.
    pub since_micros: Option<i64>,
    /// Only ids strictly after this one (paging cursor).
    pub after_id: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// A durable background job (e.g. a bulk export), stored as opaque JSON plus the columns the
/// store filters on. The owner defines `kind`, the `state` values and the `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Unique id.
    pub id: String,
    /// What kind of job (`export`).
    pub kind: String,
    /// The owner's state name (e.g. `accepted`, `in-progress`, `completed`).
    pub state: String,
    /// Creation time, microseconds since the Unix epoch.
    pub created_micros: i64,
    /// Time of the last update, microseconds since the Unix epoch.
    pub updated_micros: i64,
    /// The owner's JSON.
    pub body: String,
}

/// The operations available inside one unit of work.
pub trait Transaction {
    /// The current version of a resource (possibly a deletion marker), seen inside this unit.
    fn current(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredVersion>, StoreError>;
    /// Appends a version, makes it current, replaces its index rows and appends an outbox event.
    fn put(&mut self, version: NewVersion) -> Result<StoredVersion, StoreError>;
    /// Replaces the index rows of the current version of a resource without writing a new
    /// version or an outbox event: for reindexing after search parameter definitions change.
    /// Returns false when the resource does not exist or its current version is a deletion.
    fn replace_index(
        &mut self,
        resource_type: &str,
        id: &str,
        index: Vec<IndexRow>,
    ) -> Result<bool, StoreError> {
        let _ = (resource_type, id, index);
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "this backend cannot reindex",
        ))
    }
    /// Runs a read-only query compiled by the search layer inside this unit of work, so it sees
    /// the unit's own (and its batch's) uncommitted writes: conditional references in a
    /// transaction bundle resolve against what the bundle already wrote. The query returns the
    /// current-row columns described by the backend (see [`sqlite::RESOURCE_COLUMNS`]);
    /// placeholders are `$1`, `$2`, ... in order. Backends without SQL answer
    /// [`StoreErrorKind::Unsupported`].
    fn query_resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let _ = (sql, params);
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "this backend does not run SQL queries",
        ))
    }
}

/// A unit of work: runs inside one database transaction.
pub type UnitOfWork<'a> =
    Box<dyn FnOnce(&mut dyn Transaction) -> Result<(), StoreError> + Send + 'a>;

/// A storage backend. Implementations are shared between threads; every method blocks.
pub trait Store: Send + Sync {
    /// Runs `work` in one transaction and commits it durably; on `Err` nothing is kept.
    fn write(&self, work: UnitOfWork<'_>) -> Result<(), StoreError>;
    /// The current version of a resource, deletion markers included.
    fn read(&self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>, StoreError>;
    /// One version of a resource.
    fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version_id: u64,
    ) -> Result<Option<StoredVersion>, StoreError>;
    /// Versions newest first.
    fn history(&self, query: &HistoryQuery) -> Result<Vec<StoredVersion>, StoreError>;
    /// Number of versions the query covers, ignoring `before_seq` and `limit`.
    fn history_count(&self, query: &HistoryQuery) -> Result<u64, StoreError>;
    /// Current, non-deleted resources of a type (or all types) in (type, id) order, after the
    /// given key, at most `limit`: for reindexing, export and scans.
    fn scan(
        &self,
        resource_type: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StoredVersion>, StoreError>;
    /// Outbox events after `after_seq`, oldest first, at most `limit`.
    fn outbox_after(&self, after_seq: u64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError>;
    /// The position a named outbox consumer has acknowledged (0 if none).
    fn consumer_position(&self, consumer: &str) -> Result<u64, StoreError>;
    /// Records that a named consumer has processed everything up to `seq`.
    fn set_consumer_position(&self, consumer: &str, seq: u64) -> Result<(), StoreError>;
    /// The search layer's hook: runs a read-only SQL query over committed data and returns the
    /// current rows it selects. The query must select exactly the backend's current-row columns
    /// (see [`sqlite::RESOURCE_COLUMNS`]) from `resource r`; placeholders are `$1`, `$2`, ... in
    /// order of first appearance, bound from `params`. A statement that would write is refused.
    /// Backends without SQL answer [`StoreErrorKind::Unsupported`].
    fn query_resources(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let _ = (sql, params);
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "this backend does not run SQL queries",
        ))
    }
    /// Like [`Store::query_resources`] for a query selecting one integer (e.g. `count(*)` for
    /// `_total`).
    fn query_count(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let _ = (sql, params);
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            "this backend does not run SQL queries",
        ))
    }
    /// The position (`seq`) of the newest committed version, 0 for an empty store: a snapshot
    /// for [`Store::scan_as_of`].
    fn last_seq(&self) -> Result<u64, StoreError> {
        Err(unsupported_jobs())
    }
    /// One page of a [`SnapshotScan`].
    fn scan_as_of(&self, scan: &SnapshotScan) -> Result<Vec<StoredVersion>, StoreError> {
        let _ = scan;
        Err(unsupported_jobs())
    }
    /// Stores a new job durably; [`StoreErrorKind::VersionConflict`] if the id exists.
    fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let _ = job;
        Err(unsupported_jobs())
    }
    /// Replaces a job's state, update time and body, but only while its state is still
    /// `expected_state` (compare-and-set). Returns false (and changes nothing) otherwise or when
    /// the job does not exist.
    fn update_job(&self, job: &JobRecord, expected_state: &str) -> Result<bool, StoreError> {
        let _ = (job, expected_state);
        Err(unsupported_jobs())
    }
    /// One job by id.
    fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let _ = id;
        Err(unsupported_jobs())
    }
    /// Jobs of a kind (optionally in one state), oldest first, at most `limit`.
    fn jobs(
        &self,
        kind: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let _ = (kind, state, limit);
        Err(unsupported_jobs())
    }
    /// Removes a job; false when it did not exist.
    fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let _ = id;
        Err(unsupported_jobs())
    }
}

fn unsupported_jobs() -> StoreError {
    StoreError::new(
        StoreErrorKind::Unsupported,
        "this backend does not keep snapshots or jobs",
    )
}

/// Runs a unit of work that produces a value: a typed convenience over [`Store::write`].
pub fn write_with<T: Send>(
    store: &dyn Store,
    work: impl FnOnce(&mut dyn Transaction) -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    let slot: Mutex<Option<T>> = Mutex::new(None);
    store.write(Box::new(|tx| {
        let value = work(tx)?;
        *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
        Ok(())
    }))?;
    slot.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .ok_or_else(|| StoreError::internal("unit of work committed without producing its value"))
}
