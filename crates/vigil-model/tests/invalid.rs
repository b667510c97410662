//! Table-driven invalid inputs: each error class of the validator, with the issue type and the
//! element path it must report. One `check` helper; the cases are data.

use vigil_model::outcome::operation_outcome;
use vigil_model::{IssueType, ModelError, json, parse_resource, validate};

/// (name, resource JSON, expected issue type, expected expression)
const CASES: &[(&str, &str, IssueType, &str)] = &[
    // The resource itself.
    (
        "not an object",
        r#"["Patient"]"#,
        IssueType::Structure,
        "resourceType",
    ),
    (
        "missing resourceType",
        r#"{"id":"a"}"#,
        IssueType::Invalid,
        "resourceType",
    ),
    (
        "resourceType not a string",
        r#"{"resourceType":1}"#,
        IssueType::Structure,
        "resourceType",
    ),
    (
        "unknown resourceType",
        r#"{"resourceType":"Patientx"}"#,
        IssueType::NotSupported,
        "resourceType",
    ),
    (
        "abstract resourceType",
        r#"{"resourceType":"DomainResource"}"#,
        IssueType::NotSupported,
        "resourceType",
    ),
    // Unknown elements.
    (
        "unknown element",
        r#"{"resourceType":"Patient","foo":1}"#,
        IssueType::Structure,
        "Patient.foo",
    ),
    (
        "resourceType in a data type",
        r#"{"resourceType":"Patient","name":[{"resourceType":"HumanName"}]}"#,
        IssueType::Structure,
        "Patient.name[0].resourceType",
    ),
    (
        "unknown nested element",
        r#"{"resourceType":"Patient","contact":[{"nom":{"text":"x"}}]}"#,
        IssueType::Structure,
        "Patient.contact[0].nom",
    ),
    // JSON types and cardinality.
    (
        "string for boolean",
        r#"{"resourceType":"Patient","active":"true"}"#,
        IssueType::Structure,
        "Patient.active",
    ),
    (
        "number for string",
        r#"{"resourceType":"Patient","name":[{"family":5}]}"#,
        IssueType::Structure,
        "Patient.name[0].family",
    ),
    (
        "string for decimal",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}"#,
        IssueType::Structure,
        "Observation.valueQuantity.value",
    ),
    (
        "string for object",
        r#"{"resourceType":"Patient","maritalStatus":"married"}"#,
        IssueType::Structure,
        "Patient.maritalStatus",
    ),
    (
        "array where max 1",
        r#"{"resourceType":"Patient","gender":["male"]}"#,
        IssueType::Structure,
        "Patient.gender",
    ),
    (
        "single where max *",
        r#"{"resourceType":"Patient","name":{"family":"x"}}"#,
        IssueType::Structure,
        "Patient.name",
    ),
    (
        "empty object",
        r#"{"resourceType":"Patient","maritalStatus":{}}"#,
        IssueType::Structure,
        "Patient.maritalStatus",
    ),
    (
        "empty array",
        r#"{"resourceType":"Patient","name":[]}"#,
        IssueType::Structure,
        "Patient.name",
    ),
    (
        "empty string",
        r#"{"resourceType":"Patient","name":[{"family":""}]}"#,
        IssueType::Value,
        "Patient.name[0].family",
    ),
    (
        "null single value",
        r#"{"resourceType":"Patient","active":null}"#,
        IssueType::Structure,
        "Patient.active",
    ),
    (
        "null in array without _given",
        r#"{"resourceType":"Patient","name":[{"given":["a",null]}]}"#,
        IssueType::Structure,
        "Patient.name[0].given[1]",
    ),
    (
        "null in complex array",
        r#"{"resourceType":"Patient","name":[null]}"#,
        IssueType::Structure,
        "Patient.name[0]",
    ),
    (
        "_given length mismatch",
        r#"{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"x"}]}]}"#,
        IssueType::Structure,
        "Patient.name[0]._given",
    ),
    (
        "null in both arrays",
        r#"{"resourceType":"Patient","name":[{"given":["a",null],"_given":[{"id":"x"},null]}]}"#,
        IssueType::Structure,
        "Patient.name[0]._given",
    ),
    // Primitive formats.
    (
        "integer overflow",
        r#"{"resourceType":"Patient","multipleBirthInteger":2147483648}"#,
        IssueType::Value,
        "Patient.multipleBirthInteger",
    ),
    (
        "integer with fraction",
        r#"{"resourceType":"Patient","multipleBirthInteger":2.0}"#,
        IssueType::Value,
        "Patient.multipleBirthInteger",
    ),
    (
        "positiveInt zero",
        r#"{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/1"},"occurrenceString":"x","protocolApplied":[{"doseNumberPositiveInt":0}]}"#,
        IssueType::Value,
        "Immunization.protocolApplied[0].doseNumberPositiveInt",
    ),
    (
        "February 29th of a common year",
        r#"{"resourceType":"Patient","birthDate":"2023-02-29"}"#,
        IssueType::Value,
        "Patient.birthDate",
    ),
    (
        "dateTime with time but no zone",
        r#"{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00"}"#,
        IssueType::Value,
        "Patient.deceasedDateTime",
    ),
    (
        "instant without seconds",
        r#"{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T10:00Z"}}"#,
        IssueType::Value,
        "Patient.meta.lastUpdated",
    ),
    (
        "id of 65 characters",
        r#"{"resourceType":"Patient","id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        IssueType::Value,
        "Patient.id",
    ),
    (
        "id with underscore",
        r#"{"resourceType":"Patient","id":"a_b"}"#,
        IssueType::Value,
        "Patient.id",
    ),
    (
        "code with leading space",
        r#"{"resourceType":"Patient","language":" en"}"#,
        IssueType::Value,
        "Patient.language",
    ),
    (
        "uri with space",
        r#"{"resourceType":"Patient","implicitRules":"http://a b"}"#,
        IssueType::Value,
        "Patient.implicitRules",
    ),
    (
        "control character in string",
        "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"a\\u0007b\"}]}",
        IssueType::Value,
        "Patient.name[0].text",
    ),
    (
        "bad base64",
        r#"{"resourceType":"Binary","contentType":"text/plain","data":"abc"}"#,
        IssueType::Value,
        "Binary.data",
    ),
    (
        "uuid in upper case",
        r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueUuid":"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"}]}"#,
        IssueType::Value,
        "Patient.extension[0].valueUuid",
    ),
    (
        "oid without urn",
        r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueOid":"1.2.3"}]}"#,
        IssueType::Value,
        "Patient.extension[0].valueOid",
    ),
    (
        "time out of range",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"24:00:00"}"#,
        IssueType::Value,
        "Observation.valueTime",
    ),
    (
        "xhtml not a div",
        r#"{"resourceType":"Patient","text":{"status":"generated","div":"hello"}}"#,
        IssueType::Value,
        "Patient.text.div",
    ),
    // Required elements.
    (
        "missing required element",
        r#"{"resourceType":"Observation","code":{"text":"x"}}"#,
        IssueType::Required,
        "Observation.status",
    ),
    (
        "missing required in backbone",
        r#"{"resourceType":"Patient","link":[{"other":{"reference":"Patient/2"}}]}"#,
        IssueType::Required,
        "Patient.link[0].type",
    ),
    (
        "missing required in data type",
        r#"{"resourceType":"Patient","text":{"div":"<div>x</div>"}}"#,
        IssueType::Required,
        "Patient.text.status",
    ),
    // Choice types.
    (
        "choice with unknown suffix",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":1}"#,
        IssueType::Structure,
        "Observation.valueFoo",
    ),
    (
        "bare choice name",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"value":1}"#,
        IssueType::Structure,
        "Observation.value",
    ),
    (
        "two values of one choice",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}"#,
        IssueType::Structure,
        "Observation.valueBoolean",
    ),
    // Required bindings.
    (
        "status not in value set",
        r#"{"resourceType":"Observation","status":"done","code":{"text":"x"}}"#,
        IssueType::CodeInvalid,
        "Observation.status",
    ),
    (
        "data type code not in value set",
        r#"{"resourceType":"Patient","telecom":[{"system":"fax2","value":"1"}]}"#,
        IssueType::CodeInvalid,
        "Patient.telecom[0].system",
    ),
    (
        "codes are case-sensitive",
        r#"{"resourceType":"Patient","gender":"Male"}"#,
        IssueType::CodeInvalid,
        "Patient.gender",
    ),
    (
        "choice code not in value set",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"comparator":"=="}}"#,
        IssueType::CodeInvalid,
        "Observation.valueQuantity.comparator",
    ),
    // Resources inside resources.
    (
        "contained resource validated",
        r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","foo":1}]}"#,
        IssueType::Structure,
        "Patient.contained[0].foo",
    ),
    (
        "contained without resourceType",
        r#"{"resourceType":"Patient","contained":[{"id":"o"}]}"#,
        IssueType::Invalid,
        "Patient.contained[0].resourceType",
    ),
    (
        "nested contained",
        r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","contained":[{"resourceType":"Organization"}]}]}"#,
        IssueType::Invariant,
        "Patient.contained[0].contained",
    ),
    (
        "Bundle entry resource",
        r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"}},{"fullUrl":"urn:x"},{"resource":{"resourceType":"Observation","status":"x","code":{"text":"y"}}}]}"#,
        IssueType::CodeInvalid,
        "Bundle.entry[2].resource.status",
    ),
    (
        "Bundle entry unknown type",
        r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]}"#,
        IssueType::NotSupported,
        "Bundle.entry[0].resource.resourceType",
    ),
    (
        "Parameters resource",
        r#"{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","active":1}}]}"#,
        IssueType::Structure,
        "Parameters.parameter[0].resource.active",
    ),
    // Extensions.
    (
        "extension without url",
        r#"{"resourceType":"Patient","extension":[{"valueString":"x"}]}"#,
        IssueType::Required,
        "Patient.extension[0].url",
    ),
    (
        "extension with bad value type",
        r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueFoo":"x"}]}"#,
        IssueType::Structure,
        "Patient.extension[0].valueFoo",
    ),
    (
        "extension value format",
        r#"{"resourceType":"Patient","modifierExtension":[{"url":"http://x","valueDate":"2020-13"}]}"#,
        IssueType::Value,
        "Patient.modifierExtension[0].valueDate",
    ),
    (
        "extension not an array",
        r#"{"resourceType":"Patient","extension":{"url":"http://x"}}"#,
        IssueType::Structure,
        "Patient.extension",
    ),
    (
        "primitive extension unknown key",
        r#"{"resourceType":"Patient","_birthDate":{"foo":1}}"#,
        IssueType::Structure,
        "Patient._birthDate.foo",
    ),
    (
        "primitive extension on complex",
        r#"{"resourceType":"Patient","_maritalStatus":{"id":"x"}}"#,
        IssueType::Structure,
        "Patient._maritalStatus",
    ),
    (
        "primitive extension for unknown element",
        r#"{"resourceType":"Patient","_foo":{"id":"x"}}"#,
        IssueType::Structure,
        "Patient._foo",
    ),
    (
        "primitive extension not an object",
        r#"{"resourceType":"Patient","_active":true}"#,
        IssueType::Structure,
        "Patient._active",
    ),
    (
        "_given extension without url",
        r#"{"resourceType":"Patient","name":[{"given":["a"],"_given":[{"extension":[{"valueCode":"x"}]}]}]}"#,
        IssueType::Required,
        "Patient.name[0]._given[0].extension[0].url",
    ),
];

