//! The official R4 examples as a fixture: each must parse, validate and round-trip.
//!
//! Selection rule: every resource file in the package whose `resourceType` is not a
//! conformance or terminology definition (see `common::corpus::DEFINITION_TYPES`). A second
//! test runs the same checks over those definitions (StructureDefinitions, ValueSets, ...).
//!
//! Examples the specification itself gets wrong are listed in [`KNOWN_BAD`] with the reason;
//! they must still be rejected (so the list stays honest), and the validator is not loosened.

#[path = "common/corpus.rs"]
mod corpus;

use serde_json::Value;
use vigil_model::{json, validate};

/// (file, reason): resources in the R4 package that violate R4 itself.
const KNOWN_BAD: &[(&str, &str)] = &[
    // Examples.
    (
        "Bundle-v2-valuesets.json",
        "entry[814] (CodeSystem v2-0550) has codes \"CHEST\\u00c2\\u00a0\", \"KIDN\\u00c2\\u00a0\" \
         (mis-encoded non-breaking space) and \" \": code forbids leading/trailing whitespace",
    ),
    (
        "Questionnaire-qs1.json",
        "nested items have no linkId, which is required (Questionnaire.item.linkId 1..1)",
    ),
    // Definitions.
    (
        "CodeSystem-v2-0550.json",
        "the same mis-encoded codes as Bundle-v2-valuesets.json",
    ),
    (
        "ImplementationGuide-fhir.json",
        "no name and no status (both 1..1)",
    ),
    (
        "ig-r4.json",
        "ImplementationGuide with no name and no status (both 1..1)",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-author.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-effective.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-end.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-author.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-effective.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-end.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-keyword.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-workflow.json",
        "no base (1..*)",
    ),
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        "id is 68 characters; id allows at most 64",
    ),
];

/// Round trip first, so that the known-bad examples are still required to round-trip; then
/// validation. A known-bad example must fail validation (and only validation).
fn check(example: &corpus::Example) -> Result<(), Failure> {
    let value = json::parse(&example.bytes).map_err(|e| Failure::Other(format!("parse: {e}")))?;
    let written = json::to_vec(&value);
    let back = json::parse(&written).map_err(|e| Failure::Other(format!("reparse: {e}")))?;
    // Value equality compares numbers by their text (arbitrary_precision): 1.50 != 1.5.
    if back != value {
        return Err(Failure::Other("round trip changed the resource".into()));
    }
    let independent: Value =
        serde_json::from_slice(&example.bytes).map_err(|e| Failure::Other(e.to_string()))?;
    if independent != back {
        return Err(Failure::Other(
            "round trip differs from serde_json's own reading".into(),
        ));
    }
    let issues = validate::validate_resource(&value);
    if !issues.is_empty() {
        let shown: Vec<String> = issues.iter().take(5).map(|i| i.to_string()).collect();
        return Err(Failure::Invalid(format!(
            "{} issues: {}",
            issues.len(),
            shown.join(" | ")
        )));
    }
    Ok(())
}

enum Failure {
    Invalid(String),
    Other(String),
}

/// Returns (passed, known bad and rejected, failures).
fn run(examples: &[corpus::Example]) -> (usize, usize, Vec<String>) {
    let mut passed = 0;
    let mut known_bad = 0;
    let mut failures = Vec::new();
    for example in examples {
        let known = KNOWN_BAD.iter().find(|(file, _)| *file == example.file);
        match (check(example), known) {
            (Ok(()), None) => passed += 1,
            (Err(Failure::Invalid(_)), Some(_)) => known_bad += 1,
            (Err(Failure::Other(e)), Some(_)) => failures.push(format!("{}: {e}", example.file)),
            (Ok(()), Some((_, reason))) => failures.push(format!(
                "{}: listed as known bad ({reason}) but valid",
                example.file
            )),
            (Err(Failure::Invalid(e) | Failure::Other(e)), None) => {
                failures.push(format!("{}: {e}", example.file))
            }
        }
    }
    (passed, known_bad, failures)
}

fn report(what: &str, total: usize, outcome: &(usize, usize, Vec<String>)) {
    let (passed, known_bad, failures) = outcome;
    for failure in failures {
        println!("FAIL {failure}");
    }
    println!(
        "{what}: {passed} passed, {} failed, {known_bad} known spec errors rejected (of {total})",
        failures.len()
    );
}

#[test]
fn r4_examples_parse_validate_and_round_trip() {
    let Some(package) = corpus::package_dir("examples") else {
        return;
    };
    let examples = corpus::examples(&package);
    assert!(
        examples.len() > 700,
        "only {} examples found",
        examples.len()
    );
    let outcome = run(&examples);
    report("R4 examples", examples.len(), &outcome);
    assert!(outcome.2.is_empty(), "{} examples failed", outcome.2.len());
}

#[test]
fn r4_definitions_parse_validate_and_round_trip() {
    let Some(package) = corpus::package_dir("definitions") else {
        return;
    };
    let definitions: Vec<corpus::Example> = corpus::all_resources(&package)
        .into_iter()
        .filter(|e| corpus::DEFINITION_TYPES.contains(&e.resource_type.as_str()))
        .collect();
    assert!(
        definitions.len() > 4000,
        "only {} definitions found",
        definitions.len()
    );
    let outcome = run(&definitions);
    report("R4 definitions", definitions.len(), &outcome);
    assert!(
        outcome.2.is_empty(),
        "{} definitions failed",
        outcome.2.len()
    );
}
