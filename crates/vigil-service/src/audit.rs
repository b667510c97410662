//! Audit and inbound-message records written in the same commit as the resources.
//!
//! An [`AuditHook`] is called at the end of every unit of work, inside it, with the versions
//! the unit wrote; it (or any caller of [`crate::Unit`]) adds [`AuditRecord`]s and
//! [`InboundMessage`]s to the unit's [`Records`], and they are committed with the resources or
//! not at all. [`NoAudit`] (the default) records nothing.
//!
//! The records reach the store through one adapter, [`write_records`]; the service keeps no
//! audit tables of its own.

use crate::{RequestContext, ServiceError};
pub use vigil_store::InboundMessage;
use vigil_store::{Transaction, WriteMethod};

/// A version written by a unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenVersion {
    /// The resource type.
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// The version written.
    pub version_id: u64,
    /// How it was written (create, update, patch, delete).
    pub method: WriteMethod,
}

/// One audit record (shaped after FHIR AuditEvent, without PHI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The request it belongs to.
    pub request_id: String,
    /// Who: [`RequestContext::agent`].
    pub agent: String,
    /// From where: the peer address, if any.
    pub remote_addr: Option<String>,
    /// Why: the purpose of use, or the break-the-glass reason.
    pub purpose: Option<String>,
    /// What was done (`create`, `read`, `search-type`, an operation name, ...).
    pub action: String,
    /// What it was done to: `Type/id/_history/vid` references.
    pub entities: Vec<String>,
    /// The outcome (`0` success, as AuditEvent.outcome codes).
    pub outcome: String,
    /// When, in microseconds since the epoch.
    pub recorded_micros: i64,
}

impl AuditRecord {
    /// A successful-action record for `context`, with no entities yet.
    pub fn for_context(context: &RequestContext, action: &str) -> Self {
        AuditRecord {
            request_id: context.request_id.clone(),
            agent: context.agent(),
            remote_addr: context.remote_addr.map(|a| a.to_string()),
            purpose: context
                .break_glass_reason
                .clone()
                .or_else(|| context.purpose_of_use.clone()),
            action: action.to_owned(),
            entities: Vec::new(),
            outcome: "0".to_owned(),
            recorded_micros: crate::now_micros(),
        }
    }
}

/// Records added during one unit of work, committed with it.
#[derive(Debug, Default)]
pub struct Records {
    pub(crate) audit: Vec<AuditRecord>,
    pub(crate) messages: Vec<InboundMessage>,
}

impl Records {
    /// Adds an audit record to the unit.
    pub fn append_audit(&mut self, record: AuditRecord) {
        self.audit.push(record);
    }

    /// Adds an inbound-message record to the unit.
    pub fn record_message(&mut self, message: InboundMessage) {
        self.messages.push(message);
    }
}

/// Called at the end of every unit of work, inside it, after the last write.
pub trait AuditHook: Send + Sync {
    /// Adds the records for `written` (empty for a unit that wrote nothing) to `records`.
    fn on_commit(
        &self,
        context: &RequestContext,
        written: &[WrittenVersion],
        records: &mut Records,
    ) -> Result<(), ServiceError>;
}

/// Records nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditHook for NoAudit {
    fn on_commit(
        &self,
        _context: &RequestContext,
        _written: &[WrittenVersion],
        _records: &mut Records,
    ) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// The adapter from the unit's records to the store, called inside the unit just before it
/// commits: each audit record goes to [`Transaction::append_audit`] (the full record as JSON in
/// `event`, its references in `entity`; request id and agent come from the unit's change
/// context), each message to [`Transaction::record_message`].
pub(crate) fn write_records(
    tx: &mut dyn Transaction,
    records: &Records,
) -> Result<(), ServiceError> {
    for record in &records.audit {
        tx.append_audit(&store_record(record))?;
    }
    for message in &records.messages {
        tx.record_message(message)?;
    }
    Ok(())
}

fn store_record(record: &AuditRecord) -> vigil_store::AuditRecord {
    let event = serde_json::json!({
        "requestId": record.request_id,
        "agent": record.agent,
        "remoteAddr": record.remote_addr,
        "purpose": record.purpose,
        "action": record.action,
        "entities": record.entities,
        "outcome": record.outcome,
        "recorded": crate::format_instant(record.recorded_micros),
    });
    vigil_store::AuditRecord {
        recorded_micros: record.recorded_micros,
        action: record.action.clone(),
        outcome: record.outcome.clone(),
        entity: record.entities.join(" "),
        event: event.to_string(),
    }
}