/// Valid resources exercising the same rules (they must produce no issue at all).
const VALID: &[(&str, &str)] = &[
    ("minimal Patient", r#"{"resourceType":"Patient"}"#),
    (
        "null aligned with _given",
        r#"{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://x","valueCode":"y"}]}]}]}"#,
    ),
    (
        "extension-only primitive satisfies min 1",
        r#"{"resourceType":"Observation","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"text":"x"}}"#,
    ),
    (
        "leap day",
        r#"{"resourceType":"Patient","birthDate":"2024-02-29","deceasedDateTime":"2024-02-29T23:59:60+14:00"}"#,
    ),
    (
        "exact decimals",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.0050,"comparator":"<"}}"#,
    ),
    (
        "contained and entries",
        r##"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}}}]}"##,
    ),
    (
        "64-character id",
        r#"{"resourceType":"Patient","id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    ),
];

#[test]
fn every_error_class_reports_type_and_path() {
    let mut failures = Vec::new();
    for (name, input, code, expression) in CASES {
        let value = json::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let issues = validate::validate_resource(&value);
        let found = issues
            .iter()
            .any(|i| i.code == *code && i.expression.iter().any(|e| e == expression));
        if !found {
            let got: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
            failures.push(format!(
                "{name}: expected {code} at {expression}, got {got:?}"
            ));
        }
    }
    println!(
        "{} passed, {} failed",
        CASES.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn valid_resources_have_no_issues() {
    for (name, input) in VALID {
        let value = json::parse(input.as_bytes()).unwrap();
        let issues = validate::validate_resource(&value);
        assert!(issues.is_empty(), "{name}: {issues:?}");
    }
}

#[test]
fn parse_resource_separates_syntax_from_content() {
    let err = parse_resource(b"{\"resourceType\":\"Patient\",\n \"id\":\"a\",\n \"id\":\"b\"}")
        .unwrap_err();
    let ModelError::Syntax(syntax) = &err else {
        panic!("{err:?}")
    };
    assert_eq!((syntax.line, syntax.column), (3, 5));
    assert!(syntax.message.contains("duplicate key \"id\""));
    assert_eq!(err.issues()[0].code, IssueType::Structure);

    let err = parse_resource(br#"{"resourceType":"Patient","gender":"x"}"#).unwrap_err();
    let ModelError::Invalid(issues) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(issues[0].code, IssueType::CodeInvalid);
    assert!(err.to_string().contains("Patient.gender"), "{err}");

    let ok = parse_resource(br#"{"resourceType":"Patient","id":"a"}"#).unwrap();
    assert_eq!(ok["id"], "a");
}

#[test]
fn operation_outcomes_are_valid_resources() {
    let value = json::parse(br#"{"resourceType":"Observation","status":"x","foo":1}"#).unwrap();
    let issues = validate::validate_resource(&value);
    assert_eq!(issues.len(), 3, "{issues:?}");
    for outcome in [operation_outcome(&issues), operation_outcome(&[])] {
        assert!(
            validate::validate_resource(&outcome).is_empty(),
            "{outcome}"
        );
    }
    let outcome = operation_outcome(&issues);
    assert_eq!(outcome["issue"][0]["severity"], "error");
    assert!(
        outcome["issue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["expression"].is_array())
    );
}

#[test]
fn issue_type_codes_are_the_r4_value_set() {
    let schema = vigil_model::schema::r4();
    let binding = schema
        .type_def("OperationOutcome.issue")
        .unwrap()
        .element("code")
        .unwrap();
    let codes = &binding.binding.as_ref().unwrap().codes;
    assert_eq!(IssueType::ALL.len(), codes.len());
    for t in IssueType::ALL {
        assert!(codes.contains(&t.as_code().to_string()), "{t}");
        assert_eq!(IssueType::from_code(t.as_code()), Some(*t));
    }
}

#[test]
fn deep_values_built_in_code_are_reported_not_overflowed() {
    use serde_json::{Map, Value};
    // Built by hand: json!() would serialize `ext` recursively.
    let mut ext = serde_json::json!({"url": "http://x", "valueString": "leaf"});
    for _ in 0..5000 {
        let mut outer = Map::new();
        outer.insert("url".into(), Value::String("http://x".into()));
        outer.insert("extension".into(), Value::Array(vec![ext]));
        ext = Value::Object(outer);
    }
    let mut root = Map::new();
    root.insert("resourceType".into(), Value::String("Patient".into()));
    root.insert("extension".into(), Value::Array(vec![ext]));
    let patient = Value::Object(root);
    let issues = validate::validate_resource(&patient);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].code, IssueType::TooCostly);
    // Dropping a 5,000-level Value recurses in serde_json; do it on a big stack.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || drop(patient))
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn no_panic_on_odd_input() {
    let odd: &[&[u8]] = &[
        b"",
        b"null",
        b"\"Patient\"",
        b"{",
        b"\xff\xfe",
        b"[[[[",
        b"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":[]}]}",
    ];
    for input in odd {
        let _ = parse_resource(input);
    }
}
