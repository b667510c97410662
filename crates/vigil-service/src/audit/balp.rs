//! An [`AuditRecord`] as a FHIR R4 AuditEvent following the IHE Basic Audit Log Patterns
//! (BALP), and the store record that keeps it (the event JSON plus its search keys).
//!
//! Mapping (details and code systems in docs/audit.md):
//! Codings carry system and code (no display), to keep each row small.
//!
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
use std::fmt::Write as _;

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

/// The event is written straight into one string: it is rendered for every write inside the
/// writer's commit, so it must be cheap (no intermediate tree) and compact (codings carry
/// system and code only; displays are optional in FHIR and add nothing a reader needs).
struct Json(String);

impl Json {
    fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// A JSON string literal.
    fn string(&mut self, text: &str) {
        self.0.push('"');
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", u32::from(c));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    /// `"name":` preceded by a comma unless it opens the object.
    fn key(&mut self, name: &str) {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
        self.string(name);
        self.0.push(':');
    }

    fn field(&mut self, name: &str, value: &str) {
        self.key(name);
        self.string(value);
    }

    fn coding(&mut self, system: &str, code: &str) {
        self.raw("{");
        self.field("system", system);
        self.field("code", code);
        self.raw("}");
    }

    /// A list of items written by `item`, comma separated.
    fn list<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Json, &T)) {
        self.raw("[");
        for (index, value) in items.iter().enumerate() {
            if index > 0 {
                self.raw(",");
            }
            item(self, value);
        }
        self.raw("]");
    }
}

