//! Issue 20, through the HTTP router: every stage of a write (parse, validate, index
//! extraction, the index rows stored, the stored text serialized) does work in proportion to
//! its input. Each shape is sent with `n` and `2n` repetitions and the process-wide work units
//! (`vigil_model::work`) of every stage must about double, or stay flat where the stage does not
//! see the repetitions (an extension chain is not indexed). Counted, not timed.
//!
//! One test in this binary, so no other request adds to the process-wide counters.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::TestServer;
use vigil_model::work::{self, Stage};

/// A request of one shape with `n` repetitions: method, path and body.
fn shape(name: &str, n: usize) -> (&'static str, &'static str, Value) {
    let patient =
        |i: usize| json!({"resourceType": "Patient", "name": [{"family": format!("F{i}")}]});
    match name {
        "names" => (
            "POST",
            "/Patient",
            json!({"resourceType": "Patient", "name": (0..n)
            .map(|i| json!({"family": format!("Family{i}"), "given": [format!("Given{i}")]}))
            .collect::<Vec<_>>()}),
        ),
        "identifiers" => (
            "POST",
            "/Patient",
            json!({"resourceType": "Patient", "identifier": (0..n)
            .map(|i| json!({"system": "urn:oid:1.2.3", "value": format!("id-{i}")}))
            .collect::<Vec<_>>()}),
        ),
        "telecoms" => (
            "POST",
            "/Patient",
            json!({"resourceType": "Patient", "telecom": (0..n)
            .map(|i| json!({"system": "phone", "value": format!("+41 {i}"), "use": "home"}))
            .collect::<Vec<_>>()}),
        ),
        "extension depth" => {
            let mut extension = json!({"url": "http://example.org/leaf", "valueString": "x"});
            for i in 0..n {
                extension =
                    json!({"url": format!("http://example.org/{i}"), "extension": [extension]});
            }
            (
                "POST",
                "/Patient",
                json!({"resourceType": "Patient", "extension": [extension]}),
            )
        }
        "document entries" => (
            "POST",
            "/Bundle",
            json!({"resourceType": "Bundle",
            "type": "collection", "entry": (0..n)
            .map(|i| json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-{i:012}"),
                "resource": patient(i)}))
            .collect::<Vec<_>>()}),
        ),
        "transaction entries" => (
            "POST",
            "/",
            json!({"resourceType": "Bundle",
            "type": "transaction", "entry": (0..n)
            .map(|i| json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-{i:012}"),
                "resource": patient(i), "request": {"method": "POST", "url": "Patient"}}))
            .collect::<Vec<_>>()}),
        ),
        other => panic!("unknown shape {other}"),
    }
}

/// The work units of every stage for one request.
async fn work_of(server: &TestServer, name: &str, n: usize) -> [u64; 5] {
    let (method, path, body) = shape(name, n);
    let before = work::global_all();
    let answer = server.request(method, path, Some(body), &[]).await;
    let after = work::global_all();
    assert!(
        answer.status == StatusCode::CREATED || answer.status == StatusCode::OK,
        "{name} x{n}: {} {}",
        answer.status,
        &answer.text()[..answer.text().len().min(300)]
    );
    [0, 1, 2, 3, 4].map(|i| after[i] - before[i])
}

#[tokio::test]
async fn every_write_stage_does_about_twice_the_work_for_twice_the_input() {
    let server = TestServer::new();
    // (shape, n, the stages that see the repetitions: parse, validate, extract, store,
    // serialize)
    let all = [true; 5];
    let unindexed = [true, true, false, false, true];
    for (name, n, grows) in [
        ("names", 1_000, all),
        ("identifiers", 1_000, all),
        ("telecoms", 1_000, all),
        ("extension depth", 25, unindexed),
        ("document entries", 1_000, unindexed),
        ("transaction entries", 200, all),
    ] {
        let small = work_of(&server, name, n).await;
        let large = work_of(&server, name, 2 * n).await;
        eprintln!("{name}: {small:?} -> {large:?}");
        for (i, stage) in Stage::ALL.iter().enumerate() {
            let ratio = large[i] as f64 / small[i].max(1) as f64;
            if grows[i] {
                assert!(small[i] > 0, "{name}, {stage:?}: no work counted");
                assert!(
                    (1.6..=2.6).contains(&ratio),
                    "{name}, {stage:?}: {} -> {} units (x{ratio:.2})",
                    small[i],
                    large[i]
                );
            } else {
                assert!(
                    large[i] <= small[i] + small[i] / 10 + 10,
                    "{name}, {stage:?} should not grow: {} -> {}",
                    small[i],
                    large[i]
                );
            }
        }
    }
}
