//! `order-sign` and `order-select`: medication safety on the draft orders.

use serde_json::{Value, json};
use vigil_service::{FhirService, RequestContext, ServiceError};

use super::{ServiceDefinition, bad_request, card, patient_id, prefetch};
use crate::medication::feed::{door_resolver, resolver_fault};
use crate::medication::resources::{
    allergy_entry, bundle_resources, is_current_order, medication_entry,
};
use crate::medication::{Finding, MedicationEntry, MedicationKnowledge, check};

/// Answers an order-sign / order-select request with cards.
pub fn answer(
    service: &FhirService,
    context: &RequestContext,
    definition: &ServiceDefinition,
    request: &Value,
) -> Result<Value, ServiceError> {
    let knowledge =
        MedicationKnowledge::embedded().map_err(|e| ServiceError::internal(e.to_string()))?;
    let patient = patient_id(request)?;
    let draft_orders = request["context"]
        .get("draftOrders")
        .ok_or_else(|| bad_request("context.draftOrders is required"))?;
    if draft_orders["resourceType"] != "Bundle" {
        return Err(bad_request("context.draftOrders must be a Bundle"));
    }
    let fault = std::cell::Cell::new(None);
    let mut resolve = door_resolver(service, context, &fault);
    let mut drafts: Vec<MedicationEntry> = Vec::new();
    for (index, resource) in bundle_resources(draft_orders).iter().enumerate() {
        if resource["resourceType"] != "MedicationRequest" {
            continue;
        }
        let fallback = format!("MedicationRequest/draft-{index}");
        if let Some(entry) = medication_entry(resource, &fallback, &mut resolve) {
            drafts.push(entry);
        }
    }
    // order-select: the selected orders are checked; the other drafts count as orders.
    let mut others: Vec<MedicationEntry> = Vec::new();
    if let Some(selections) = request["context"]["selections"].as_array() {
        let selected: Vec<&str> = selections.iter().filter_map(Value::as_str).collect();
        let (chosen, rest): (Vec<_>, Vec<_>) = drafts
            .into_iter()
            .partition(|d| selected.contains(&d.reference.as_str()));
        drafts = chosen;
        others = rest;
    }
    let medications = prefetch(
        service,
        context,
        request,
        definition,
        "medications",
        &patient,
    )?;
    for order in bundle_resources(&medications) {
        if is_current_order(&order)
            && let Some(entry) = medication_entry(&order, "MedicationRequest/unknown", &mut resolve)
        {
            others.push(entry);
        }
    }
    resolver_fault(&fault)?;
    let allergies_value = prefetch(service, context, request, definition, "allergies", &patient)?;
    let allergies: Vec<_> = bundle_resources(&allergies_value)
        .iter()
        .filter(|r| r["resourceType"] == "AllergyIntolerance")
        .filter_map(allergy_entry)
        .collect();
    let findings = check(knowledge, &drafts, &others, &allergies);
    let cards: Vec<Value> = findings.iter().map(|f| finding_card(f, &drafts)).collect();
    Ok(json!({ "cards": cards }))
}

fn finding_card(finding: &Finding, drafts: &[MedicationEntry]) -> Value {
    let label = drafts
        .iter()
        .find(|d| d.reference == finding.draft)
        .map_or("the draft order", |d| d.label.as_str());
    let source = json!({
        "label": "Vigil medication safety",
        "url": "https://doi.org/10.1136/amiajnl-2011-000612",
        "topic": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": finding.kind.act_code().0,
            "display": finding.kind.act_code().1,
        },
    });
    let mut card = card(
        &finding.summary,
        &finding.detail,
        finding.indicator.as_str(),
        source,
    );
    card["suggestions"] = json!([{
        "label": format!("Remove {label} from the order"),
        "uuid": uuid::Uuid::new_v4().to_string(),
        "isRecommended": finding.indicator == crate::medication::Indicator::Critical,
        "actions": [{
            "type": "delete",
            "description": format!("Remove the draft order {label}"),
            "resourceId": [finding.draft],
        }],
    }]);
    card["selectionBehavior"] = json!("at-most-one");
    card
}
