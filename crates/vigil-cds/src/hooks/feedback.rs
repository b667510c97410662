//! The feedback endpoint (`POST /cds-services/{id}/feedback`): each item (`card`, `outcome`
//! `accepted` or `overridden`, `outcomeTimestamp`, optional `acceptedSuggestions` and
//! `overrideReason`) is checked and stored through the door as a `Basic` resource coded
//! `cds-hooks-feedback`, the item's JSON in an extension, so that alert fatigue can be measured
//! later with an ordinary search.

use serde_json::{Value, json};
use vigil_service::{FhirService, RequestContext, ServiceError, format_instant, now_micros};

use super::bad_request;
use crate::alerts::ALERT_SYSTEM;

/// The extension holding a feedback item.
pub const FEEDBACK_EXTENSION: &str =
    "https://vigil.example.invalid/fhir/StructureDefinition/cds-hooks-feedback";

/// Checks and stores the feedback for `service_id`; returns how many items were stored.
pub fn store(
    service: &FhirService,
    context: &RequestContext,
    service_id: &str,
    body: &Value,
) -> Result<usize, ServiceError> {
    let items = body["feedback"]
        .as_array()
        .ok_or_else(|| bad_request("feedback must be an array"))?;
    let mut resources = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let card = item["card"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_request(format!("feedback[{index}].card is required")))?;
        match item["outcome"].as_str() {
            Some("accepted" | "overridden") => {}
            _ => {
                return Err(bad_request(format!(
                    "feedback[{index}].outcome must be accepted or overridden"
                )));
            }
        }
        if item["outcomeTimestamp"].as_str().is_none() {
            return Err(bad_request(format!(
                "feedback[{index}].outcomeTimestamp is required"
            )));
        }
        let now = format_instant(now_micros());
        resources.push(json!({
            "resourceType": "Basic",
            "identifier": [{ "system": FEEDBACK_EXTENSION, "value": format!("{service_id}/{card}") }],
            "code": { "coding": [{ "system": ALERT_SYSTEM, "code": "cds-hooks-feedback" }],
                      "text": format!("CDS Hooks feedback for {service_id}") },
            "created": &now[..10],
            "extension": [{ "url": FEEDBACK_EXTENSION, "valueString": item.to_string() }],
        }));
    }
    for resource in &resources {
        service.create(context, "Basic", resource.clone(), None)?;
    }
    Ok(resources.len())
}
