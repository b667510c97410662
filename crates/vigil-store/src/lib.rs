//! Storage for Vigil: the traits every backend implements, by kind ([`ResourceStore`] for
//! resources and history, [`ChangeLog`] for the change feed, its consumers and the audit log,
//! [`JobStore`] for background jobs, [`MessageStore`] for inbound messages; [`Store`] is all of
//! them), and the embedded SQLite backend ([`sqlite::SqliteStore`]).
//!
//! The store knows nothing of FHIR semantics beyond "a resource has a type, an id and numbered
//! versions". Validation, version numbering rules, conditional logic and meta handling live in
//! `vigil-service`; the store guarantees atomicity and durability:
//!
//! - A [`ResourceStore::write_as`] unit of work runs in one database transaction. Everything it
//!   wrote (the version rows, current-version rows, index rows, change events, audit records and
//!   inbound-message records) is committed together and is durable (fsync'd) before `write_as`
//!   returns `Ok`. If the closure returns `Err`, nothing it wrote is kept.
//! - Versions are append-only history; the current row of a resource always points at its latest
//!   version, which may be a deletion marker.
//! - Every stored version appends one [`ChangeEvent`] in commit order, stamped with the unit's
//!   [`ChangeContext`]; registered consumers keep their position in the store.
//!
//! Architecture invariant: this crate does not parse FHIR JSON (content is opaque text) and does
//! not know HTTP.

#![deny(missing_docs)]

pub mod audit_chain;
mod change;
pub mod dialect;
mod error;
mod query;
pub mod sqlite;

pub use change::{
    AuditEntry, AuditHead, AuditQuery, AuditRecord, ChangeContext, ChangeEvent, ConsumerStart,
    InboundMessage, TimeBound,
};
pub use dialect::SqlDialect;
pub use error::{StoreError, StoreErrorKind};
pub use query::SqlValue;

