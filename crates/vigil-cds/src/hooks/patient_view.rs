//! `patient-view`: open alerts, the latest NEWS2 score, overdue results.
//!
//! A result is overdue when an active ServiceRequest was ordered (its `occurrenceDateTime`,
//! else `authoredOn`) more than [`OVERDUE_AFTER_HOURS`] hours ago and no Observation or
//! DiagnosticReport is `based-on` it.

use serde_json::{Value, json};
use vigil_service::{FhirService, RequestContext, ServiceError, now_micros, parse_instant_micros};

use super::{ServiceDefinition, card, fetch, patient_id, prefetch};
use crate::alerts::{ALERT_SYSTEM, OPEN_STATUSES};
use crate::medication::resources::{bundle_resources, concept_label};

/// Hours after which an unanswered order's result is overdue.
pub const OVERDUE_AFTER_HOURS: i64 = 24;

fn source() -> Value {
    json!({ "label": "Vigil clinical decision support" })
}

/// Answers a patient-view request with cards.
pub fn answer(
    service: &FhirService,
    context: &RequestContext,
    definition: &ServiceDefinition,
    request: &Value,
) -> Result<Value, ServiceError> {
    let patient = patient_id(request)?;
    let mut cards = Vec::new();
    let alerts = prefetch(service, context, request, definition, "alerts", &patient)?;
    for task in bundle_resources(&alerts) {
        let is_alert = task["code"]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["system"] == ALERT_SYSTEM);
        let open = task["status"]
            .as_str()
            .is_some_and(|s| OPEN_STATUSES.contains(&s));
        if !is_alert || !open {
            continue;
        }
        let priority = task["priority"].as_str().unwrap_or("routine");
        let indicator = match priority {
            "stat" => "critical",
            "urgent" | "asap" => "warning",
            _ => "info",
        };
        let description = task["description"].as_str().unwrap_or("CDS alert");
        let acknowledged = if task["status"] == "requested" {
            "not acknowledged"
        } else {
            "acknowledged"
        };
        cards.push(card(
            &summary(&format!(
                "Open {priority} alert ({acknowledged}): {description}"
            )),
            description,
            indicator,
            source(),
        ));
    }
    let scores = prefetch(service, context, request, definition, "news2", &patient)?;
    if let Some(score) = bundle_resources(&scores).into_iter().max_by_key(|s| {
        s["effectiveDateTime"]
            .as_str()
            .and_then(parse_instant_micros)
    }) {
        let risk = score["interpretation"][0]["text"].as_str().unwrap_or("");
        let when = score["effectiveDateTime"]
            .as_str()
            .unwrap_or("unknown time");
        let partial = if score["status"] == "final" {
            ""
        } else {
            ", partial"
        };
        cards.push(card(
            &summary(&format!(
                "Latest NEWS2: {} ({risk}{partial}) at {when}",
                score["valueInteger"]
            )),
            score["note"][0]["text"].as_str().unwrap_or(""),
            "info",
            source(),
        ));
    }
    let orders = prefetch(service, context, request, definition, "orders", &patient)?;
    let limit = now_micros() - OVERDUE_AFTER_HOURS * 3_600_000_000;
    for order in bundle_resources(&orders) {
        if order["resourceType"] != "ServiceRequest" || order["status"] != "active" {
            continue;
        }
        let ordered = order["occurrenceDateTime"]
            .as_str()
            .or(order["authoredOn"].as_str());
        let Some(at) = ordered.and_then(parse_instant_micros) else {
            continue;
        };
        let Some(id) = order["id"].as_str() else {
            continue;
        };
        if at > limit || has_result(service, context, id)? {
            continue;
        }
        let what = concept_label(&order["code"]);
        cards.push(card(
            &summary(&format!("Result overdue: {what}, ordered {}", ordered.unwrap_or(""))),
            &format!(
                "No result is recorded for ServiceRequest/{id} more than {OVERDUE_AFTER_HOURS} hours after it was due."
            ),
            "warning",
            source(),
        ));
    }
    Ok(json!({ "cards": cards }))
}

fn has_result(
    service: &FhirService,
    context: &RequestContext,
    order_id: &str,
) -> Result<bool, ServiceError> {
    for kind in ["Observation", "DiagnosticReport"] {
        let found = fetch(
            service,
            context,
            &format!("{kind}?based-on=ServiceRequest/{order_id}&_count=1"),
        )?;
        if !bundle_resources(&found).is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn summary(text: &str) -> String {
    if text.chars().count() <= 140 {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(139).collect();
        out.push('…');
        out
    }
}
