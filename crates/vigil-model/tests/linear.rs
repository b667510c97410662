//! Issue 20: parse, validate and serialize do work in proportion to their input. Each shape is
//! built with `n` and `2n` repetitions and the work units counted on this thread
//! (`vigil_model::work`) must about double: a scan per item or a re-render per level would
//! make them grow four times.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use vigil_model::work::{self, Stage};
use vigil_model::{IssueType, json as fhir_json, validate};

/// A resource of one shape with `n` repetitions.
fn shape(name: &str, n: usize) -> Value {
    match name {
        "names" => json!({"resourceType": "Patient", "name": (0..n)
            .map(|i| json!({"family": format!("Family{i}"), "given": [format!("Given{i}"), "X"]}))
            .collect::<Vec<_>>()}),
        "identifiers" => json!({"resourceType": "Patient", "identifier": (0..n)
            .map(|i| json!({"system": "urn:oid:1.2.3", "value": format!("id-{i}")}))
            .collect::<Vec<_>>()}),
        "telecoms" => json!({"resourceType": "Patient", "telecom": (0..n)
            .map(|i| json!({"system": "phone", "value": format!("+41 {i}"), "use": "home"}))
            .collect::<Vec<_>>()}),
        "extension depth" => {
            let mut extension = json!({"url": "http://example.org/leaf", "valueString": "x"});
            for i in 0..n {
                extension =
                    json!({"url": format!("http://example.org/{i}"), "extension": [extension]});
            }
            json!({"resourceType": "Patient", "extension": [extension]})
        }
        "bundle entries" => json!({"resourceType": "Bundle", "type": "collection", "entry": (0..n)
            .map(|i| json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-{i:012}"),
                "resource": {"resourceType": "Patient", "id": format!("p{i}"), "active": true}}))
            .collect::<Vec<_>>()}),
        other => panic!("unknown shape {other}"),
    }
}

/// Parse, validate and serialize work units for one resource.
fn work_of(resource: &Value) -> [u64; 3] {
    let bytes = serde_json::to_vec(resource).unwrap();
    let before = [Stage::Parse, Stage::Validate, Stage::Serialize].map(work::local);
    let parsed = fhir_json::parse(&bytes).unwrap();
    let issues = validate::validate_resource(&parsed);
    assert!(issues.is_empty(), "{issues:?}");
    let written = fhir_json::to_vec(&parsed);
    assert_eq!(written.len(), bytes.len());
    let after = [Stage::Parse, Stage::Validate, Stage::Serialize].map(work::local);
    [0, 1, 2].map(|i| after[i] - before[i])
}

fn assert_about_double(what: &str, small: u64, large: u64) {
    assert!(small > 0, "{what}: no work counted");
    let ratio = large as f64 / small as f64;
    assert!(
        (1.6..=2.6).contains(&ratio),
        "{what}: {small} -> {large} units (x{ratio:.2})"
    );
}

#[test]
fn parse_validate_and_serialize_work_doubles_with_the_input() {
    for (name, n) in [
        ("names", 2_000),
        ("identifiers", 2_000),
        ("telecoms", 2_000),
        ("extension depth", 25),
        ("bundle entries", 2_000),
    ] {
        let small = work_of(&shape(name, n));
        let large = work_of(&shape(name, 2 * n));
        for (i, stage) in ["parse", "validate", "serialize"].iter().enumerate() {
            assert_about_double(&format!("{name}, {stage}"), small[i], large[i]);
        }
    }
}

#[test]
fn invalid_input_is_reported_in_linear_work_and_bounded_issues() {
    // Every one of these values is wrong; the issues stop at MAX_ISSUES (plus one summing up
    // the rest) and the work still only doubles.
    let bad = |n: usize| json!({"resourceType": "Patient", "name": [{"given": vec![1; n]}]});
    let count = |resource: &Value| {
        let before = work::local(Stage::Validate);
        let issues = validate::validate_resource(resource);
        (issues, work::local(Stage::Validate) - before)
    };
    let (issues, small) = count(&bad(2_000));
    assert_eq!(issues.len(), validate::MAX_ISSUES + 1);
    assert!(
        issues[validate::MAX_ISSUES]
            .diagnostics
            .contains("1900 more issues")
    );
    let (_, large) = count(&bad(4_000));
    assert_about_double("invalid given", small, large);
}

#[test]
fn an_array_over_the_limit_is_too_costly_at_its_path() {
    let given = vec![json!("G"); validate::MAX_ARRAY_ITEMS + 1];
    let patient = json!({"resourceType": "Patient", "name": [{"family": "F"}, {"given": given}]});
    let issues = validate::validate_resource(&patient);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].code, IssueType::TooCostly);
    assert_eq!(
        issues[0].expression,
        vec!["Patient.name[1].given".to_string()]
    );
    assert!(issues[0].diagnostics.contains("at most 10000"));
    // The same for a primitive's extensions, and at the limit it is fine.
    let extensions = vec![json!({"id": "e"}); validate::MAX_ARRAY_ITEMS + 1];
    let patient = json!({"resourceType": "Patient", "name": [{"_given": extensions}]});
    let issues = validate::validate_resource(&patient);
    assert_eq!(issues[0].code, IssueType::TooCostly, "{issues:?}");
    assert_eq!(
        issues[0].expression,
        vec!["Patient.name[0]._given".to_string()]
    );
    let given = vec![json!("G"); validate::MAX_ARRAY_ITEMS];
    let patient = json!({"resourceType": "Patient", "name": [{"given": given}]});
    assert!(validate::validate_resource(&patient).is_empty());
}
