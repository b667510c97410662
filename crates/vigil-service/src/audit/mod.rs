//! The audit trail: who did what to which resources, when, from where, why and how it ended,
//! as FHIR AuditEvents following the IHE Basic Audit Log Patterns (BALP).
//!
//! - An [`AuditHook`] is called at the end of every unit of work, inside it, with the versions
//!   the unit wrote; it (or any caller of [`crate::Unit`]) adds [`AuditRecord`]s and
//!   [`InboundMessage`]s to the unit's [`Records`], and they are committed with the resources
//!   or not at all. [`NoAudit`] (the default) records nothing.
//! - Everything outside units (read, vread, search, history, `$everything`, export, refused
//!   attempts, logins and token issues) reaches the hook through [`AuditHook::on_event`]
//!   ([`FhirService::audit_event`] is the public door for callers outside the service).
//! - [`AuditTrail`] is the real hook: one record per written version in the unit's commit,
//!   and a background writer that group-commits the other records in batches.
//! - `balp.rs` turns a record into the AuditEvent JSON the store keeps; `events.rs` serves
//!   them back read-only (`AuditEvent/{id}`, `AuditEvent?entity=&agent=&date=`).
//!
//! The records reach the store through one adapter, [`write_records`]; the service keeps no
//! audit tables of its own.

mod access;
mod balp;
mod events;
mod trail;

pub use trail::{AuditTrail, AuditTrailOptions, AuditTrailStats};
pub use vigil_store::AuditHead;
pub use vigil_store::audit_chain::{ChainBreak, ChainSummary};

use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind};
pub use vigil_store::InboundMessage;
use vigil_store::{Transaction, WriteMethod};

pub(crate) use events::{audit_event_capability, refuse_audit_write};

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
    /// The patient it belongs to (`Patient/ID`), when its index names one (a Patient itself,
    /// or its `patient` or `subject` search parameter); `None` for deletion markers.
    pub patient: Option<String>,
}

/// The patient a version being written belongs to, read from its index rows (no parsing).
pub(crate) fn patient_in_index(version: &vigil_store::NewVersion) -> Option<String> {
    if version.resource_type == "Patient" {
        return Some(format!("Patient/{}", version.id));
    }
    ["patient", "subject"].iter().find_map(|param| {
        version.index.iter().find_map(|row| match &row.value {
            vigil_store::IndexValue::Reference {
                target_type: Some(target),
                target_id: Some(id),
                ..
            } if row.param == *param && target == "Patient" => Some(format!("Patient/{id}")),
            _ => None,
        })
    })
}

/// One audited event, before it becomes an AuditEvent (see the module documentation).
///
/// `action` names the interaction as the FHIR http page does (`read`, `vread`, `create`,
/// `update`, `patch`, `delete`, `search-type`, `search-system`, `history-instance`, ...), or
/// an operation (`everything`, `export`, `export-file`), or an authentication event (`login`,
/// `logout`, `token`, `introspect`, `revoke`); see docs/audit.md for the BALP coding of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The request it belongs to.
    pub request_id: String,
    /// Who: [`RequestContext::agent`] (`user:alice`, `client:app`, `dev`, `system:import`).
    pub agent: String,
    /// The client application the request came through (SMART `client_id`), if known.
    pub client_id: Option<String>,
    /// From where: the peer address, if any.
    pub remote_addr: Option<String>,
    /// Why: the purpose of use code the caller stated (e.g. `TREAT`), if any.
    pub purpose_of_use: Option<String>,
    /// Why, in an emergency: the break-the-glass reason (recorded with purpose of use `BTG`).
    pub break_glass_reason: Option<String>,
    /// What was done (see the type documentation).
    pub action: String,
    /// What it was done to: `Type/id` or `Type/id/_history/vid` references.
    pub entities: Vec<String>,
    /// The patient concerned (`Patient/ID`), when known: recorded as its own entity.
    pub patient: Option<String>,
    /// For searches: the query string as sent (kept inside the AuditEvent, base64, as BALP's
    /// query entity; never logged).
    pub query: Option<String>,
    /// The outcome, as AuditEvent.outcome codes: `0` success, `4` minor failure (the request
    /// was wrong: not found, invalid), `8` serious failure (refused: 401/403), `12` major
    /// failure (the server failed).
    pub outcome: String,
    /// A short description of a failure (the error category, never the request's content).
    pub outcome_description: Option<String>,
    /// When, in microseconds since the epoch.
    pub recorded_micros: i64,
}

