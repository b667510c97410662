//! The peer-benchmark cases (`tools/bench-fhirpath/cases.json`) and their inputs, shared by the
//! criterion bench and the `bench_cases` example (which prints the same JSON lines as the peer
//! runners, so one script can compare them in the same run).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One benchmark case.
pub struct Case {
    /// Short name used in reports.
    pub name: String,
    /// Input file name (without `.json`) or `bundle`.
    pub input: String,
    /// The FHIRPath expression.
    pub expression: String,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn input_dir() -> PathBuf {
    let shared = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared"));
    shared.join("conformance/fhirpath-r4/input-json")
}

/// The cases and their input resources, or `None` when the shared corpus is absent.
pub fn load() -> Option<(Vec<Case>, BTreeMap<String, Value>)> {
    let cases_text =
        std::fs::read_to_string(workspace().join("tools/bench-fhirpath/cases.json")).ok()?;
    let cases: Value = serde_json::from_str(&cases_text).ok()?;
    let dir = input_dir();
    let load = |n: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{n}.json"))).ok()?).ok()
    };
    let mut inputs = BTreeMap::new();
    for n in [
        "patient-example",
        "observation-example",
        "questionnaire-example",
        "valueset-example-expansion",
    ] {
        inputs.insert(n.to_owned(), load(n)?);
    }
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/fhir/Patient/example", "resource": load("patient-example")?},
        {"fullUrl": "http://example.org/fhir/Observation/example", "resource": load("observation-example")?}
    ]});
    inputs.insert("bundle".to_owned(), bundle);
    let list = cases
        .get("cases")?
        .as_array()?
        .iter()
        .filter_map(|c| {
            Some(Case {
                name: c.get("name")?.as_str()?.to_owned(),
                input: c.get("input")?.as_str()?.to_owned(),
                expression: c.get("expression")?.as_str()?.to_owned(),
            })
        })
        .collect();
    Some((list, inputs))
}
