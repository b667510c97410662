//! The CapabilityStatement served at `GET /metadata`: generated from the model's list of
//! resource types, the search registry and the interactions this build implements, so it never
//! claims more than the server does.

use crate::{FhirService, format_instant, now_micros};
use serde_json::{Value, json};

/// Interactions supported on every resource type.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// Search result parameters every type accepts (besides its own search parameters).
const COMMON_SEARCH_PARAMS: &[(&str, &str)] = &[
    ("_id", "token"),
    ("_lastUpdated", "date"),
    ("_tag", "token"),
    ("_profile", "uri"),
    ("_security", "token"),
    ("_source", "uri"),
    ("_text", "string"),
    ("_content", "string"),
    ("_has", "special"),
];

impl FhirService {
    /// The server's CapabilityStatement (FHIR 4.0.1, JSON).
    pub fn capability_statement(&self, base_url: &str) -> Value {
        let registry = self.search.registry();
        let resources: Vec<Value> = vigil_model::schema::r4()
            .resource_types()
            .map(|resource_type| {
                let mut search_params: Vec<Value> =
                    COMMON_SEARCH_PARAMS.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
                search_params.extend(registry.parameters(resource_type).filter(|p| !p.code().starts_with('_')).map(|p| {
                    json!({"name": p.code(), "definition": p.def.url, "type": p.kind().as_code()})
                }));
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
                    "searchInclude": ["*"],
                    "searchRevInclude": ["*"],
                    "searchParam": search_params,
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
            "patchFormat": ["application/json-patch+json", "application/fhir+json"],
            "rest": [{
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "history-system"}, {"code": "search-system"}],
            }],
        })
    }
}
