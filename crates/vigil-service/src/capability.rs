//! The CapabilityStatement served at `GET /metadata`: generated from the model's list of
//! resource types and the interactions this build implements, so it never claims more than the
//! server does.

use crate::{format_instant, now_micros};
use serde_json::{Value, json};

/// Interactions supported on every resource type.
const TYPE_INTERACTIONS: &[&str] = &["read", "vread", "update", "delete", "history-instance", "history-type", "create"];

/// The server's CapabilityStatement (FHIR 4.0.1, JSON).
pub fn capability_statement(base_url: &str) -> Value {
    let resources: Vec<Value> = vigil_model::schema::r4()
        .resource_types()
        .map(|resource_type| {
            json!({
                "type": resource_type,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{resource_type}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": format_instant(now_micros()),
        "publisher": "Vigil",
        "kind": "instance",
        "software": {"name": "Vigil", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Vigil FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "history-system"}],
        }],
    })
}
