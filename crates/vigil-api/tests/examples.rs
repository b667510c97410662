//! Every non-conformance example of the R4 package goes through the server (PUT with its id,
//! or POST without one) and reads back equal to what was sent, decimals included; only
//! `meta.versionId` and `meta.lastUpdated` are the server's. The two examples the
//! specification itself gets wrong (see vigil-model's examples test) must be refused with 400,
//! and AuditEvents (read-only: the server writes the audit trail itself) with 403.

#[path = "../../vigil-model/tests/common/corpus.rs"]
mod corpus;
mod support;

use axum::http::StatusCode;
use serde_json::Value;
use support::TestServer;

/// Examples that break R4 themselves (the reasons are in vigil-model/tests/examples.rs).
const KNOWN_BAD: &[&str] = &["Bundle-v2-valuesets.json", "Questionnaire-qs1.json"];

#[tokio::test]
async fn examples_round_trip_through_the_server() {
    let Some(package) = corpus::package_dir("api-examples") else {
        return;
    };
    let examples = corpus::examples(&package);
    assert!(
        examples.len() >= 700,
        "only {} examples found",
        examples.len()
    );
    // Two examples (Bundle-dataelements, Bundle-resources) are over the default 16 MiB body
    // limit; the limit is a setting, raised here so the whole package goes through.
    let server = TestServer::with_body_limit(64 * 1024 * 1024);
    let (mut passed, mut failures) = (0usize, Vec::new());
    for example in &examples {
        let sent: Value = serde_json::from_slice(&example.bytes).expect("the package is JSON");
        let id = sent.get("id").and_then(Value::as_str).map(str::to_owned);
        let response = match &id {
            Some(id) => {
                server
                    .raw(
                        "PUT",
                        &format!("/{}/{id}", example.resource_type),
                        Some(example.bytes.clone()),
                        &[],
                    )
                    .await
            }
            None => {
                server
                    .raw(
                        "POST",
                        &format!("/{}", example.resource_type),
                        Some(example.bytes.clone()),
                        &[],
                    )
                    .await
            }
        };
        if KNOWN_BAD.contains(&example.file.as_str()) {
            if response.status == StatusCode::BAD_REQUEST {
                passed += 1;
            } else {
                failures.push(format!(
                    "{}: known bad but answered {}",
                    example.file, response.status
                ));
            }
            continue;
        }
        // The audit trail is written by the server alone: AuditEvent writes are refused
        // (docs/audit.md), so its examples must answer 403.
        if example.resource_type == "AuditEvent" {
            if response.status == StatusCode::FORBIDDEN {
                passed += 1;
            } else {
                failures.push(format!(
                    "{}: an AuditEvent write answered {}",
                    example.file, response.status
                ));
            }
            continue;
        }
        if !response.status.is_success() {
            failures.push(format!(
                "{}: {} {}",
                example.file,
                response.status,
                response.text()
            ));
            continue;
        }
        let location = response.header("location").unwrap_or_default();
        let path = location.trim_start_matches("http://localhost");
        let path = path.split("/_history").next().unwrap_or_default();
        // The resource form (a Binary read without a FHIR Accept is its native content).
        let read = server
            .raw("GET", path, None, &[("accept", "application/fhir+json")])
            .await;
        let mut got: Value = serde_json::from_slice(&read.body).unwrap_or(Value::Null);
        let mut expected = sent.clone();
        strip_server_meta(&mut got);
        strip_server_meta(&mut expected);
        if id.is_none()
            && let Some(object) = got.as_object_mut()
        {
            object.remove("id");
        }
        if got == expected {
            passed += 1;
        } else {
            failures.push(format!("{}: read back differs", example.file));
        }
    }
    println!("{passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}

/// Removes `meta.versionId` and `meta.lastUpdated` (and `meta` when nothing else is left).
fn strip_server_meta(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let empty = match object.get_mut("meta").and_then(Value::as_object_mut) {
        Some(meta) => {
            meta.remove("versionId");
            meta.remove("lastUpdated");
            meta.is_empty()
        }
        None => false,
    };
    if empty {
        object.remove("meta");
    }
}
