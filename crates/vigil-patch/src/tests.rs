//! Table tests of both patch formats: each case is a resource, a patch and the expected result
//! or the expected error (kind, operation index, words of the message).

use super::{PatchDocument, PatchErrorKind};
use serde_json::{Value, json};

enum Expect {
    Result(Value),
    Error(PatchErrorKind, Option<usize>, &'static str),
}
use Expect::{Error, Result as Patched};
use PatchErrorKind::{Malformed, NotApplicable};

fn check(
    name: &str,
    document: Result<PatchDocument, super::PatchError>,
    input: &Value,
    expect: &Expect,
) -> bool {
    let outcome = document.and_then(|patch| patch.apply(input));
    let ok = match (&outcome, expect) {
        (Ok(actual), Patched(expected)) => actual == expected,
        (Err(error), Error(kind, operation, words)) => {
            error.kind() == *kind
                && error.operation() == *operation
                && error.to_string().contains(words)
        }
        _ => false,
    };
    if !ok {
        eprintln!("case '{name}' failed:\n  got {outcome:?}");
    }
    ok
}

fn run(
    kind: &str,
    cases: Vec<(&str, Value, Value, Expect)>,
    parse: fn(Value) -> Result<PatchDocument, super::PatchError>,
) {
    let total = cases.len();
    let failed: Vec<&str> = cases
        .iter()
        .filter(|(name, input, patch, expect)| !check(name, parse(patch.clone()), input, expect))
        .map(|(name, ..)| *name)
        .collect();
    eprintln!(
        "{kind}: {} passed, {} failed",
        total - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{kind} cases failed: {failed:?}");
}

#[test]
fn json_patch_cases() {
    // RFC 6902 appendix A (A.1-A.16) and FHIR-shaped cases.
    let cases: Vec<(&str, Value, Value, Expect)> = vec![
        (
            "A.1 add an object member",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            Patched(json!({"foo": "bar", "baz": "qux"})),
        ),
        (
            "A.2 add an array element",
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            Patched(json!({"foo": ["bar", "qux", "baz"]})),
        ),
        (
            "A.3 remove an object member",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            Patched(json!({"foo": "bar"})),
        ),
        (
            "A.4 remove an array element",
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
            Patched(json!({"foo": ["bar", "baz"]})),
        ),
        (
            "A.5 replace a value",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            Patched(json!({"baz": "boo", "foo": "bar"})),
        ),
        (
            "A.6 move a value",
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            Patched(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})),
        ),
        (
            "A.7 move an array element",
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
            Patched(json!({"foo": ["all", "cows", "eat", "grass"]})),
        ),
        (
            "A.8 test a value: success",
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
            Patched(json!({"baz": "qux", "foo": ["a", 2, "c"]})),
        ),
        (
            "A.9 test a value: error",
            json!({"baz": "qux"}),
            json!([{"op": "test", "path": "/baz", "value": "bar"}]),
            Error(NotApplicable, Some(0), "test failed"),
        ),
        (
            "A.10 add a nested member object",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
            Patched(json!({"foo": "bar", "child": {"grandchild": {}}})),
        ),
        (
            "A.11 ignore unrecognized elements",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
            Patched(json!({"foo": "bar", "baz": "qux"})),
        ),
        (
            "A.12 add to a nonexistent target",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
            Error(
                NotApplicable,
                Some(0),
                "parent of '/baz/bat' does not exist",
            ),
        ),
        (
            "A.14 ~ escape ordering",
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
            Patched(json!({"/": 9, "~1": 10})),
        ),
        (
            "A.15 comparing strings and numbers",
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": "10"}]),
            Error(NotApplicable, Some(0), "test failed"),
        ),
        (
            "A.16 add an array value",
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
            Patched(json!({"foo": ["bar", ["abc", "def"]]})),
        ),
        (
            "copy",
            json!({"a": {"b": 1}}),
            json!([{"op": "copy", "from": "/a", "path": "/c"}]),
            Patched(json!({"a": {"b": 1}, "c": {"b": 1}})),
        ),
        (
            "a/b key through ~1",
            json!({"a/b": 1}),
            json!([{"op": "replace", "path": "/a~1b", "value": 2}]),
            Patched(json!({"a/b": 2})),
        ),
        (
            "test compares numbers by value",
            json!({"valueDecimal": 1.50}),
            json!([{"op": "test", "path": "/valueDecimal", "value": 1.5}]),
            Patched(json!({"valueDecimal": 1.50})),
        ),
        (
            "test ignores member order",
            json!({"code": {"system": "s", "code": "c"}}),
            json!([{"op": "test", "path": "/code", "value": {"code": "c", "system": "s"}}]),
            Patched(json!({"code": {"system": "s", "code": "c"}})),
        ),
        (
            "remove keeps member order",
            json!({"resourceType": "Patient", "active": true, "gender": "male"}),
            json!([{"op": "remove", "path": "/active"}]),
            Patched(json!({"resourceType": "Patient", "gender": "male"})),
        ),
        (
            "FHIR: replace a family name and append a telecom",
            json!({"resourceType": "Patient", "name": [{"family": "Chalmers"}], "telecom": [{"system": "phone", "value": "1"}]}),
            json!([{"op": "replace", "path": "/name/0/family", "value": "Chalmurs"},
                   {"op": "add", "path": "/telecom/-", "value": {"system": "email", "value": "a@b.c"}}]),
            Patched(
                json!({"resourceType": "Patient", "name": [{"family": "Chalmurs"}],
                "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b.c"}]}),
            ),
        ),
        (
            "whole document replaced by an empty path",
            json!({"a": 1}),
            json!([{"op": "add", "path": "", "value": {"b": 2}}]),
            Patched(json!({"b": 2})),
        ),
        (
            "move onto itself changes nothing",
            json!({"a": [1, 2]}),
            json!([{"op": "move", "from": "/a/0", "path": "/a/0"}]),
            Patched(json!({"a": [1, 2]})),
        ),
        (
            "second operation fails: error names it",
            json!({"a": 1}),
            json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "remove", "path": "/b"}]),
            Error(NotApplicable, Some(1), "nothing exists at '/b'"),
        ),
        (
            "index past the end",
            json!({"a": [1]}),
            json!([{"op": "add", "path": "/a/2", "value": 3}]),
            Error(NotApplicable, Some(0), "not an index from 0 to 1"),
        ),
        (
            "leading zero index",
            json!({"a": [1, 2]}),
            json!([{"op": "remove", "path": "/a/01"}]),
            Error(NotApplicable, Some(0), "nothing exists"),
        ),
        (
            "replace what does not exist",
            json!({"a": 1}),
            json!([{"op": "replace", "path": "/b", "value": 2}]),
            Error(NotApplicable, Some(0), "replace: nothing exists at '/b'"),
        ),
        (
            "move into its own child",
            json!({"a": {"b": {}}}),
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
            Error(NotApplicable, Some(0), "into its own child"),
        ),
        (
            "remove the whole resource",
            json!({"a": 1}),
            json!([{"op": "remove", "path": ""}]),
            Error(NotApplicable, Some(0), "whole resource"),
        ),
        (
            "add under a string",
            json!({"a": "x"}),
            json!([{"op": "add", "path": "/a/b", "value": 1}]),
            Error(NotApplicable, Some(0), "is a string"),
        ),
        (
            "unknown op",
            json!({}),
            json!([{"op": "merge", "path": "/a"}]),
            Error(Malformed, Some(0), "unknown op 'merge'"),
        ),
        (
            "missing value",
            json!({}),
            json!([{"op": "test", "path": "/a"}, {"op": "add", "path": "/a"}]),
            Error(Malformed, Some(0), "needs a 'value'"),
        ),
        (
            "missing from",
            json!({}),
            json!([{"op": "copy", "path": "/a"}]),
            Error(Malformed, Some(0), "no 'from'"),
        ),
        (
            "pointer without a leading slash",
            json!({}),
            json!([{"op": "remove", "path": "a/b"}]),
            Error(Malformed, Some(0), "not a JSON Pointer"),
        ),
        (
            "bad ~ escape",
            json!({}),
            json!([{"op": "remove", "path": "/a~2"}]),
            Error(Malformed, Some(0), "'~' must be followed by 0 or 1"),
        ),
        (
            "operation not an object",
            json!({}),
            json!([{"op": "add", "path": "/a", "value": 1}, 7]),
            Error(Malformed, Some(1), "must be a JSON object"),
        ),
        (
            "document not an array",
            json!({}),
            json!({"op": "add", "path": "/a", "value": 1}),
            Error(Malformed, None, "must be a JSON array"),
        ),
    ];
    run("JSON Patch", cases, PatchDocument::json_patch);
}

