//! The FHIR resources a NEWS2 score produces: the score Observation and the alert Task.
//!
//! Both are plain JSON values, valid FHIR R4 (the tests run them through
//! `vigil_model::validate::validate_resource`); storing them, de-duplicating open alerts and
//! raising an open Task's priority belong to the change-feed consumer above this crate.
//!
//! Codes: the score is SNOMED CT 1104051000000101 (the NEWS2 total score concept of the UK
//! edition). The sub-score components and the risk interpretation use Vigil's own code
//! systems ([`PARAMETER_SYSTEM`], [`RISK_SYSTEM`]) with the chart's wording as display and
//! text: we found no published code for each sub-score that we could check, and we do not
//! invent SNOMED codes.

use serde_json::{Map, Value, json};
use vigil_model::instant::format_instant;
use vigil_model::primitive::Primitive;

use crate::CdsError;
use crate::inputs::News2Inputs;
use crate::news2::{News2Score, SpO2Scale};

/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// SNOMED CT concept of the NEWS2 total score.
pub const NEWS2_SCORE_CODE: &str = "1104051000000101";
/// Vigil's code system for the NEWS2 sub-score components (codes: [`crate::Parameter::key`]).
pub const PARAMETER_SYSTEM: &str = "https://vigil.example.invalid/fhir/CodeSystem/news2-parameter";
/// Vigil's code system for the NEWS2 clinical risk (codes: the chart file's risk codes).
pub const RISK_SYSTEM: &str = "https://vigil.example.invalid/fhir/CodeSystem/news2-clinical-risk";
const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// The score Observation: `valueInteger` the total, a component per parameter present with its
/// sub-score, `interpretation` the risk, `derivedFrom` every input, `status` `final` when
/// complete and `preliminary` otherwise, `effectiveDateTime` the newest input's time.
///
/// `subject` is a `Type/id` reference (`Patient/123`).
pub fn score_observation(
    score: &News2Score,
    inputs: &News2Inputs,
    subject: &str,
) -> Result<Value, CdsError> {
    check_reference("subject", subject)?;
    let newest = inputs.newest().ok_or(CdsError::NoInputs)?;
    let components: Vec<Value> = score
        .sub_scores
        .iter()
        .map(|sub| {
            let text = format!("NEWS2 {} sub-score", sub.parameter.display());
            json!({
                "code": {
                    "coding": [{
                        "system": PARAMETER_SYSTEM,
                        "code": sub.parameter.key(),
                        "display": text,
                    }],
                    "text": text,
                },
                "valueInteger": sub.score,
            })
        })
        .collect();
    let derived: Vec<Value> = inputs
        .references()
        .into_iter()
        .map(|reference| json!({ "reference": reference }))
        .collect();
    let mut observation = json!({
        "resourceType": "Observation",
        "status": if score.complete { "final" } else { "preliminary" },
        "category": [{
            "coding": [{ "system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey" }]
        }],
        "code": {
            "coding": [{ "system": SNOMED, "code": NEWS2_SCORE_CODE }],
            "text": "National Early Warning Score 2 (NEWS2)",
        },
        "subject": { "reference": subject },
        "effectiveDateTime": effective_date_time(&newest.effective, newest.effective_micros),
        "valueInteger": score.total,
        "interpretation": [{
            "coding": [{
                "system": RISK_SYSTEM,
                "code": score.risk.code,
                "display": score.risk.display,
            }],
            "text": score.risk.display,
        }],
        "method": { "text": method_text(score) },
    });
    if let Some(object) = observation.as_object_mut() {
        if let Some(note) = note_text(score) {
            object.insert("note".to_owned(), json!([{ "text": note }]));
        }
        insert_array(object, "derivedFrom", derived);
        insert_array(object, "component", components);
    }
    Ok(observation)
}

/// The alert Task for a score whose risk level asks for one (`None` for low risk): status
/// `requested`, priority from the chart (`stat` for high, `urgent` for medium or a single 3),
/// `for` the patient, `focus` the score Observation, `description` the score and the RCP
/// clinical response, `authoredOn` the given time (microseconds since the Unix epoch).
pub fn alert_task(
    score: &News2Score,
    subject: &str,
    score_observation: &str,
    authored_on_micros: i64,
) -> Result<Option<Value>, CdsError> {
    check_reference("subject", subject)?;
    check_reference("focus", score_observation)?;
    let Some(priority) = &score.risk.task_priority else {
        return Ok(None);
    };
    Ok(Some(json!({
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": priority,
        "code": { "text": "NEWS2 clinical response" },
        "description": alert_description(score),
        "focus": { "reference": score_observation },
        "for": { "reference": subject },
        "authoredOn": format_instant(authored_on_micros),
    })))
}

/// `NEWS2 7 (High clinical risk; partial: ...). Monitoring: ... Response: ...`
pub fn alert_description(score: &News2Score) -> String {
    let partial = if score.complete {
        String::new()
    } else {
        format!("; partial score, missing {}", missing_list(score))
    };
    format!(
        "NEWS2 {} ({}{partial}). Monitoring: {}. Response: {}",
        score.total, score.risk.display, score.response.monitoring, score.response.response
    )
}

/// The newest input's time as written (keeping its zone) when it is a valid FHIR `dateTime`,
/// else the same instant in UTC (a source may carry a time without a zone, which the
/// input parser reads as UTC but FHIR does not allow in a `dateTime`).
fn effective_date_time(text: &str, micros: i64) -> String {
    match Primitive::DateTime.check_text(text) {
        Ok(()) => text.to_owned(),
        Err(_) => format_instant(micros),
    }
}

fn method_text(score: &News2Score) -> String {
    let scale = match score.spo2_scale {
        SpO2Scale::Scale1 => "SpO2 Scale 1",
        SpO2Scale::Scale2 => "SpO2 Scale 2",
    };
    format!("Royal College of Physicians NEWS2 (2017), {scale}")
}

fn note_text(score: &News2Score) -> Option<String> {
    let mut notes = Vec::new();
    if !score.complete {
        notes.push(format!(
            "Partial score: no reading in the window for {}.",
            missing_list(score)
        ));
    }
    if score.assumed_air {
        notes.push("SpO2 banded on Scale 2 as on air: no air-or-oxygen reading.".to_owned());
    }
    (!notes.is_empty()).then(|| notes.join(" "))
}

fn missing_list(score: &News2Score) -> String {
    score
        .missing
        .iter()
        .map(|p| p.display().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// FHIR forbids empty arrays: only insert non-empty ones.
fn insert_array(object: &mut Map<String, Value>, name: &str, items: Vec<Value>) {
    if !items.is_empty() {
        object.insert(name.to_owned(), Value::Array(items));
    }
}

fn check_reference(role: &'static str, reference: &str) -> Result<(), CdsError> {
    let valid = reference.split_once('/').is_some_and(|(kind, id)| {
        kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphanumeric())
            && !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    if valid {
        Ok(())
    } else {
        Err(CdsError::Reference {
            role,
            reference: reference.to_owned(),
        })
    }
}
