//! An [`AuditRecord`] as a FHIR R4 AuditEvent following the IHE Basic Audit Log Patterns
//! (BALP), and the store record that keeps it (the event JSON plus its search keys).
//!
//! Mapping (details and code systems in docs/audit.md):
//! - `type`/`subtype`: `rest` + the FHIR restful interaction (`read`, `search-type`, ...;
//!   `operation` plus the operation name for `$everything` and `$export`); DICOM `110114`
//!   User Authentication with `110122` Login / `110123` Logout for logins, and IHE IUA `ITI-71`
//!   for token requests.
//! - `action`: C create, R read/vread/history, U update/patch, D delete, E search and
//!   operations and authentication.
//! - `recorded`, `outcome` (0/4/8/12) with `outcomeDesc`.
//! - `agent`: the requestor (the user, or the client for a backend service) with
//!   `requestor: true`, its `network.address` and `purposeOfUse`; the requesting app (SMART
//!   client) when a user acts through it; the server itself as the destination.
//! - `source`: the Vigil server (type 4, application server).
//! - `entity`: each resource touched (role 4 domain resource), the patient as its own entity
//!   (type 1 person, role 1 patient), and for searches the query (role 24, `query` base64).
//! - `purposeOfEvent`: the stated purpose of use; `BTG` (v3 ActReason) with the reason as text
//!   for break-the-glass.
//!
//! The event carries no `id`: the log position is its id, added when it is served.

use super::AuditRecord;
use base64::Engine as _;
use serde_json::{Map, Value, json};

const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const IHE_EVENT_TYPE: &str = "urn:ihe:event-type-code";
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
const OPERATIONS: &str = "urn:vigil:operation";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

/// (type, subtypes, action code) for a record's action.
fn classify(action: &str) -> (Value, Vec<Value>, &'static str) {
    let rest = coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation");
    let interaction = |code: &str| coding(RESTFUL_INTERACTION, code, code);
    match action {
        "create" => (rest, vec![interaction("create")], "C"),
        "update" | "patch" => (rest, vec![interaction(action)], "U"),
        "delete" => (rest, vec![interaction("delete")], "D"),
        "read" | "vread" => (rest, vec![interaction(action)], "R"),
        "history" | "history-instance" | "history-type" | "history-system" => {
            (rest, vec![interaction(action)], "R")
        }
        "search" | "search-type" | "search-system" | "search-compartment" => {
            let code = if action == "search-compartment" {
                "search-type"
            } else {
                action
            };
            (rest, vec![interaction(code)], "E")
        }
        "transaction" | "batch" => (rest, vec![interaction(action)], "E"),
        "login" => (
            coding(DICOM, "110114", "User Authentication"),
            vec![coding(DICOM, "110122", "Login")],
            "E",
        ),
        "logout" => (
            coding(DICOM, "110114", "User Authentication"),
            vec![coding(DICOM, "110123", "Logout")],
            "E",
        ),
        "token" | "introspect" | "revoke" => (
            coding(DICOM, "110114", "User Authentication"),
            vec![
                coding(IHE_EVENT_TYPE, "ITI-71", "Get Access Token"),
                interaction(action),
            ],
            "E",
        ),
        operation => (
            rest,
            vec![
                interaction("operation"),
                coding(OPERATIONS, operation, operation),
            ],
            "E",
        ),
    }
}

/// The agent's `who`: a user or client by identifier (their ids are not FHIR resources).
fn who(agent: &str) -> Value {
    let (system, value) = match agent.split_once(':') {
        Some((kind, id)) => (format!("urn:vigil:{kind}"), id),
        None => ("urn:vigil:agent".to_owned(), agent),
    };
    json!({"identifier": {"system": system, "value": value}, "display": agent})
}

fn purposes(record: &AuditRecord) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(reason) = &record.break_glass_reason {
        out.push(json!({
            "coding": [coding(ACT_REASON, "BTG", "break the glass")],
            "text": reason,
        }));
    }
    if let Some(code) = &record.purpose_of_use {
        out.push(json!({"coding": [{"system": ACT_REASON, "code": code}]}));
    }
    out
}

fn agents(record: &AuditRecord, purpose: &[Value]) -> Vec<Value> {
    let is_client = record.agent.starts_with("client:");
    let requestor_type = if is_client {
        coding(DICOM, "110153", "Source Role ID")
    } else {
        coding(PARTICIPATION_TYPE, "IRCP", "information recipient")
    };
    let mut requestor = Map::new();
    requestor.insert("type".into(), json!({"coding": [requestor_type]}));
    requestor.insert("who".into(), who(&record.agent));
    requestor.insert("requestor".into(), Value::Bool(true));
    if let Some(address) = &record.remote_addr {
        requestor.insert(
            "network".into(),
            json!({"address": address, "type": network_type(address)}),
        );
    }
    if !purpose.is_empty() {
        requestor.insert("purposeOfUse".into(), Value::Array(purpose.to_vec()));
    }
    let mut out = vec![Value::Object(requestor)];
    if let Some(client) = record
        .client_id
        .as_deref()
        .filter(|client| !is_client || record.agent != format!("client:{client}"))
    {
        let mut app = json!({
            "type": {"coding": [coding(DICOM, "110150", "Application")]},
            "who": who(&format!("client:{client}")),
            "requestor": false,
        });
        if let (Some(address), Some(app)) = (&record.remote_addr, app.as_object_mut()) {
            app.insert(
                "network".into(),
                json!({"address": address, "type": network_type(address)}),
            );
        }
        out.push(app);
    }
    out.push(json!({
        "type": {"coding": [coding(DICOM, "110152", "Destination Role ID")]},
        "who": {"display": "Vigil FHIR server"},
        "requestor": false,
    }));
    out
}