use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The operations available inside one unit of work. Everything done through it is committed
/// together (and durably) or not at all.
pub trait Transaction {
    /// The current version of a resource (possibly a deletion marker), seen inside this unit.
    fn current(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredVersion>, StoreError>;
    /// Appends a version, makes it current, replaces its index rows and appends a
    /// [`ChangeEvent`] carrying the unit's [`ChangeContext`].
    fn put(&mut self, version: NewVersion) -> Result<StoredVersion, StoreError>;
    /// Replaces the index rows of the current version of a resource without writing a new
    /// version or a change event: for reindexing after search parameter definitions change.
    /// Returns false when the resource does not exist or its current version is a deletion.
    fn replace_index(
        &mut self,
        resource_type: &str,
        id: &str,
        index: Vec<IndexRow>,
    ) -> Result<bool, StoreError>;
    /// Runs a read-only query compiled by the search layer inside this unit of work, so it sees
    /// the unit's own (and its batch's) uncommitted writes: conditional references in a
    /// transaction bundle resolve against what the bundle already wrote. The query returns the
    /// current-row columns described by the backend (see [`sqlite::RESOURCE_COLUMNS`]);
    /// placeholders are `$1`, `$2`, ... in order.
    fn query_resources(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError>;
    /// Appends an audit record in this unit's commit, chained to the one before (its
    /// `prev_hash` and `hash`, see [`audit_chain`]) and recorded as the new [`AuditHead`] in
    /// the same commit; returns its position in the audit log. The record carries its own
    /// request id and agent (a batch of read records belongs to many requests).
    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError>;
    /// Records an inbound message in this unit's commit, replacing the record with the same
    /// (sender, control id) if there is one; returns true when no such record existed.
    fn record_message(&mut self, message: &InboundMessage) -> Result<bool, StoreError>;
    /// The inbound message recorded under (sender, control id), seen inside this unit: an
    /// ingest unit checks it before applying a message, so a replay cannot apply twice.
    fn inbound_message(
        &mut self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError>;
    /// Sets a database setting (see [`ResourceStore::setting`]), committed with the unit.
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError>;
}

/// A unit of work: runs inside one database transaction.
pub type UnitOfWork<'a> =
    Box<dyn FnOnce(&mut dyn Transaction) -> Result<(), StoreError> + Send + 'a>;

/// Resources: units of work that write them, and every read of versions and history.
/// Implementations are shared between threads; every method blocks.
pub trait ResourceStore: Send + Sync {
    /// Runs `work` in one transaction on behalf of `context` and commits it durably; on `Err`
    /// nothing is kept. Every change event and audit record the unit appends carries `context`.
    fn write_as(&self, context: &ChangeContext, work: UnitOfWork<'_>) -> Result<(), StoreError>;
    /// [`ResourceStore::write_as`] with [`ChangeContext::unattributed`], for callers that act
    /// for no request (tests, reindexing). Request paths use `write_as`.
    fn write(&self, work: UnitOfWork<'_>) -> Result<(), StoreError> {
        self.write_as(&ChangeContext::unattributed(), work)
    }
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
    /// One page of a [`SnapshotScan`].
    fn scan_as_of(&self, scan: &SnapshotScan) -> Result<Vec<StoredVersion>, StoreError>;
    /// The position (`seq`) of the newest committed version, 0 for an empty store: a snapshot
    /// for [`ResourceStore::scan_as_of`].
    fn last_seq(&self) -> Result<u64, StoreError>;
    /// A setting kept in the database (so every process opening it agrees), `None` when never
    /// set; written by [`Transaction::set_setting`].
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// The search layer's hook: runs a read-only SQL query over committed data and returns the
    /// current rows it selects. The query must select exactly the backend's current-row columns
    /// (see [`sqlite::RESOURCE_COLUMNS`]) from `resource r`; placeholders are `$1`, `$2`, ... in
    /// order of first appearance, bound from `params`. A statement that would write is refused.
    fn query_resources(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<StoredVersion>, StoreError>;
    /// Like [`ResourceStore::query_resources`] for a query selecting one integer (e.g.
    /// `count(*)` for `_total`).
    fn query_count(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;
}

/// The commit-ordered logs written by units of work: the change feed (one [`ChangeEvent`] per
/// stored version), its registered consumers, and the audit log.
///
/// # Ordering promise
///
/// Positions are commit-ordered: once a reader has seen position N, no transaction that
/// commits later gets a position at or below N, so a consumer reading "after N" never skips a
/// late commit. Positions may have gaps; a consumer must not expect `N + 1` to follow `N`.
///
/// - **SQLite** (one writer): positions are taken inside the single writer's open
///   transaction as `max(seq) + 1`, and batches commit in the order they were opened, so
///   position order is commit order. A unit rolled back to its savepoint frees its positions,
///   which the next unit reuses before anything was visible; readers see a whole batch or none.
/// - **PostgreSQL with several nodes** must not hand out positions from a plain sequence:
///   `nextval` is taken at insert time, so a transaction that took N+1 can commit before the
///   one holding N, and a reader that saw N+1 skips N for ever. Two correct designs:
///   1. *A commit-order counter.* As its last statement before COMMIT, a writing transaction
///      takes its positions from one counter row (`UPDATE change_counter SET last = last + $n
///      RETURNING last`); the row lock is held until COMMIT, so positions follow commit order
///      (at the cost of serialising the commit point).
///   2. *A visibility horizon.* Each event carries its transaction's `pg_current_xact_id()`
///      (xid8) and a per-transaction counter; a reader reads only events whose xid is below
///      `pg_snapshot_xmin(pg_current_snapshot())`, the oldest transaction still in flight, in
///      (xid, counter) order. Every transaction below the horizon has finished, and any later
///      one gets a larger xid, so no event can appear behind what was read. To keep the `u64`
///      positions of this trait, one sequencer (a task holding an advisory lock) numbers the
///      events below the horizon in that order, and consumers read only numbered events.
///
///   The trait's promise is what callers rely on; the mechanism is the backend's.
///
/// # Consumers and pruning
///
/// A consumer registers by name and keeps its position (the last event it handled) here.
/// [`ChangeLog::prune_outbox`] deletes events at or below the slowest registered consumer's
/// position; with no consumer registered it deletes nothing (a consumer registered later with
/// [`ConsumerStart::Beginning`] would otherwise miss events). Only the change events are
/// pruned: history (`resource_version`) is never touched, and audit records are append-only.
pub trait ChangeLog: Send + Sync {
    /// Change events after position `after_seq`, oldest first, at most `limit`.
    fn changes_after(&self, after_seq: u64, limit: usize) -> Result<Vec<ChangeEvent>, StoreError>;
    /// Blocks until a change with a position after `after_seq` has been durably committed by
    /// this process, or `timeout` has passed; returns the newest committed position known
    /// (which may still be `<= after_seq` after a timeout). Writers wake waiters on commit;
    /// writes by another process are only seen by reading ([`ChangeLog::changes_after`]), so
    /// callers keep a timeout.
    fn wait_for_change(&self, after_seq: u64, timeout: Duration) -> Result<u64, StoreError>;
    /// Registers a consumer (idempotent) and returns its position: unchanged if it was already
    /// registered, otherwise as `start` says.
    fn register_consumer(&self, name: &str, start: ConsumerStart) -> Result<u64, StoreError>;
    /// Forgets a consumer, so it no longer holds back pruning; false when it was not registered.
    fn unregister_consumer(&self, name: &str) -> Result<bool, StoreError>;
    /// The position a registered consumer has acknowledged; `None` when not registered.
    fn consumer_position(&self, name: &str) -> Result<Option<u64>, StoreError>;
    /// Records that a registered consumer has handled everything up to `seq` (it may also move
    /// back, to replay what is still kept); [`StoreErrorKind::NotFound`] when not registered.
    fn set_consumer_position(&self, name: &str, seq: u64) -> Result<(), StoreError>;
    /// Every registered consumer and its position, by name.
    fn consumers(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Deletes the change events every registered consumer has handled; returns how many.
    fn prune_outbox(&self) -> Result<u64, StoreError>;
    /// Audit entries after position `after_seq`, oldest first, at most `limit`.
    fn audit_after(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// One audit entry by position.
    fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, StoreError>;
    /// Audit entries matching `query`, newest first, at most `query.limit`.
    fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    /// The chain head recorded with the newest audit entry; `None` before the first.
    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
}

/// Durable background jobs (bulk export today).
pub trait JobStore: Send + Sync {
    /// Stores a new job durably; [`StoreErrorKind::VersionConflict`] if the id exists.
    fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    /// Replaces a job's state, update time and body, but only while its state is still
    /// `expected_state` (compare-and-set). Returns false (and changes nothing) otherwise or when
    /// the job does not exist.
    fn update_job(&self, job: &JobRecord, expected_state: &str) -> Result<bool, StoreError>;
    /// One job by id.
    fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Jobs of a kind (optionally in one state), oldest first, at most `limit`.
    fn jobs(
        &self,
        kind: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError>;
    /// Removes a job; false when it did not exist.
    fn delete_job(&self, id: &str) -> Result<bool, StoreError>;
}

/// Reads of the inbound messages units of work record ([`Transaction::record_message`]).
pub trait MessageStore: Send + Sync {
    /// The message recorded under (sender, control id).
    fn inbound_message(
        &self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, StoreError>;
    /// Messages in one state (e.g. dead letters), oldest received first, at most `limit`.
    fn inbound_messages(
        &self,
        state: &str,
        limit: usize,
    ) -> Result<Vec<InboundMessage>, StoreError>;
}

/// A whole storage backend: what `Arc<dyn Store>` callers hold. Call a method through the
/// trait that declares it (bring [`ResourceStore`], [`ChangeLog`], [`JobStore`] or
/// [`MessageStore`] into scope).
pub trait Store: ResourceStore + ChangeLog + JobStore + MessageStore {}

impl<T: ResourceStore + ChangeLog + JobStore + MessageStore + ?Sized> Store for T {}

/// Runs a unit of work that produces a value: a typed convenience over
/// [`ResourceStore::write`] (no request context; see [`write_with_context`]).
pub fn write_with<T: Send>(
    store: &dyn Store,
    work: impl FnOnce(&mut dyn Transaction) -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    write_with_context(store, &ChangeContext::unattributed(), work)
}

/// Runs a unit of work on behalf of `context` that produces a value: a typed convenience over
/// [`ResourceStore::write_as`].
pub fn write_with_context<T: Send>(
    store: &dyn Store,
    context: &ChangeContext,
    work: impl FnOnce(&mut dyn Transaction) -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    let slot: Mutex<Option<T>> = Mutex::new(None);
    store.write_as(
        context,
        Box::new(|tx| {
            let value = work(tx)?;
            *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
            Ok(())
        }),
    )?;
    slot.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .ok_or_else(|| StoreError::internal("unit of work committed without producing its value"))
}
