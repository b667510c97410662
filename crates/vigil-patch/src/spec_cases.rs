//! Cases after the HL7 FHIRPath Patch test suite (`fhir-test-cases`, `r5/patch/fhir-path-tests.xml`,
//! whose inputs are XML): the same inputs, operations and expected outputs, rewritten by hand
//! as FHIR JSON. Not every case is here; those that test the same behaviour as `tests.rs` are
//! left out.

use super::PatchDocument;
use serde_json::{Value, json};

fn operation(kind: &str, path: &str, mut parts: Vec<Value>) -> Value {
    let mut all = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    all.append(&mut parts);
    json!({"name": "operation", "part": all})
}

fn value(key: &str, value: Value) -> Value {
    let mut part = json!({"name": "value"});
    part[key] = value;
    part
}

fn identifiers(values: &[u8]) -> Value {
    let items: Vec<Value> = values
        .iter()
        .map(|n| json!({"system": "http://example.org", "value": format!("value {n}")}))
        .collect();
    json!({"resourceType": "Patient", "identifier": items})
}

fn moves(pairs: &[(u64, u64)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(source, destination)| {
            operation(
                "move",
                "Patient.identifier",
                vec![
                    json!({"name": "source", "valueInteger": source}),
                    json!({"name": "destination", "valueInteger": destination}),
                ],
            )
        })
        .collect()
}