/// AuditEvent.agent.network.type: `1` machine name, `2` IP address.
fn network_type(address: &str) -> &'static str {
    if address.parse::<std::net::IpAddr>().is_ok() {
        "2"
    } else {
        "1"
    }
}

fn entities(record: &AuditRecord) -> Vec<Value> {
    let mut out: Vec<Value> = record
        .entities
        .iter()
        .map(|reference| {
            // A bulk export job is not a FHIR resource: named by identifier.
            let what = match reference.strip_prefix("export-job/") {
                Some(job) => {
                    json!({"identifier": {"system": "urn:vigil:export-job", "value": job}})
                }
                None => json!({"reference": reference}),
            };
            json!({
                "what": what,
                "type": coding(ENTITY_TYPE, "2", "System Object"),
                "role": coding(OBJECT_ROLE, "4", "Domain Resource"),
            })
        })
        .collect();
    if let Some(patient) = &record.patient {
        out.push(json!({
            "what": {"reference": patient},
            "type": coding(ENTITY_TYPE, "1", "Person"),
            "role": coding(OBJECT_ROLE, "1", "Patient"),
        }));
    }
    if let Some(query) = &record.query {
        out.push(json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "role": coding(OBJECT_ROLE, "24", "Query"),
            "query": base64::engine::general_purpose::STANDARD.encode(query),
        }));
    }
    out
}

/// The AuditEvent for `record` (without `id`).
pub(crate) fn audit_event(record: &AuditRecord) -> Value {
    let (kind, subtype, action) = classify(&record.action);
    let purpose = purposes(record);
    let mut event = Map::new();
    event.insert("resourceType".into(), "AuditEvent".into());
    event.insert("type".into(), kind);
    event.insert("subtype".into(), Value::Array(subtype));
    event.insert("action".into(), action.into());
    event.insert(
        "recorded".into(),
        crate::format_instant(record.recorded_micros).into(),
    );
    event.insert("outcome".into(), record.outcome.clone().into());
    if let Some(description) = &record.outcome_description {
        event.insert("outcomeDesc".into(), description.clone().into());
    }
    if !purpose.is_empty() {
        event.insert("purposeOfEvent".into(), Value::Array(purpose.clone()));
    }
    event.insert("agent".into(), Value::Array(agents(record, &purpose)));
    event.insert(
        "source".into(),
        json!({
            "site": "vigil",
            "observer": {"display": "Vigil FHIR server"},
            "type": [coding(SOURCE_TYPE, "4", "Application Server")],
        }),
    );
    let entity = entities(record);
    if !entity.is_empty() {
        event.insert("entity".into(), Value::Array(entity));
    }
    if !record.request_id.is_empty() {
        // The request id ties the event to the server's log lines (which hold no PHI).
        event.insert(
            "extension".into(),
            json!([{"url": "urn:vigil:extension:request-id",
                    "valueString": record.request_id}]),
        );
    }
    Value::Object(event)
}

/// `Type/id` of a reference that may carry `/_history/vid`.
fn unversioned(reference: &str) -> &str {
    reference
        .split_once("/_history/")
        .map_or(reference, |(head, _)| head)
}

/// The search keys of a record: every entity (unversioned) and the patient, and the agent by
/// its full name (`user:alice`) and bare id (`alice`), the same for the client.
fn keys(record: &AuditRecord) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, value: &str| {
        let key = (name.to_owned(), value.to_owned());
        if !value.is_empty() && !keys.contains(&key) {
            keys.push(key);
        }
    };
    for entity in &record.entities {
        add("entity", unversioned(entity));
    }
    if let Some(patient) = &record.patient {
        add("entity", patient);
    }
    add("agent", &record.agent);
    if let Some((_, id)) = record.agent.split_once(':') {
        add("agent", id);
    }
    if let Some(client) = &record.client_id {
        add("agent", &format!("client:{client}"));
        add("agent", client);
    }
    keys
}

/// The store's record for `record`: the AuditEvent JSON, its search keys and the columns.
pub(crate) fn store_record(record: &AuditRecord) -> vigil_store::AuditRecord {
    vigil_store::AuditRecord {
        recorded_micros: record.recorded_micros,
        request_id: record.request_id.clone(),
        agent: record.agent.clone(),
        action: record.action.clone(),
        outcome: record.outcome.clone(),
        entity: record.entities.join(" "),
        event: audit_event(record).to_string(),
        keys: keys(record),
    }
}
