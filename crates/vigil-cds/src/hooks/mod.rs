//! CDS Hooks (1.0 and 2.0 request and response shapes): discovery, the services, prefetch and
//! feedback. The routes are in [`crate::http`].
//!
//! | service id | hook | what |
//! |---|---|---|
//! | `vigil-patient-view` | `patient-view` | open alert Tasks (NEWS2, rules), the latest NEWS2 score, overdue results |
//! | `vigil-medication-safety` | `order-sign` | drug-drug interactions, drug-allergy (with cross-sensitivity), duplicate therapy |
//! | `vigil-medication-safety-select` | `order-select` | the same checks on the selected draft orders |
//!
//! Prefetch: each service advertises templates; a request's `prefetch` entry is used when
//! present (and not null), otherwise Vigil fetches the same query from itself, through the
//! door as `system:cds` (Vigil is the FHIR server; a request's `fhirServer` is not called).

pub mod feedback;
pub mod order;
pub mod patient_view;

use serde_json::{Map, Value, json};
use vigil_service::{
    FhirService, RequestContext, SearchScope, ServiceError, ServiceErrorKind, check_id_syntax,
};

use crate::alerts::OPEN_STATUSES;

/// One CDS service.
pub struct ServiceDefinition {
    /// Its id (the URL path segment).
    pub id: &'static str,
    /// The hook it answers.
    pub hook: &'static str,
    /// Title.
    pub title: &'static str,
    /// Description.
    pub description: &'static str,
    /// Prefetch templates (key, FHIR query).
    pub prefetch: Vec<(&'static str, String)>,
}

/// The services Vigil offers.
pub fn services() -> Vec<ServiceDefinition> {
    let medication_prefetch = || {
        vec![
            (
                "medications",
                "MedicationRequest?subject=Patient/{{context.patientId}}&status=active,on-hold"
                    .to_owned(),
            ),
            (
                "allergies",
                "AllergyIntolerance?patient=Patient/{{context.patientId}}".to_owned(),
            ),
        ]
    };
    vec![
        ServiceDefinition {
            id: "vigil-patient-view",
            hook: "patient-view",
            title: "Vigil ward summary",
            description: "Open early-warning and rule alerts, the latest NEWS2 score and overdue results for the patient in view.",
            prefetch: vec![
                ("patient", "Patient/{{context.patientId}}".to_owned()),
                (
                    "alerts",
                    format!(
                        "Task?subject=Patient/{{{{context.patientId}}}}&status={}",
                        OPEN_STATUSES.join(",")
                    ),
                ),
                (
                    "news2",
                    "Observation?subject=Patient/{{context.patientId}}&code=http://snomed.info/sct|1104051000000101&_sort=-date&_count=1"
                        .to_owned(),
                ),
                (
                    "orders",
                    "ServiceRequest?subject=Patient/{{context.patientId}}&status=active".to_owned(),
                ),
            ],
        },
        ServiceDefinition {
            id: "vigil-medication-safety",
            hook: "order-sign",
            title: "Vigil medication safety",
            description: "Checks draft medication orders for high-priority drug-drug interactions (ONC list, Phansalkar et al. 2012), drug-allergy conflicts with class cross-sensitivity, and duplicate therapy.",
            prefetch: medication_prefetch(),
        },
        ServiceDefinition {
            id: "vigil-medication-safety-select",
            hook: "order-select",
            title: "Vigil medication safety (order select)",
            description: "The medication-safety checks on the orders being selected.",
            prefetch: medication_prefetch(),
        },
    ]
}

/// `GET /cds-services`.
pub fn discovery() -> Value {
    let services: Vec<Value> = services()
        .into_iter()
        .map(|s| {
            let prefetch: Map<String, Value> = s
                .prefetch
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect();
            json!({
                "hook": s.hook, "id": s.id, "title": s.title,
                "description": s.description, "prefetch": prefetch,
            })
        })
        .collect();
    json!({ "services": services })
}

/// A request error (400), with the message shown to the caller.
pub fn bad_request(message: impl Into<String>) -> ServiceError {
    ServiceError::new(
        ServiceErrorKind::Invalid,
        vigil_model::IssueType::Invalid,
        message,
    )
}

/// The checked `context.patientId` of a hook request.
pub fn patient_id(request: &Value) -> Result<String, ServiceError> {
    let id = request["context"]["patientId"]
        .as_str()
        .ok_or_else(|| bad_request("context.patientId is required"))?;
    check_id_syntax(id).map_err(|_| bad_request("context.patientId is not a valid id"))?;
    Ok(id.to_owned())
}

/// A prefetch item: the request's own when present and not null, else the template fetched
/// from Vigil through the door.
pub fn prefetch(
    service: &FhirService,
    context: &RequestContext,
    request: &Value,
    definition: &ServiceDefinition,
    key: &str,
    patient_id: &str,
) -> Result<Value, ServiceError> {
    if let Some(given) = request["prefetch"].get(key).filter(|v| !v.is_null()) {
        if !given.is_object() {
            return Err(bad_request(format!(
                "prefetch.{key} is not a FHIR resource"
            )));
        }
        return Ok(given.clone());
    }
    let template = definition
        .prefetch
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| t.as_str())
        .ok_or_else(|| ServiceError::internal(format!("no prefetch template {key}")))?;
    let query = template.replace("{{context.patientId}}", patient_id);
    fetch(service, context, &query)
}

/// Runs a prefetch query (`Type/id` or `Type?query`) through the door.
pub fn fetch(
    service: &FhirService,
    context: &RequestContext,
    query: &str,
) -> Result<Value, ServiceError> {
    match query.split_once('?') {
        Some((resource_type, params)) => {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(params.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            service.search(
                context,
                SearchScope::Type(resource_type.to_owned()),
                pairs,
                false,
            )
        }
        None => {
            let (resource_type, id) = query
                .split_once('/')
                .ok_or_else(|| ServiceError::internal("a prefetch template is not Type/id"))?;
            match service.read(context, resource_type, id) {
                Ok(found) => serde_json::from_str(&found.version.content)
                    .map_err(|e| ServiceError::internal(e.to_string())),
                Err(error) if error.kind() == ServiceErrorKind::NotFound => Ok(Value::Null),
                Err(error) => Err(error),
            }
        }
    }
}

/// A card (`source` is the CDS Hooks Source object).
pub fn card(summary: &str, detail: &str, indicator: &str, source: Value) -> Value {
    json!({
        "uuid": uuid::Uuid::new_v4().to_string(),
        "summary": summary,
        "detail": detail,
        "indicator": indicator,
        "source": source,
    })
}
