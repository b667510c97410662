//! Medication orders and allergies from FHIR resources (pure; references are resolved by the
//! caller's closure).

use serde_json::{Value, json};

use super::checks::{AllergyEntry, MedicationEntry};

/// The medication concept of a MedicationRequest (or MedicationStatement):
/// `medicationCodeableConcept`, or the `code` of the referenced Medication (contained, or
/// given by `resolve` for `Medication/{id}`), with the Medication's ingredient concepts added
/// as codings of the same concept.
pub fn medication_concept(
    order: &Value,
    resolve: &mut dyn FnMut(&str) -> Option<Value>,
) -> Option<Value> {
    if let Some(concept) = order.get("medicationCodeableConcept") {
        return Some(concept.clone());
    }
    let reference = order["medicationReference"]["reference"].as_str()?;
    let medication = match reference.strip_prefix('#') {
        Some(local) => order["contained"]
            .as_array()?
            .iter()
            .find(|c| c["resourceType"] == "Medication" && c["id"] == local)?
            .clone(),
        None => resolve(reference)?,
    };
    let mut concept = medication.get("code").cloned().unwrap_or_else(|| json!({}));
    let ingredient_codings: Vec<Value> = medication["ingredient"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| {
            i["itemCodeableConcept"]["coding"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    if !ingredient_codings.is_empty() {
        let mut codings = concept["coding"].as_array().cloned().unwrap_or_default();
        codings.extend(ingredient_codings);
        concept["coding"] = Value::Array(codings);
    }
    Some(concept)
}

/// A label for a concept: its text, else the first display, else the first code.
pub fn concept_label(concept: &Value) -> String {
    concept["text"]
        .as_str()
        .or_else(|| {
            concept["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|c| c["display"].as_str().or(c["code"].as_str()))
        })
        .unwrap_or("unnamed medication")
        .to_owned()
}

/// A MedicationRequest as an entry (`None` when it names no medication).
pub fn medication_entry(
    order: &Value,
    fallback_reference: &str,
    resolve: &mut dyn FnMut(&str) -> Option<Value>,
) -> Option<MedicationEntry> {
    let concept = medication_concept(order, resolve)?;
    let reference = match (order["resourceType"].as_str(), order["id"].as_str()) {
        (Some(kind), Some(id)) => format!("{kind}/{id}"),
        _ => fallback_reference.to_owned(),
    };
    Some(MedicationEntry {
        reference,
        label: concept_label(&concept),
        concept,
    })
}

/// Whether a MedicationRequest counts as a current medication (`active` or `on-hold`).
pub fn is_current_order(order: &Value) -> bool {
    matches!(order["status"].as_str(), Some("active" | "on-hold"))
}

/// An AllergyIntolerance as an entry, unless it is inactive, resolved, refuted or entered in
/// error.
pub fn allergy_entry(allergy: &Value) -> Option<AllergyEntry> {
    let clinical = allergy["clinicalStatus"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| c["code"].as_str());
    if matches!(clinical, Some("inactive" | "resolved")) {
        return None;
    }
    let verification = allergy["verificationStatus"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| c["code"].as_str());
    if matches!(verification, Some("refuted" | "entered-in-error")) {
        return None;
    }
    let concept = allergy.get("code")?.clone();
    let id = allergy["id"].as_str().unwrap_or("unknown");
    Some(AllergyEntry {
        reference: format!("AllergyIntolerance/{id}"),
        label: concept_label(&concept),
        concept,
    })
}

/// The resources of a Bundle's entries (or the value itself when it is a single resource).
pub fn bundle_resources(value: &Value) -> Vec<Value> {
    if value["resourceType"] == "Bundle" {
        value["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").cloned())
            .collect()
    } else if value.get("resourceType").is_some() {
        vec![value.clone()]
    } else {
        Vec::new()
    }
}
