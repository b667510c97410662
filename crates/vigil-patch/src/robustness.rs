//! No input may panic the appliers: every combination of operation, awkward pointer or path,
//! and value is applied to a resource with primitive extensions, nested lists and a contained
//! resource. Each must answer `Ok` or `Err`; a FHIRPath Patch that succeeds must leave a
//! `Patient` (it cannot remove or retype the resource).

use super::PatchDocument;
use serde_json::{Value, json};

fn resource() -> Value {
    json!({
        "resourceType": "Patient", "id": "p1",
        "meta": {"versionId": "3"},
        "contained": [{"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Who"}]}],
        "extension": [{"url": "http://x", "valueString": "y"}],
        "identifier": [{"value": "a"}, {"value": "b"}],
        "name": [{"given": ["a", "b"], "_given": [null, {"id": "g"}]}, {"family": "F"}],
        "birthDate": "1970-01-01", "_birthDate": {"extension": [{"url": "http://t", "valueTime": "10:00:00"}]},
        "generalPractitioner": [{"reference": "#gp"}],
        "deceasedBoolean": false,
    })
}

const POINTERS: &[&str] = &[
    "",
    "/",
    "/id",
    "/resourceType",
    "/name",
    "/name/-",
    "/name/0",
    "/name/1/family",
    "/name/2",
    "/name/01",
    "/name/-1",
    "/name/0/given/1",
    "/name/0/_given/1",
    "/name/0/given/9",
    "/birthDate/x",
    "/meta/versionId",
    "/contained/0/name/0",
    "/a~0b",
    "/a~1b",
    "/~",
    "/name/18446744073709551616",
];

#[test]
fn json_patch_never_panics() {
    let values = [
        json!(null),
        json!("x"),
        json!(1.50),
        json!([]),
        json!({}),
        json!([{"family": "Z"}]),
    ];
    let mut applied = 0;
    for op in ["add", "remove", "replace", "move", "copy", "test"] {
        for path in POINTERS {
            for from in POINTERS.iter().take(12) {
                for value in &values {
                    let operation = json!([{"op": op, "path": path, "from": from, "value": value}]);
                    if let Ok(patch) = PatchDocument::json_patch(operation) {
                        let _ = patch.apply(&resource());
                        applied += 1;
                    }
                }
            }
        }
    }
    assert!(applied > 5_000, "{applied} patches applied");
}

const PATHS: &[&str] = &[
    "Patient",
    "Patient.name",
    "Patient.name[0]",
    "Patient.name[5]",
    "Patient.name.given",
    "Patient.name[0].given",
    "Patient.name[0].given[1]",
    "Patient.name.family",
    "Patient.birthDate",
    "Patient.birthDate.extension",
    "Patient.deceased",
    "Patient.identifier",
    "Patient.identifier.first()",
    "Patient.contained",
    "Patient.contained[0].name",
    "Patient.extension",
    "Patient.meta",
    "Patient.meta.versionId",
    "Patient.id",
    "Patient.generalPractitioner.resolve()",
    "%resource",
    "'text'",
    "1 + 1",
    "Patient.name.count()",
    "Patient.gender",
    "Patient.children()",
    "Patient.descendants()",
    "Patient.name.where(given = 'b').given",
];

#[test]
fn fhirpath_patch_never_panics() {
    let values = [
        json!({"name": "value", "valueString": "x"}),
        json!({"name": "value", "valueHumanName": {"family": "Z"}}),
        json!({"name": "value", "_valueString": {"id": "e"}}),
        json!({"name": "value", "resource": {"resourceType": "Organization", "name": "O"}}),
        json!({"name": "value", "part": [{"name": "url", "valueUri": "http://u"}, {"name": "value", "valueCode": "c"}]}),
        json!({"name": "value", "part": [{"name": "family", "valueString": "A"}, {"name": "family", "valueString": "B"}]}),
    ];
    let names = [
        "given",
        "extension",
        "family",
        "deceased",
        "name",
        "contained",
        "id",
        "nothing",
    ];
    let mut succeeded = 0;
    for kind in ["add", "insert", "delete", "replace", "move"] {
        for path in PATHS {
            for value in &values {
                for (n, name) in names.iter().enumerate() {
                    let parts = vec![
                        json!({"name": "type", "valueCode": kind}),
                        json!({"name": "path", "valueString": path}),
                        json!({"name": "name", "valueString": name}),
                        value.clone(),
                        json!({"name": "index", "valueInteger": n % 4}),
                        json!({"name": "source", "valueInteger": n % 3}),
                        json!({"name": "destination", "valueInteger": (n + 1) % 3}),
                    ];
                    let parameters = json!({"resourceType": "Parameters",
                        "parameter": [{"name": "operation", "part": parts}]});
                    let Ok(patch) = PatchDocument::fhirpath_patch(&parameters) else {
                        continue;
                    };
                    if let Ok(patched) = patch.apply(&resource()) {
                        assert_eq!(patched["resourceType"], "Patient", "{kind} {path} {value}");
                        succeeded += 1;
                    }
                }
            }
        }
    }
    assert!(succeeded > 100, "{succeeded} patches succeeded");
}