#[test]
fn hl7_fhirpath_patch_cases() {
    let contact = json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}, "gender": "male"}]});
    // (name, input, operations, expected output or None for an error)
    let cases: Vec<(&str, Value, Vec<Value>, Option<Value>)> = vec![
        (
            "No Difference",
            json!({"resourceType": "Patient", "birthDate": "1920-01-01"}),
            vec![],
            Some(json!({"resourceType": "Patient", "birthDate": "1920-01-01"})),
        ),
        (
            "Replace Nested Primitive #1",
            contact.clone(),
            vec![operation(
                "replace",
                "Patient.contact[0].gender",
                vec![value("valueCode", json!("female"))],
            )],
            Some(
                json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}, "gender": "female"}]}),
            ),
        ),
        (
            "Replace Nested Primitive #2",
            contact.clone(),
            vec![operation(
                "replace",
                "Patient.contact[0].name.text",
                vec![value("valueString", json!("the name"))],
            )],
            Some(
                json!({"resourceType": "Patient", "contact": [{"name": {"text": "the name"}, "gender": "male"}]}),
            ),
        ),
        (
            "Delete Nested Primitive #1",
            contact.clone(),
            vec![operation("delete", "Patient.contact[0].gender", vec![])],
            Some(json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}}]})),
        ),
        (
            "Delete Nested Primitive #2",
            contact.clone(),
            vec![operation("delete", "Patient.contact[0].name.text", vec![])],
            Some(json!({"resourceType": "Patient", "contact": [{"gender": "male"}]})),
        ),
        (
            "Add Nested Primitive",
            json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}}]}),
            vec![operation(
                "add",
                "Patient.contact[0]",
                vec![
                    json!({"name": "name", "valueString": "gender"}),
                    value("valueCode", json!("male")),
                ],
            )],
            Some(contact.clone()),
        ),
        (
            "Add Complex",
            json!({"resourceType": "Patient"}),
            vec![operation(
                "add",
                "Patient",
                vec![
                    json!({"name": "name", "valueString": "maritalStatus"}),
                    value("valueCodeableConcept", json!({"text": "married"})),
                ],
            )],
            Some(json!({"resourceType": "Patient", "maritalStatus": {"text": "married"}})),
        ),
        (
            "Replace Complex",
            json!({"resourceType": "Patient", "maritalStatus": {"id": "1", "text": "married"}}),
            vec![operation(
                "replace",
                "Patient.maritalStatus",
                vec![value(
                    "valueCodeableConcept",
                    json!({"id": "2", "text": "not married"}),
                )],
            )],
            Some(
                json!({"resourceType": "Patient", "maritalStatus": {"id": "2", "text": "not married"}}),
            ),
        ),
        (
            "Delete Anonymous Type",
            json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}}]}),
            vec![operation("delete", "Patient.contact[0]", vec![])],
            Some(json!({"resourceType": "Patient"})),
        ),
        (
            "List unchanged, contents changed",
            json!({"resourceType": "Patient", "identifier": [{"id": "a", "value": "value 1"}, {"id": "b", "value": "value 2"}]}),
            vec![
                operation(
                    "replace",
                    "Patient.identifier[0].value",
                    vec![value("valueString", json!("value 2"))],
                ),
                operation(
                    "replace",
                    "Patient.identifier[1].value",
                    vec![value("valueString", json!("value 1"))],
                ),
            ],
            Some(
                json!({"resourceType": "Patient", "identifier": [{"id": "a", "value": "value 2"}, {"id": "b", "value": "value 1"}]}),
            ),
        ),
        (
            "Add to list",
            identifiers(&[1, 2]),
            vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    json!({"name": "index", "valueInteger": 2}),
                    value(
                        "valueIdentifier",
                        json!({"system": "http://example.org", "value": "value 3"}),
                    ),
                ],
            )],
            Some(identifiers(&[1, 2, 3])),
        ),
        (
            "Insert in list #2",
            identifiers(&[1, 2]),
            vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    json!({"name": "index", "valueInteger": 0}),
                    value(
                        "valueIdentifier",
                        json!({"system": "http://example.org", "value": "value 3"}),
                    ),
                ],
            )],
            Some(identifiers(&[3, 1, 2])),
        ),
        (
            "Delete from List #2",
            identifiers(&[1, 2, 3]),
            vec![operation("delete", "Patient.identifier[1]", vec![])],
            Some(identifiers(&[1, 3])),
        ),
        (
            "Delete from List #3",
            identifiers(&[1, 2, 3]),
            vec![operation("delete", "Patient.identifier[2]", vec![])],
            Some(identifiers(&[1, 2])),
        ),
        (
            "Reorder List #1",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(3, 1)]),
            Some(identifiers(&[1, 4, 2, 3])),
        ),
        (
            "Reorder List #2",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(3, 0)]),
            Some(identifiers(&[4, 1, 2, 3])),
        ),
        (
            "Reorder List #3",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(3, 2)]),
            Some(identifiers(&[1, 2, 4, 3])),
        ),
        (
            "Reorder List #4",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(0, 3)]),
            Some(identifiers(&[2, 3, 4, 1])),
        ),
        (
            "Reorder List #5",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(1, 0), (2, 1)]),
            Some(identifiers(&[2, 3, 1, 4])),
        ),
        (
            "Reorder List #6",
            identifiers(&[1, 2, 3, 4]),
            moves(&[(3, 0), (3, 1), (3, 2)]),
            Some(identifiers(&[4, 3, 2, 1])),
        ),
        (
            "Operation on missing element",
            json!({"resourceType": "Patient", "identifier": [{"use": "official", "value": "123"}]}),
            vec![operation(
                "add",
                "Patient.identifier.where(use = 'official').period",
                vec![
                    json!({"name": "name", "valueString": "end"}),
                    value("valueDate", json!("2021-12-01")),
                ],
            )],
            None,
        ),
        (
            "Operation on missing element #2",
            json!({"resourceType": "Patient"}),
            vec![operation(
                "add",
                "Patient",
                vec![
                    json!({"name": "name", "valueString": "identifier"}),
                    value(
                        "valueIdentifier",
                        json!({"system": "http://example.org", "value": "value 3"}),
                    ),
                ],
            )],
            Some(identifiers(&[3])),
        ),
        (
            "Full Resource (narrative and a name)",
            json!({"resourceType": "Patient", "id": "example",
                "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter <b>Chalmers</b></div>"},
                "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
                "birthDate": "1974-12-25", "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}}),
            vec![
                operation(
                    "replace",
                    "Patient.text.div",
                    vec![value(
                        "valueString",
                        json!(
                            "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter <b>Chalmers1</b></div>"
                        ),
                    )],
                ),
                operation(
                    "replace",
                    "Patient.name[0].family",
                    vec![value("valueString", json!("Chalmers1"))],
                ),
            ],
            Some(json!({"resourceType": "Patient", "id": "example",
                "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter <b>Chalmers1</b></div>"},
                "name": [{"use": "official", "family": "Chalmers1", "given": ["Peter", "James"]}],
                "birthDate": "1974-12-25", "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}})),
        ),
    ];
    let total = cases.len();
    let mut failed = Vec::new();
    for (name, input, operations, expected) in cases {
        // FHIR JSON has no empty arrays: a patch without operations has no `parameter`.
        let parameters = if operations.is_empty() {
            json!({"resourceType": "Parameters"})
        } else {
            json!({"resourceType": "Parameters", "parameter": operations})
        };
        let outcome =
            PatchDocument::fhirpath_patch(&parameters).and_then(|patch| patch.apply(&input));
        let ok = match (&outcome, &expected) {
            (Ok(actual), Some(expected)) => actual == expected,
            (Err(_), None) => true,
            _ => false,
        };
        if !ok {
            eprintln!("case '{name}': got {outcome:?}");
            failed.push(name);
        }
    }
    eprintln!(
        "HL7 FHIRPath Patch cases: {} passed, {} failed",
        total - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
}