/// (type system and code, subtypes, action code) for a record's action.
fn classify(
    action: &str,
) -> (
    (&'static str, &'static str),
    Vec<(&'static str, &str)>,
    &'static str,
) {
    const REST: (&str, &str) = (AUDIT_EVENT_TYPE, "rest");
    const AUTHENTICATION: (&str, &str) = (DICOM, "110114");
    match action {
        "create" => (REST, vec![(RESTFUL_INTERACTION, "create")], "C"),
        "update" | "patch" => (REST, vec![(RESTFUL_INTERACTION, action)], "U"),
        "delete" => (REST, vec![(RESTFUL_INTERACTION, "delete")], "D"),
        "read" | "vread" | "history" | "history-instance" | "history-type" | "history-system" => {
            (REST, vec![(RESTFUL_INTERACTION, action)], "R")
        }
        "search-compartment" => (REST, vec![(RESTFUL_INTERACTION, "search-type")], "E"),
        "search" | "search-type" | "search-system" | "transaction" | "batch" => {
            (REST, vec![(RESTFUL_INTERACTION, action)], "E")
        }
        "login" => (AUTHENTICATION, vec![(DICOM, "110122")], "E"),
        "logout" => (AUTHENTICATION, vec![(DICOM, "110123")], "E"),
        // A request whose bearer token is missing or refused (401).
        "authenticate" => (AUTHENTICATION, Vec::new(), "E"),
        "token" | "introspect" | "revoke" => (
            AUTHENTICATION,
            vec![(IHE_EVENT_TYPE, "ITI-71"), (RESTFUL_INTERACTION, action)],
            "E",
        ),
        operation => (
            REST,
            vec![(RESTFUL_INTERACTION, "operation"), (OPERATIONS, operation)],
            "E",
        ),
    }
}

/// The agent's `who`: a user or client by identifier (their ids are not FHIR resources).
fn who(json: &mut Json, agent: &str) {
    let (kind, value) = match agent.split_once(':') {
        Some((kind, id)) => (kind, id),
        None => ("agent", agent),
    };
    json.key("who");
    json.raw("{\"identifier\":{");
    json.field("system", &format!("urn:vigil:{kind}"));
    json.field("value", value);
    json.raw("}");
    json.field("display", agent);
    json.raw("}");
}

fn purposes(json: &mut Json, record: &AuditRecord) {
    json.raw("[");
    if let Some(reason) = &record.break_glass_reason {
        json.raw("{\"coding\":[");
        json.coding(ACT_REASON, "BTG");
        json.raw("]");
        json.field("text", reason);
        json.raw("}");
    }
    if let Some(code) = &record.purpose_of_use {
        if record.break_glass_reason.is_some() {
            json.raw(",");
        }
        json.raw("{\"coding\":[");
        json.coding(ACT_REASON, code);
        json.raw("]}");
    }
    json.raw("]");
}

fn has_purpose(record: &AuditRecord) -> bool {
    record.break_glass_reason.is_some() || record.purpose_of_use.is_some()
}

/// AuditEvent.agent.network.type: `1` machine name, `2` IP address.
fn network(json: &mut Json, address: &str) {
    json.key("network");
    json.raw("{");
    json.field("address", address);
    let kind = if address.parse::<std::net::IpAddr>().is_ok() {
        "2"
    } else {
        "1"
    };
    json.field("type", kind);
    json.raw("}");
}

fn agents(json: &mut Json, record: &AuditRecord) {
    let is_client = record.agent.starts_with("client:");
    json.raw("[{\"type\":{\"coding\":[");
    if is_client {
        json.coding(DICOM, "110153");
    } else {
        json.coding(PARTICIPATION_TYPE, "IRCP");
    }
    json.raw("]}");
    who(json, &record.agent);
    json.raw(",\"requestor\":true");
    if let Some(address) = &record.remote_addr {
        network(json, address);
    }
    if has_purpose(record) {
        json.key("purposeOfUse");
        purposes(json, record);
    }
    json.raw("}");
    let app = record
        .client_id
        .as_deref()
        .filter(|client| !is_client || record.agent.strip_prefix("client:") != Some(client));
    if let Some(client) = app {
        json.raw(",{\"type\":{\"coding\":[");
        json.coding(DICOM, "110150");
        json.raw("]}");
        who(json, &format!("client:{client}"));
        json.raw(",\"requestor\":false");
        if let Some(address) = &record.remote_addr {
            network(json, address);
        }
        json.raw("}");
    }
    json.raw(",{\"type\":{\"coding\":[");
    json.coding(DICOM, "110152");
    json.raw("]},\"who\":{\"display\":\"Vigil FHIR server\"},\"requestor\":false}]");
}

fn entity(json: &mut Json, what: Option<(&str, &str)>, kind: &str, role: &str) {
    json.raw("{");
    if let Some((key, value)) = what {
        json.key("what");
        json.raw("{");
        if key == "identifier" {
            json.raw("\"identifier\":{");
            json.field("system", "urn:vigil:export-job");
            json.field("value", value);
            json.raw("}");
        } else {
            json.field("reference", value);
        }
        json.raw("}");
    }
    json.key("type");
    json.coding(ENTITY_TYPE, kind);
    json.key("role");
    json.coding(OBJECT_ROLE, role);
}

fn entities(json: &mut Json, record: &AuditRecord) {
    let mut first = true;
    let mut next = |json: &mut Json| {
        if !std::mem::take(&mut first) {
            json.raw(",");
        }
    };
    json.raw("[");
    for reference in &record.entities {
        next(json);
        // A bulk export job is not a FHIR resource: named by identifier.
        let what = match reference.strip_prefix("export-job/") {
            Some(job) => ("identifier", job),
            None => ("reference", reference.as_str()),
        };
        entity(json, Some(what), "2", "4");
        json.raw("}");
    }
    if let Some(patient) = &record.patient {
        next(json);
        entity(json, Some(("reference", patient)), "1", "1");
        json.raw("}");
    }
    if let Some(query) = &record.query {
        next(json);
        entity(json, None, "2", "24");
        json.field(
            "query",
            &base64::engine::general_purpose::STANDARD.encode(query),
        );
        json.raw("}");
    }
    json.raw("]");
}

/// The AuditEvent for `record` (without `id`), as compact JSON.
pub(crate) fn audit_event(record: &AuditRecord) -> String {
    let mut json = Json(String::with_capacity(768));
    let ((type_system, type_code), subtypes, action) = classify(&record.action);
    json.raw("{");
    json.field("resourceType", "AuditEvent");
    json.key("type");
    json.coding(type_system, type_code);
    if !subtypes.is_empty() {
        // FHIR JSON has no empty arrays.
        json.key("subtype");
        json.list(&subtypes, |json, (system, code)| json.coding(system, code));
    }
    json.field("action", action);
    json.field("recorded", &crate::format_instant(record.recorded_micros));
    json.field("outcome", &record.outcome);
    if let Some(description) = &record.outcome_description {
        json.field("outcomeDesc", description);
    }
    if has_purpose(record) {
        json.key("purposeOfEvent");
        purposes(&mut json, record);
    }
    json.key("agent");
    agents(&mut json, record);
    json.key("source");
    json.raw("{\"site\":\"vigil\",\"observer\":{\"display\":\"Vigil FHIR server\"},\"type\":[");
    json.coding(SOURCE_TYPE, "4");
    json.raw("]}");
    if !record.entities.is_empty() || record.patient.is_some() || record.query.is_some() {
        json.key("entity");
        entities(&mut json, record);
    }
    if !record.request_id.is_empty() {
        // The request id ties the event to the server's log lines (which hold no PHI).
        json.key("extension");
        json.raw("[{");
        json.field("url", "urn:vigil:extension:request-id");
        json.field("valueString", &record.request_id);
        json.raw("}]");
    }
    json.raw("}");
    json.0
}

/// `Type/id` of a reference that may carry `/_history/vid`.
fn unversioned(reference: &str) -> &str {
    reference
        .split_once("/_history/")
        .map_or(reference, |(head, _)| head)
}

/// The search keys of a record: every entity (unversioned) and the patient, and the client an
/// action came through (`client:app`). The acting agent is the store's indexed `agent` column;
/// a bare id in a query is expanded to the full forms by the search.
fn keys(record: &AuditRecord) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::with_capacity(4);
    let mut add = |name: &str, value: &str| {
        if !value.is_empty() && !keys.iter().any(|(n, v)| n == name && v == value) {
            keys.push((name.to_owned(), value.to_owned()));
        }
    };
    for entity in &record.entities {
        add("entity", unversioned(entity));
    }
    if let Some(patient) = &record.patient {
        add("entity", patient);
    }
    // The acting agent is found through the indexed `agent` column; only the app is a key.
    if let Some(client) = &record.client_id {
        add("agent", &format!("client:{client}"));
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
        event: audit_event(record),
        keys: keys(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            request_id: "r\"1".into(),
            agent: "user:al\\ice".into(),
            client_id: Some("app\u{1}".into()),
            remote_addr: Some("::1".into()),
            purpose_of_use: Some("TREAT".into()),
            break_glass_reason: Some("line\nbreak \"quoted\" \t tab é".into()),
            action: "everything".into(),
            entities: vec!["Patient/p1/_history/2".into(), "export-job/j1".into()],
            patient: Some("Patient/p1".into()),
            query: Some("name=O'Brien&x=\u{7f}".into()),
            outcome: "8".into(),
            outcome_description: Some("Forbidden".into()),
            recorded_micros: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn the_event_is_valid_json_whatever_the_strings_hold() {
        let text = audit_event(&record());
        let event: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(
            event["purposeOfEvent"][0]["text"],
            "line\nbreak \"quoted\" \t tab é"
        );
        assert_eq!(event["agent"][0]["who"]["display"], "user:al\\ice");
        assert_eq!(event["agent"][0]["network"]["type"], "2");
        assert_eq!(event["agent"][1]["who"]["identifier"]["value"], "app\u{1}");
        assert_eq!(event["extension"][0]["valueString"], "r\"1");
        assert_eq!(event["subtype"][0]["code"], "operation");
        assert_eq!(event["subtype"][1]["code"], "everything");
        assert_eq!(event["entity"][1]["what"]["identifier"]["value"], "j1");
        assert_eq!(event["entity"][2]["role"]["code"], "1");
        assert_eq!(event["entity"][3]["role"]["code"], "24");
        assert_eq!(event["outcomeDesc"], "Forbidden");
    }

    #[test]
    fn a_minimal_event_has_the_required_elements_only() {
        let minimal = AuditRecord {
            request_id: String::new(),
            agent: "dev".into(),
            client_id: None,
            remote_addr: None,
            purpose_of_use: None,
            break_glass_reason: None,
            action: "create".into(),
            entities: Vec::new(),
            patient: None,
            query: None,
            outcome: "0".into(),
            outcome_description: None,
            recorded_micros: 0,
        };
        let event: serde_json::Value = serde_json::from_str(&audit_event(&minimal)).unwrap();
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "type",
                "subtype",
                "action",
                "recorded",
                "outcome",
                "agent",
                "source"
            ]
        );
        assert_eq!(event["action"], "C");
        assert_eq!(
            event["agent"].as_array().unwrap().len(),
            2,
            "requestor and server"
        );
    }

    #[test]
    fn keys_name_entities_unversioned_and_agents_in_full() {
        let keys = keys(&record());
        let pairs: Vec<(&str, &str)> = keys.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("entity", "Patient/p1"),
                ("entity", "export-job/j1"),
                ("agent", "client:app\u{1}"),
            ]
        );
    }
}
