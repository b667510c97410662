//! A custom SearchParameter POSTed at runtime takes effect after `vigil reindex` (and a
//! restart), for resources stored before it existed.

mod support;

use std::process::Command;
use support::Vigil;

#[test]
fn custom_search_parameter_after_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let patient = r#"{"resourceType":"Patient","extension":[{"url":"http://example.org/fhir/StructureDefinition/ward","valueString":"Cardiology 3"}]}"#;
    assert_eq!(vigil.request("POST", "/Patient", Some(patient)).status, 201);
    let parameter = r#"{"resourceType":"SearchParameter","url":"http://example.org/fhir/SearchParameter/patient-ward",
        "name":"ward","status":"active","description":"The ward a patient lies on","code":"ward","base":["Patient"],
        "type":"string","expression":"Patient.extension.where(url='http://example.org/fhir/StructureDefinition/ward').value"}"#;
    let created = vigil.request("POST", "/SearchParameter", Some(parameter));
    assert_eq!(created.status, 201, "{}", created.body);
    // Before reindex and restart the parameter is unknown: strict handling refuses it.
    let before = support::http(vigil.address, "GET", "/Patient?ward=cardiology", None);
    let warned = before.json()["entry"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["search"]["mode"] == "outcome"));
    assert!(warned, "{}", before.body);
    assert!(vigil.terminate());

    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["reindex", "--log", "warn", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("reindexed 2 resources"), "{summary}");

    let restarted = Vigil::start(dir.path());
    let found = restarted
        .request("GET", "/Patient?ward=cardiology", None)
        .json();
    let matches = found["entry"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["search"]["mode"] == "match").count());
    assert_eq!(matches, Some(1), "{found}");
}

/// The full-text index is off until `vigil reindex --full-text on` switches it on for the
/// database (building the rows of what is stored); `--full-text off` drops it again.
#[test]
fn full_text_is_switched_per_database_by_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let reindex = |switch: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["reindex", "--log", "warn", "--full-text", switch, "--data"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let patient = r#"{"resourceType":"Patient","name":[{"family":"Okonkwo","given":["Ada"]}]}"#;
    let vigil = Vigil::start(dir.path());
    assert_eq!(vigil.request("POST", "/Patient", Some(patient)).status, 201);
    let refused = vigil.request("GET", "/Patient?_content=okonkwo", None);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("not enabled"), "{}", refused.body);
    assert!(vigil.terminate());

    assert!(reindex("on").contains("full-text index on"));
    let vigil = Vigil::start(dir.path());
    // Stored before: found after the rebuild; written now: found at once.
    let second = r#"{"resourceType":"Patient","name":[{"family":"Okafor","given":["Ada"]}]}"#;
    assert_eq!(vigil.request("POST", "/Patient", Some(second)).status, 201);
    let found = vigil.request("GET", "/Patient?_content=ada", None).json();
    assert_eq!(found["total"], 2, "{found}");
    let found = vigil.request("GET", "/Patient?_content=okaf", None).json();
    assert_eq!(found["total"], 1, "{found}");
    assert!(vigil.terminate());

    assert!(reindex("off").contains("full-text index off"));
    let vigil = Vigil::start(dir.path());
    let refused = vigil.request("GET", "/Patient?_text=ada", None);
    assert_eq!(refused.status, 400, "{}", refused.body);
}

#[test]
fn a_bad_full_text_switch_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["reindex", "--full-text", "maybe", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--full-text"), "{stderr}");
}