impl AuditRecord {
    /// A successful-action record for `context`, with no entities yet.
    pub fn for_context(context: &RequestContext, action: &str) -> Self {
        AuditRecord {
            request_id: context.request_id.clone(),
            agent: context.agent(),
            client_id: context.client_id.clone(),
            remote_addr: context.remote_addr.map(|a| a.ip().to_string()),
            purpose_of_use: context.purpose_of_use.clone(),
            break_glass_reason: context.break_glass_reason.clone(),
            action: action.to_owned(),
            entities: Vec::new(),
            patient: context.patient.as_deref().map(patient_reference),
            query: None,
            outcome: "0".to_owned(),
            outcome_description: None,
            recorded_micros: crate::now_micros(),
        }
    }

    /// The same record about `entities`.
    pub fn with_entities(mut self, entities: Vec<String>) -> Self {
        self.entities = entities;
        self
    }

    /// The same record naming `patient` (`Patient/ID` or a bare id) when none is known yet.
    pub fn with_patient(mut self, patient: Option<&str>) -> Self {
        if self.patient.is_none() {
            self.patient = patient.map(patient_reference);
        }
        self
    }

    /// The same record ending with `error` (outcome from its category; see [`outcome_code`]).
    pub fn failed(mut self, error: &ServiceError) -> Self {
        self.outcome = outcome_code(error.kind()).to_owned();
        self.outcome_description = Some(format!("{:?}", error.kind()));
        self
    }

    /// The same record refused as unauthenticated or unauthorised (outcome `8`), with a short
    /// description such as `invalid token` (no token or password text).
    pub fn denied(mut self, description: &str) -> Self {
        self.outcome = "8".to_owned();
        self.outcome_description = Some(description.to_owned());
        self
    }
}

/// `Patient/ID` for a bare id or a reference.
fn patient_reference(patient: &str) -> String {
    if patient.contains('/') {
        patient.to_owned()
    } else {
        format!("Patient/{patient}")
    }
}

/// The AuditEvent.outcome code for a failure category: refusals are serious failures (`8`),
/// the caller's mistakes minor ones (`4`), the server's own faults major ones (`12`).
pub fn outcome_code(kind: ServiceErrorKind) -> &'static str {
    match kind {
        ServiceErrorKind::Forbidden => "8",
        ServiceErrorKind::Internal | ServiceErrorKind::Unavailable => "12",
        _ => "4",
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

/// Where audit records go: called inside every unit of work and for every audited event
/// outside one.
pub trait AuditHook: Send + Sync {
    /// Adds the records for `written` (empty for a unit that wrote nothing) to `records`.
    fn on_commit(
        &self,
        context: &RequestContext,
        written: &[WrittenVersion],
        records: &mut Records,
    ) -> Result<(), ServiceError>;

    /// Records an event outside any unit of work (reads, searches, refusals, logins). It may
    /// be written later (in a batch); the default records nothing.
    fn on_event(&self, record: AuditRecord) {
        let _ = record;
    }

    /// Records a successful read of `content` (read, vread): like [`AuditHook::on_event`], but
    /// the hook may look at the content to name the patient it belongs to (the default does
    /// not).
    fn on_read(&self, record: AuditRecord, content: &std::sync::Arc<str>) {
        let _ = content;
        self.on_event(record);
    }

    /// Returns once every event handed to [`AuditHook::on_event`] so far is durably written
    /// (or could not be); the default has nothing to wait for.
    fn flush(&self) {}
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

impl FhirService {
    /// Records an audited event that happened outside the service's own interactions: a
    /// login, a token issue, a request refused before it reached the door (401). Written
    /// asynchronously by the hook (see [`AuditTrail`]).
    pub fn audit_event(&self, record: AuditRecord) {
        self.audit.on_event(record);
    }

    /// Waits until every audit event recorded so far is written (at shutdown, in tests).
    pub fn flush_audit(&self) {
        self.audit.flush();
    }

    /// Walks the whole audit log and checks its hash chain and head: the outer error is a
    /// storage fault, the inner one names the first broken record.
    /// With `anchor` (a head an earlier verification printed, kept outside the database), the
    /// record at its position must still carry its hash.
    pub fn verify_audit_trail(
        &self,
        anchor: Option<AuditHead>,
    ) -> Result<Result<ChainSummary, ChainBreak>, ServiceError> {
        Ok(vigil_store::audit_chain::verify(
            self.store.as_ref(),
            anchor,
        )?)
    }
}

/// The adapter from the unit's records to the store, called inside the unit just before it
/// commits: each audit record goes to [`Transaction::append_audit`] as its AuditEvent JSON,
/// each message to [`Transaction::record_message`].
pub(crate) fn write_records(
    tx: &mut dyn Transaction,
    records: &Records,
) -> Result<(), ServiceError> {
    for record in &records.audit {
        tx.append_audit(&balp::store_record(record))?;
    }
    for message in &records.messages {
        tx.record_message(message)?;
    }
    Ok(())
}
