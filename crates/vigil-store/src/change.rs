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

/// An audit record a unit of work appends (the request id and agent come from its
/// [`ChangeContext`]). What the strings hold is the owner's business (the service writes
/// AuditEvent-shaped JSON); the store only keeps them, append-only, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the audited action happened, microseconds since the Unix epoch.
    pub recorded_micros: i64,
    /// What was done, e.g. `read`, `create`, `search`, `export`.
    pub action: String,
    /// How it ended, e.g. `success`, `denied`, `error`.
    pub outcome: String,
    /// What it touched (JSON or text, e.g. `Patient/1/_history/2`).
    pub entity: String,
    /// The full event as the owner wants it kept (JSON).
    pub event: String,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the audit log, increasing in commit order.
    pub seq: u64,
    /// Request id of the unit that appended it.
    pub request_id: String,
    /// Agent of the unit that appended it.
    pub agent: String,
    /// The record as appended.
    pub record: AuditRecord,
    /// Hash of the previous entry; `None` until the audit hash chain is added (security issue).
    pub prev_hash: Option<String>,
    /// Hash of this entry over `prev_hash` and its fields; `None` until then.
    pub hash: Option<String>,
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
