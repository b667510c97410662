//! Fuzz target: any text must compile to an expression or a `ParseError`, and any compiled
//! expression must evaluate to a result or an `EvalError` (never a panic), against a small
//! Patient, an Observation inside a Bundle (for `resolve()`), and an empty context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vigil_fhirpath::{Context, Expression};

const PATIENT: &str = r##"{"resourceType":"Patient","id":"p1","active":true,
 "name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
 "birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
 "telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work","rank":1}],
 "contained":[{"resourceType":"Organization","id":"org","name":"ACME"}],
 "managingOrganization":{"reference":"#org"},
 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"}}"##;

const BUNDLE: &str = r#"{"resourceType":"Bundle","type":"collection","entry":[
 {"fullUrl":"http://x/Patient/p1","resource":{"resourceType":"Patient","id":"p1","birthDate":"1974-12-25"}},
 {"fullUrl":"http://x/Observation/o1","resource":{"resourceType":"Observation","id":"o1","status":"final",
  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},
  "effectiveDateTime":"2024-03-01T03:10:00Z",
  "valueQuantity":{"value":131,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},
  "component":[{"code":{"text":"sys"},"valueQuantity":{"value":92.50,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}}]}"#;

fn inputs() -> &'static (serde_json::Value, serde_json::Value) {
    static I: OnceLock<(serde_json::Value, serde_json::Value)> = OnceLock::new();
    I.get_or_init(|| {
        (
            serde_json::from_str(PATIENT).unwrap_or_default(),
            serde_json::from_str(BUNDLE).unwrap_or_default(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = Expression::compile(text) else {
        return;
    };
    let (patient, bundle) = inputs();
    let _ = expr.check("Patient");
    let _ = expr
        .evaluate(&Context::new(patient))
        .map(|r| vigil_fhirpath::to_json(&r));
    let _ = expr.evaluate(&Context::empty());
    if let Some(obs) = bundle.pointer("/entry/1/resource") {
        let ctx = Context::new(obs).root_resource(bundle);
        let _ = expr.evaluate(&ctx).map(|r| vigil_fhirpath::to_json(&r));
    }
});
