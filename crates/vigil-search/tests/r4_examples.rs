//! Index extraction over every resource example of the R4 package (../shared/fhir-r4): no
//! definition's expression may fail on valid FHIR, and every example yields rows. Prints
//! `N passed, N failed`.

mod common;

use serde_json::Value;
use vigil_search::SearchEngine;

#[test]
fn every_r4_example_indexes_without_error() {
    let archive = common::shared_dir().join("fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz");
    if !archive.exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "R4 package missing at {} (CI=true)",
            archive.display()
        );
        println!(
            "skipping: R4 package not found at {} (set VIGIL_SHARED)",
            archive.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(status.success());
    let engine = SearchEngine::r4();
    let (mut passed, mut failures, mut rows) = (0, Vec::new(), 0);
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("package"))
        .expect("package")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(resource) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let Some(resource_type) = resource["resourceType"].as_str() else {
            continue;
        };
        if !engine.registry().is_resource_type(resource_type) || resource.get("id").is_none() {
            continue;
        }
        match engine.index_rows(resource_type, &resource) {
            Ok(found) => {
                passed += 1;
                rows += found.len();
            }
            Err(error) => failures.push(format!("{}: {error}", path.display())),
        }
    }
    for failure in failures.iter().take(20) {
        println!("FAIL {failure}");
    }
    println!(
        "{passed} passed, {} failed ({rows} index rows)",
        failures.len()
    );
    assert!(passed > 2000, "the package holds thousands of examples");
    assert!(failures.is_empty());
}
