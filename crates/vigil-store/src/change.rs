//! The records of the change log: who a unit of work acts for ([`ChangeContext`]), the event
//! appended for every stored version ([`ChangeEvent`]), audit records and inbound messages
//! written in the same commit as resources, and where a new consumer starts ([`ConsumerStart`]).

use crate::WriteMethod;

/// Who a unit of work acts for and through which request: carried onto every change event
/// and audit record the unit appends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeContext {
    /// The request's correlation id (the HTTP request id, an HL7 message control id, an import
    /// run id); empty when the write has no request.
    pub request_id: String,
    /// A short principal string: `user:alice`, `client:ward-board`, `system:import`, `dev`.
    pub agent: String,
}

impl ChangeContext {
    /// A context for a request by `agent`.
    pub fn new(request_id: impl Into<String>, agent: impl Into<String>) -> Self {
        ChangeContext {
            request_id: request_id.into(),
            agent: agent.into(),
        }
    }

    /// A context for local system work named `name` (agent `system:NAME`, no request id).
    pub fn system(name: &str) -> Self {
        ChangeContext {
            request_id: String::new(),
            agent: format!("system:{name}"),
        }
    }

    /// The context of writes made through [`crate::ResourceStore::write`], which names none:
    /// agent `system`, no request id.
    pub fn unattributed() -> Self {
        ChangeContext {
            request_id: String::new(),
            agent: "system".to_owned(),
        }
    }
}

/// One entry of the change feed: appended for every stored version, in the same commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// Position in the feed, equal to the version's `seq`; see [`crate::ChangeLog`] for the
    /// ordering promise.
    pub seq: u64,
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// Version written.
    pub version_id: u64,
    /// How it was written (create, update, delete, patch).
    pub method: WriteMethod,
    /// When the event was appended, microseconds since the Unix epoch.
    pub recorded_micros: i64,
    /// The writing unit's [`ChangeContext::request_id`].
    pub request_id: String,
    /// The writing unit's [`ChangeContext::agent`].
    pub agent: String,
}

/// Where a newly registered consumer starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStart {
    /// At the oldest event still kept (position 0): every event not yet pruned is delivered.
    Beginning,
    /// After the newest committed event: only later changes are delivered.
    Now,
}

/// An audit record a unit of work appends. What the strings hold is the owner's business (the
/// service writes a FHIR AuditEvent as JSON in `event`); the store keeps them append-only in
/// commit order, chains them ([`crate::audit_chain`]) and indexes `keys` for
/// [`crate::ChangeLog::search_audit`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditRecord {
    /// When the audited action happened, microseconds since the Unix epoch.
    pub recorded_micros: i64,
    /// The request the action belongs to (not the writing unit's: records of reads are
    /// written later, in batches).
    pub request_id: String,
    /// Who acted: a short principal string such as `user:alice` (no PHI).
    pub agent: String,
    /// What was done, e.g. `read`, `create`, `search-type`, `export`.
    pub action: String,
    /// How it ended: an AuditEvent.outcome code (`0`, `4`, `8`, `12`).
    pub outcome: String,
    /// What it touched, as text (e.g. `Patient/1/_history/2 Patient/1`).
    pub entity: String,
    /// The full event as the owner wants it kept (JSON).
    pub event: String,
    /// Search keys (name, value), e.g. (`entity`, `Patient/1`), (`agent`, `alice`): indexed
    /// beside the record, not part of its hash (they are derived from the event).
    pub keys: Vec<(String, String)>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the audit log: 1, 2, 3, ... in commit order, without gaps.
    pub seq: u64,
    /// The record as appended (its `keys` are not read back: empty).
    pub record: AuditRecord,
    /// Hash of the previous entry ([`crate::audit_chain::GENESIS`] for the first); `None` only
    /// for a row written before the chain existed (which verification reports).
    pub prev_hash: Option<String>,
    /// Hash of this entry over its fields and `prev_hash` ([`crate::audit_chain::entry_hash`]).
    pub hash: Option<String>,
}

/// The newest audit entry as the store recorded it in the same commit (the chain's anchor:
/// removing the last entries without also rewriting it is detected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The newest entry's position.
    pub seq: u64,
    /// The newest entry's hash.
    pub hash: String,
}

/// A search of the audit log: every given criterion must hold; values within one list are
/// alternatives. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Entries with an (`entity`, value) key for one of these values.
    pub entity: Vec<String>,
    /// Entries whose agent is one of these values, or with an (`agent`, value) key for one.
    pub agent: Vec<String>,
    /// Time bounds on `recorded_micros`: every one must hold.
    pub recorded: Vec<TimeBound>,
    /// Only entries with a position below this one (paging cursor).
    pub before_seq: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// One bound on a time, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// `>= t`
    AtOrAfter(i64),
    /// `> t`
    After(i64),
    /// `<= t`
    AtOrBefore(i64),
    /// `< t`
    Before(i64),
}

/// An inbound message (HL7 v2 today) as received, keyed by sender and control id: replays are
/// recognised (idempotency) and failures stay visible (dead letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Sending application/facility, as the owner names it.
    pub sender: String,
    /// The sender's message control id (MSH-10).
    pub control_id: String,
    /// When it was received, microseconds since the Unix epoch.
    pub received_micros: i64,
    /// The message as received.
    pub raw: String,
    /// The owner's state name, e.g. `processed`, `failed`, `dead-letter`.
    pub state: String,
    /// Why it failed, when it did.
    pub error: Option<String>,
}