/// One `operation` parameter: its type and path, then further parts.
fn operation(kind: &str, path: &str, mut parts: Vec<Value>) -> Value {
    let mut all = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    all.append(&mut parts);
    json!({"name": "operation", "part": all})
}

fn parameters(operations: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": operations})
}

fn name(text: &str) -> Value {
    json!({"name": "name", "valueString": text})
}

fn index(part: &str, at: u64) -> Value {
    json!({"name": part, "valueInteger": at})
}

#[test]
fn fhirpath_patch_cases() {
    let patient = json!({
        "resourceType": "Patient", "id": "p1",
        "identifier": [{"system": "s", "value": "a"}, {"system": "s", "value": "b"}, {"system": "s", "value": "c"}],
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}, {"use": "usual", "given": ["Jim"]}],
        "birthDate": "1974-12-25",
    });
    let with = |changes: Value| {
        let mut out = patient.clone();
        if let (Some(out), Some(changes)) = (out.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                if v.is_null() {
                    out.shift_remove(k);
                } else {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    };
    let cases: Vec<(&str, Value, Value, Expect)> = vec![
        // The examples of fhirpatch.html.
        (
            "spec: add birthDate",
            json!({"resourceType": "Patient"}),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![
                    name("birthDate"),
                    json!({"name": "value", "valueDate": "1930-01-01"}),
                ],
            )]),
            Patched(json!({"resourceType": "Patient", "birthDate": "1930-01-01"})),
        ),
        (
            "spec: add a contact from nested parts",
            json!({"resourceType": "Patient"}),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![
                    name("contact"),
                    json!({"name": "value", "part": [
                        {"name": "name", "valueHumanName": {"text": "a name"}},
                        {"name": "relationship", "valueCodeableConcept": {"text": "parent"}},
                    ]}),
                ],
            )]),
            Patched(
                json!({"resourceType": "Patient", "contact": [{"name": {"text": "a name"}, "relationship": [{"text": "parent"}]}]}),
            ),
        ),
        (
            "insert at index 1",
            patient.clone(),
            parameters(vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    index("index", 1),
                    json!({"name": "value", "valueIdentifier": {"system": "s", "value": "new"}}),
                ],
            )]),
            Patched(with(
                json!({"identifier": [{"system": "s", "value": "a"}, {"system": "s", "value": "new"}, {"system": "s", "value": "b"}, {"system": "s", "value": "c"}]}),
            )),
        ),
        (
            "insert at the end",
            patient.clone(),
            parameters(vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    index("index", 3),
                    json!({"name": "value", "valueIdentifier": {"value": "d"}}),
                ],
            )]),
            Patched(with(
                json!({"identifier": [{"system": "s", "value": "a"}, {"system": "s", "value": "b"}, {"system": "s", "value": "c"}, {"value": "d"}]}),
            )),
        ),
        (
            "insert into an empty list",
            json!({"resourceType": "Patient"}),
            parameters(vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    index("index", 0),
                    json!({"name": "value", "valueIdentifier": {"value": "x"}}),
                ],
            )]),
            Patched(json!({"resourceType": "Patient", "identifier": [{"value": "x"}]})),
        ),
        (
            "delete a single element",
            patient.clone(),
            parameters(vec![operation("delete", "Patient.birthDate", vec![])]),
            Patched(with(json!({"birthDate": null}))),
        ),
        (
            "delete a list item by index",
            patient.clone(),
            parameters(vec![operation("delete", "Patient.identifier[0]", vec![])]),
            Patched(with(
                json!({"identifier": [{"system": "s", "value": "b"}, {"system": "s", "value": "c"}]}),
            )),
        ),
        (
            "delete with where()",
            patient.clone(),
            parameters(vec![operation(
                "delete",
                "Patient.identifier.where(value = 'c')",
                vec![],
            )]),
            Patched(with(
                json!({"identifier": [{"system": "s", "value": "a"}, {"system": "s", "value": "b"}]}),
            )),
        ),
        (
            "delete what is not there changes nothing",
            patient.clone(),
            parameters(vec![operation("delete", "Patient.deceased", vec![])]),
            Patched(patient.clone()),
        ),
        (
            "delete the last child removes the emptied parent",
            json!({"resourceType": "Patient", "name": [{"family": "x"}]}),
            parameters(vec![operation("delete", "Patient.name.family", vec![])]),
            Patched(json!({"resourceType": "Patient"})),
        ),
        (
            "replace a primitive",
            patient.clone(),
            parameters(vec![operation(
                "replace",
                "Patient.birthDate",
                vec![json!({"name": "value", "valueDate": "1930-01-01"})],
            )]),
            Patched(with(json!({"birthDate": "1930-01-01"}))),
        ),
        (
            "replace selected by where()",
            patient.clone(),
            parameters(vec![operation(
                "replace",
                "Patient.name.where(use = 'official').family",
                vec![json!({"name": "value", "valueString": "Chalmurs"})],
            )]),
            Patched(with(
                json!({"name": [{"use": "official", "family": "Chalmurs", "given": ["Peter", "James"]}, {"use": "usual", "given": ["Jim"]}]}),
            )),
        ),
        (
            "replace a list item",
            patient.clone(),
            parameters(vec![operation(
                "replace",
                "Patient.name[0].given[1]",
                vec![json!({"name": "value", "valueString": "Jim"})],
            )]),
            Patched(with(
                json!({"name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "Jim"]}, {"use": "usual", "given": ["Jim"]}]}),
            )),
        ),
        (
            "replace a choice element with another type",
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 1}, "note": [{"text": "n"}]}),
            parameters(vec![operation(
                "replace",
                "Observation.value",
                vec![json!({"name": "value", "valueString": "positive"})],
            )]),
            Patched(
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "positive", "note": [{"text": "n"}]}),
            ),
        ),
        (
            "move source 0 to destination 2",
            patient.clone(),
            parameters(vec![operation(
                "move",
                "Patient.identifier",
                vec![index("source", 0), index("destination", 2)],
            )]),
            Patched(with(
                json!({"identifier": [{"system": "s", "value": "b"}, {"system": "s", "value": "c"}, {"system": "s", "value": "a"}]}),
            )),
        ),
        (
            "add a choice element takes its typed name",
            json!({"resourceType": "Patient"}),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![
                    name("deceased"),
                    json!({"name": "value", "valueBoolean": false}),
                ],
            )]),
            Patched(json!({"resourceType": "Patient", "deceasedBoolean": false})),
        ),
        (
            "add an extension to a primitive",
            json!({"resourceType": "Patient", "birthDate": "1974-12-25"}),
            parameters(vec![operation(
                "add",
                "Patient.birthDate",
                vec![
                    name("extension"),
                    json!({"name": "value", "part": [
                        {"name": "url", "valueUri": "http://hl7.org/fhir/StructureDefinition/patient-birthTime"},
                        {"name": "value", "valueDateTime": "1974-12-25T14:35:45-05:00"},
                    ]}),
                ],
            )]),
            Patched(
                json!({"resourceType": "Patient", "birthDate": "1974-12-25", "_birthDate": {"extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}}),
            ),
        ),
        (
            "insert into a primitive list keeps extensions aligned",
            json!({"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [null, {"id": "x"}]}]}),
            parameters(vec![operation(
                "insert",
                "Patient.name.given",
                vec![
                    index("index", 0),
                    json!({"name": "value", "valueString": "z"}),
                ],
            )]),
            Patched(
                json!({"resourceType": "Patient", "name": [{"given": ["z", "a", "b"], "_given": [null, null, {"id": "x"}]}]}),
            ),
        ),
        (
            "operations apply in order",
            json!({"resourceType": "Patient"}),
            parameters(vec![
                operation(
                    "add",
                    "Patient",
                    vec![
                        name("active"),
                        json!({"name": "value", "valueBoolean": true}),
                    ],
                ),
                operation(
                    "replace",
                    "Patient.active",
                    vec![json!({"name": "value", "valueBoolean": false})],
                ),
            ]),
            Patched(json!({"resourceType": "Patient", "active": false})),
        ),
        // Errors.
        (
            "add to a non-repeating element that has a value",
            patient.clone(),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![
                    name("birthDate"),
                    json!({"name": "value", "valueDate": "1930-01-01"}),
                ],
            )]),
            Error(NotApplicable, Some(0), "already has a value"),
        ),
        (
            "add an element the type does not have",
            patient.clone(),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![
                    name("colour"),
                    json!({"name": "value", "valueString": "red"}),
                ],
            )]),
            Error(NotApplicable, Some(0), "Patient has no element 'colour'"),
        ),
        (
            "a value of the wrong type",
            patient.clone(),
            parameters(vec![operation(
                "replace",
                "Patient.name[0]",
                vec![json!({"name": "value", "valueCoding": {"code": "x"}})],
            )]),
            Error(NotApplicable, Some(0), "takes HumanName, not Coding"),
        ),
        (
            "replace selects nothing",
            json!({"resourceType": "Patient"}),
            parameters(vec![operation(
                "replace",
                "Patient.birthDate",
                vec![json!({"name": "value", "valueDate": "1930-01-01"})],
            )]),
            Error(NotApplicable, Some(0), "selects nothing"),
        ),
        (
            "delete selects three",
            patient.clone(),
            parameters(vec![operation("delete", "Patient.identifier", vec![])]),
            Error(NotApplicable, Some(0), "selects 3 elements"),
        ),
        (
            "insert beyond the end",
            patient.clone(),
            parameters(vec![operation(
                "insert",
                "Patient.identifier",
                vec![
                    index("index", 4),
                    json!({"name": "value", "valueIdentifier": {"value": "x"}}),
                ],
            )]),
            Error(NotApplicable, Some(0), "beyond the end"),
        ),
        (
            "insert into a non-repeating element",
            patient.clone(),
            parameters(vec![operation(
                "insert",
                "Patient.birthDate",
                vec![
                    index("index", 0),
                    json!({"name": "value", "valueDate": "1930-01-01"}),
                ],
            )]),
            Error(
                NotApplicable,
                Some(0),
                "does not select the items of a list",
            ),
        ),
        (
            "move out of range",
            patient.clone(),
            parameters(vec![operation(
                "move",
                "Patient.identifier",
                vec![index("source", 0), index("destination", 3)],
            )]),
            Error(NotApplicable, Some(0), "must both be below"),
        ),
        (
            "a path that computes a value",
            patient.clone(),
            parameters(vec![operation(
                "delete",
                "Patient.identifier.count()",
                vec![],
            )]),
            Error(NotApplicable, Some(0), "computed value"),
        ),
        (
            "second operation fails: error names it",
            patient.clone(),
            parameters(vec![
                operation("delete", "Patient.birthDate", vec![]),
                operation(
                    "replace",
                    "Patient.birthDate",
                    vec![json!({"name": "value", "valueDate": "1930-01-01"})],
                ),
            ]),
            Error(NotApplicable, Some(1), "selects nothing"),
        ),
        (
            "path is not FHIRPath",
            patient.clone(),
            parameters(vec![operation("delete", "Patient.name.where(", vec![])]),
            Error(Malformed, Some(0), "not valid FHIRPath"),
        ),
        (
            "unknown operation type",
            patient.clone(),
            parameters(vec![operation("upsert", "Patient", vec![])]),
            Error(Malformed, Some(0), "unknown operation type 'upsert'"),
        ),
        (
            "add without a name",
            patient.clone(),
            parameters(vec![operation(
                "add",
                "Patient",
                vec![json!({"name": "value", "valueBoolean": true})],
            )]),
            Error(Malformed, Some(0), "needs the part 'name'"),
        ),
        (
            "insert without an index",
            patient.clone(),
            parameters(vec![operation(
                "insert",
                "Patient.identifier",
                vec![json!({"name": "value", "valueIdentifier": {"value": "x"}})],
            )]),
            Error(Malformed, Some(0), "needs the part 'index'"),
        ),
        (
            "a parameter not named operation",
            patient.clone(),
            json!({"resourceType": "Parameters", "parameter": [{"name": "op", "valueString": "x"}]}),
            Error(Malformed, Some(0), "must be named 'operation'"),
        ),
        (
            "not a Parameters resource",
            patient.clone(),
            json!({"resourceType": "Patient"}),
            Error(Malformed, None, "must be a Parameters resource"),
        ),
        (
            "an invalid Parameters resource",
            patient.clone(),
            json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": 7}]}]}),
            Error(Malformed, None, "Parameters resource is invalid"),
        ),
    ];
    run("FHIRPath Patch", cases, |document| {
        PatchDocument::fhirpath_patch(&document)
    });
}

