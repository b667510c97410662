//! Observation builders shared by the tests.

use serde_json::{Value, json};
use vigil_cds::{
    InputOptions, News2Inputs, News2Knowledge, News2Score, SpO2Scale, collect_inputs, score,
};

/// The reference time of most tests.
pub const AT: &str = "2026-12-07T10:00:00Z";

/// A JSON number written exactly as given (no f64 on the way).
pub fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// An Observation with a `valueQuantity` in UCUM `unit`.
pub fn quantity(id: &str, loinc: &str, value: &str, unit: &str, at: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": loinc }] },
        "subject": { "reference": "Patient/p1" },
        "effectiveDateTime": at,
        "valueQuantity": {
            "value": number(value),
            "system": "http://unitsofmeasure.org",
            "code": unit,
            "unit": unit,
        },
    })
}

/// A level-of-consciousness Observation coded in SNOMED CT.
pub fn acvpu_code(id: &str, snomed: &str, at: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "67775-7" }] },
        "subject": { "reference": "Patient/p1" },
        "effectiveDateTime": at,
        "valueCodeableConcept": {
            "coding": [{ "system": "http://snomed.info/sct", "code": snomed }]
        },
    })
}

/// A level-of-consciousness Observation as text.
pub fn acvpu_text(id: &str, text: &str, at: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "67775-7" }] },
        "subject": { "reference": "Patient/p1" },
        "effectiveDateTime": at,
        "valueString": text,
    })
}

/// A blood-pressure panel (85354-9) with systolic and diastolic components.
pub fn bp_panel(id: &str, systolic: &str, at: &str) -> Value {
    let component = |code: &str, value: &str| {
        json!({
            "code": { "coding": [{ "system": "http://loinc.org", "code": code }] },
            "valueQuantity": {
                "value": number(value),
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        })
    };
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "85354-9" }] },
        "subject": { "reference": "Patient/p1" },
        "effectiveDateTime": at,
        "component": [component("8480-6", systolic), component("8462-4", "70")],
    })
}

/// Seven normal readings (total 0) at `at`.
pub fn normal_set(at: &str) -> Vec<Value> {
    vec![
        quantity("rr", "9279-1", "16", "/min", at),
        quantity("spo2", "59408-5", "97", "%", at),
        quantity("o2", "3151-8", "0", "L/min", at),
        quantity("sbp", "8480-6", "120", "mm[Hg]", at),
        quantity("pulse", "8867-4", "70", "/min", at),
        acvpu_code("avpu", "248234008", at),
        quantity("temp", "8310-5", "37.0", "Cel", at),
    ]
}

/// `set` with the Observation of id `id` replaced by `replacement`.
pub fn replace(mut set: Vec<Value>, id: &str, replacement: Value) -> Vec<Value> {
    set.retain(|o| o["id"] != id);
    set.push(replacement);
    set
}

/// The embedded chart.
pub fn chart() -> &'static News2Knowledge {
    News2Knowledge::embedded().unwrap()
}

/// Inputs with the default window, then the score.
pub fn scored(observations: &[Value], scale: SpO2Scale) -> (News2Inputs, News2Score) {
    let inputs = collect_inputs(observations, &InputOptions::default());
    let result = score(chart(), &inputs, scale).unwrap();
    (inputs, result)
}
