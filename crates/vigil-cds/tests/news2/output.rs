//! The score Observation and the alert Task: valid FHIR R4, with the fields the issue asks for.

use serde_json::{Value, json};
use vigil_cds::output::{NEWS2_SCORE_CODE, alert_description};
use vigil_cds::{CdsError, SpO2Scale, alert_task, score_observation};
use vigil_model::validate::validate_resource;

use crate::fixtures::{AT, acvpu_text, normal_set, quantity, replace, scored};

fn assert_valid(resource: &Value) {
    let issues = validate_resource(resource);
    assert!(issues.is_empty(), "{issues:#?}\n{resource:#}");
}

#[test]
fn a_complete_score_is_a_final_observation_deriving_from_every_input() {
    let set = replace(
        normal_set(AT),
        "rr",
        quantity("rr", "9279-1", "22", "/min", AT),
    );
    let (inputs, result) = scored(&set, SpO2Scale::Scale1);
    let observation = score_observation(&result, &inputs, "Patient/p1").unwrap();
    assert_valid(&observation);
    assert_eq!(observation["status"], "final");
    assert_eq!(
        observation["code"]["coding"][0]["system"],
        "http://snomed.info/sct"
    );
    assert_eq!(observation["code"]["coding"][0]["code"], NEWS2_SCORE_CODE);
    assert_eq!(observation["valueInteger"], 2);
    assert_eq!(observation["subject"]["reference"], "Patient/p1");
    assert_eq!(observation["effectiveDateTime"], AT);
    assert_eq!(observation["interpretation"][0]["coding"][0]["code"], "low");
    let components = observation["component"].as_array().unwrap();
    assert_eq!(components.len(), 7);
    assert_eq!(
        components[0]["code"]["coding"][0]["code"],
        "respiration-rate"
    );
    assert_eq!(components[0]["valueInteger"], 2);
    let derived: Vec<&str> = observation["derivedFrom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = set
        .iter()
        .map(|o| format!("Observation/{}", o["id"].as_str().unwrap()))
        .collect();
    let mut got: Vec<String> = derived.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(observation.get("note").is_none());
}

#[test]
fn a_partial_score_is_preliminary_and_says_what_is_missing() {
    let set = vec![
        quantity("rr", "9279-1", "26", "/min", AT),
        quantity("pulse", "8867-4", "135", "/min", "2026-12-07T09:40:00Z"),
        quantity("sat", "59408-5", "97", "%", AT),
    ];
    let (inputs, result) = scored(&set, SpO2Scale::Scale2);
    assert!(!result.complete);
    assert!(result.assumed_air);
    let observation = score_observation(&result, &inputs, "Patient/p1").unwrap();
    assert_valid(&observation);
    assert_eq!(observation["status"], "preliminary");
    assert_eq!(observation["valueInteger"], 6);
    assert_eq!(
        observation["interpretation"][0]["coding"][0]["code"],
        "medium"
    );
    let note = observation["note"][0]["text"].as_str().unwrap();
    assert!(
        note.contains("air or oxygen, systolic blood pressure, consciousness, temperature"),
        "{note}"
    );
    assert!(note.contains("Scale 2 as on air"), "{note}");
    assert_eq!(
        observation["method"]["text"],
        "Royal College of Physicians NEWS2 (2017), SpO2 Scale 2"
    );
    assert_eq!(observation["component"].as_array().unwrap().len(), 3);
}

#[test]
fn one_observation_used_twice_is_derived_from_once() {
    let panel = json!({
        "resourceType": "Observation", "id": "vitals", "status": "final",
        "code": { "coding": [
            { "system": "http://loinc.org", "code": "8867-4" },
            { "system": "http://loinc.org", "code": "9279-1" },
        ]},
        "effectiveDateTime": AT,
        "valueQuantity": { "value": 20, "code": "/min", "system": "http://unitsofmeasure.org" },
    });
    let (inputs, result) = scored(&[panel], SpO2Scale::Scale1);
    assert_eq!(result.sub_scores.len(), 2);
    let observation = score_observation(&result, &inputs, "Patient/p1").unwrap();
    assert_eq!(observation["derivedFrom"].as_array().unwrap().len(), 1);
}

#[test]
fn a_score_without_inputs_or_with_a_bad_subject_is_an_error() {
    let (inputs, result) = scored(&[], SpO2Scale::Scale1);
    assert_eq!(
        score_observation(&result, &inputs, "Patient/p1"),
        Err(CdsError::NoInputs)
    );
    let (inputs, result) = scored(&normal_set(AT), SpO2Scale::Scale1);
    for bad in ["p1", "Patient/", "patient/p1", "Patient/p 1", "/p1"] {
        assert!(
            matches!(
                score_observation(&result, &inputs, bad),
                Err(CdsError::Reference {
                    role: "subject",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_high_score_raises_a_stat_task_naming_the_response() {
    let set = vec![
        quantity("rr", "9279-1", "26", "/min", AT),
        quantity("pulse", "8867-4", "135", "/min", AT),
        quantity("sbp", "8480-6", "88", "mm[Hg]", AT),
    ];
    let (_, result) = scored(&set, SpO2Scale::Scale1);
    assert_eq!(result.total, 9);
    let task = alert_task(
        &result,
        "Patient/p1",
        "Observation/news-1",
        1_796_637_600_000_000,
    )
    .unwrap()
    .unwrap();
    assert_valid(&task);
    assert_eq!(task["status"], "requested");
    assert_eq!(task["priority"], "stat");
    assert_eq!(task["for"]["reference"], "Patient/p1");
    assert_eq!(task["focus"]["reference"], "Observation/news-1");
    assert_eq!(task["authoredOn"], "2026-12-07T10:00:00.000Z");
    let description = task["description"].as_str().unwrap();
    assert!(
        description
            .starts_with("NEWS2 9 (High clinical risk; partial score, missing spo2, air or oxygen"),
        "{description}"
    );
    assert!(description.contains("Emergency assessment by a team with critical care competencies"));
    assert_eq!(description, alert_description(&result));
}

#[test]
fn medium_and_single_three_raise_urgent_tasks_and_low_raises_none() {
    let cases = [
        (vec![acvpu_text("c", "voice", AT)], Some("urgent")),
        (
            vec![
                quantity("rr", "9279-1", "22", "/min", AT),
                quantity("pulse", "8867-4", "115", "/min", AT),
                quantity("temp", "8310-5", "38.5", "Cel", AT),
            ],
            Some("urgent"),
        ),
        (normal_set(AT), None),
        (vec![quantity("rr", "9279-1", "22", "/min", AT)], None),
    ];
    for (set, priority) in cases {
        let (_, result) = scored(&set, SpO2Scale::Scale1);
        let task = alert_task(&result, "Patient/p1", "Observation/s", 0).unwrap();
        assert_eq!(
            task.as_ref().map(|t| t["priority"].as_str().unwrap()),
            priority
        );
        if let Some(task) = task {
            assert_valid(&task);
        }
    }
    let (_, result) = scored(&normal_set(AT), SpO2Scale::Scale1);
    assert!(matches!(
        alert_task(&result, "Patient/p1", "news", 0),
        Err(CdsError::Reference { role: "focus", .. })
    ));
}

#[test]
fn an_effective_time_without_a_zone_is_written_in_utc() {
    let set = vec![quantity(
        "rr",
        "9279-1",
        "16",
        "/min",
        "2026-12-07T10:00:00",
    )];
    let (inputs, result) = scored(&set, SpO2Scale::Scale1);
    let observation = score_observation(&result, &inputs, "Patient/p1").unwrap();
    assert_valid(&observation);
    assert_eq!(observation["effectiveDateTime"], "2026-12-07T10:00:00.000Z");
}