#[test]
fn entry_resources_carry_either_format() {
    // [{"op":"replace","path":"/active","value":false}]
    let data = "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9hY3RpdmUiLCJ2YWx1ZSI6ZmFsc2V9XQ==";
    let binary = json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data});
    let patch = PatchDocument::from_entry_resource(&binary).unwrap();
    assert_eq!(patch.format(), super::PatchFormat::JsonPatch);
    let patched = patch
        .apply(&json!({"resourceType": "Patient", "active": true}))
        .unwrap();
    assert_eq!(patched, json!({"resourceType": "Patient", "active": false}));

    let wrong_type = json!({"resourceType": "Binary", "contentType": "text/plain", "data": data});
    assert!(PatchDocument::from_entry_resource(&wrong_type).is_err());
    let not_base64 = json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": "!!"});
    assert!(PatchDocument::from_entry_resource(&not_base64).is_err());
    assert!(PatchDocument::from_entry_resource(&json!({"resourceType": "Patient"})).is_err());
    let parameters = parameters(vec![operation("delete", "Patient.active", vec![])]);
    let patch = PatchDocument::from_entry_resource(&parameters).unwrap();
    assert_eq!(patch.format(), super::PatchFormat::FhirPathPatch);
}

#[test]
fn values_are_taken_out_for_reference_rewriting_and_put_back() {
    let mut json_patch = PatchDocument::json_patch(json!([
        {"op": "add", "path": "/subject", "value": {"reference": "urn:uuid:a"}},
        {"op": "replace", "path": "/performer/0/reference", "value": "urn:uuid:b"},
        {"op": "remove", "path": "/note"},
    ]))
    .unwrap();
    let mut values = json_patch.take_values();
    assert_eq!(
        values,
        json!([{"reference": "urn:uuid:a"}, {"reference": "urn:uuid:b"}])
    );
    values[1]["reference"] = json!("Practitioner/1");
    json_patch.put_back_values(values);
    let patched = json_patch
        .apply(&json!({"performer": [{"reference": "x"}], "note": []}))
        .unwrap();
    assert_eq!(
        patched,
        json!({"performer": [{"reference": "Practitioner/1"}], "subject": {"reference": "urn:uuid:a"}})
    );

    let mut fhirpath_patch = PatchDocument::fhirpath_patch(&parameters(vec![
        operation("replace", "Observation.subject.reference", vec![json!({"name": "value", "valueString": "urn:uuid:c"})]),
        operation("add", "Observation", vec![name("performer"), json!({"name": "value", "part": [
            {"name": "reference", "valueString": "urn:uuid:d"}, {"name": "display", "valueString": "Dr"}]})]),
    ]))
    .unwrap();
    let values = fhirpath_patch.take_values();
    assert_eq!(
        values,
        json!([{"reference": "urn:uuid:c"}, {"reference": "urn:uuid:d"}, "Dr"])
    );
    fhirpath_patch.put_back_values(values);
    assert_eq!(
        fhirpath_patch.take_values(),
        json!([{"reference": "urn:uuid:c"}, {"reference": "urn:uuid:d"}, "Dr"])
    );
}
