//! `GET /Patient/[id]/$everything` end to end in process: the patient and its compartment,
//! referenced shared resources, `_type`, `_since`, paging through `next` links, errors.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::TestServer;

async fn put(server: &TestServer, resource: Value) -> Value {
    let path = format!(
        "/{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    let response = server.request("PUT", &path, Some(resource), &[]).await;
    assert!(response.status.is_success(), "{}", response.text());
    response.json()
}

fn observation(id: &str, subject: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": id},
        "subject": {"reference": format!("Patient/{subject}")},
        "performer": [{"reference": "Practitioner/doc"}]})
}

/// Patient `a` with observations, a condition, an encounter; patient `b` with its own; a
/// practitioner and an organization referenced from `a`'s record; a medication nobody uses.
async fn record(server: &TestServer) {
    put(
        server,
        json!({"resourceType": "Organization", "id": "org", "name": "Ward 12"}),
    )
    .await;
    put(
        server,
        json!({"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Who"}]}),
    )
    .await;
    put(
        server,
        json!({"resourceType": "Medication", "id": "unused", "code": {"text": "x"}}),
    )
    .await;
    put(server, json!({"resourceType": "Patient", "id": "a", "managingOrganization": {"reference": "Organization/org"}})).await;
    put(server, json!({"resourceType": "Patient", "id": "b"})).await;
    for n in 0..5 {
        put(server, observation(&format!("a-obs-{n}"), "a")).await;
        put(server, observation(&format!("b-obs-{n}"), "b")).await;
    }
    put(
        server,
        json!({"resourceType": "Condition", "id": "a-cond", "subject": {"reference": "Patient/a"}}),
    )
    .await;
    put(
        server,
        json!({"resourceType": "Encounter", "id": "a-enc", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/a"}}),
    )
    .await;
}

fn names(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap(),
                        e["resource"]["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn next_path(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| {
            l["url"]
                .as_str()
                .unwrap()
                .strip_prefix("http://localhost")
                .unwrap()
                .to_owned()
        })
}

async fn get(server: &TestServer, path: &str) -> Value {
    let response = server.request("GET", path, None, &[]).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{path}: {}",
        response.text()
    );
    let media = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(media.starts_with("application/fhir+json"), "{media}");
    response.json()
}

fn a_record() -> Vec<String> {
    let mut expected = vec![
        "Patient/a".to_owned(),
        "Condition/a-cond".to_owned(),
        "Encounter/a-enc".to_owned(),
    ];
    expected.extend((0..5).map(|n| format!("Observation/a-obs-{n}")));
    expected
}

#[tokio::test]
async fn everything_is_the_patient_and_its_compartment() {
    let server = TestServer::new();
    record(&server).await;
    let bundle = get(&server, "/Patient/a/$everything").await;
    assert_eq!(bundle["type"], "searchset");
    let matches = names(&bundle, "match");
    assert_eq!(
        matches,
        a_record(),
        "Patient first, then types alphabetically, ids in order"
    );
    let included: BTreeSet<String> = names(&bundle, "include").into_iter().collect();
    assert_eq!(
        included,
        ["Organization/org", "Practitioner/doc"]
            .map(String::from)
            .into()
    );
    assert!(next_path(&bundle).is_none());
}

#[tokio::test]
async fn pages_follow_next_links_without_gaps_or_repeats() {
    let server = TestServer::new();
    record(&server).await;
    for count in [1, 2, 3, 7, 8] {
        let mut path = Some(format!("/Patient/a/$everything?_count={count}"));
        let mut seen = Vec::new();
        let mut pages = 0;
        while let Some(current) = path {
            let bundle = get(&server, &current).await;
            let page = names(&bundle, "match");
            assert!(
                page.len() <= count,
                "page of {} with _count={count}",
                page.len()
            );
            assert!(!page.is_empty(), "no empty page: {current}");
            seen.extend(page);
            path = next_path(&bundle);
            pages += 1;
            assert!(pages <= 20, "paging does not end");
        }
        assert_eq!(seen, a_record(), "_count={count}");
    }
}

#[tokio::test]
async fn type_and_since_narrow_everything() {
    let server = TestServer::new();
    record(&server).await;
    let bundle = get(
        &server,
        "/Patient/a/$everything?_type=Observation,Condition",
    )
    .await;
    let mut expected = vec!["Condition/a-cond".to_owned()];
    expected.extend((0..5).map(|n| format!("Observation/a-obs-{n}")));
    assert_eq!(names(&bundle, "match"), expected);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = vigil_service::format_instant(vigil_service::now_micros());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut changed = observation("a-obs-3", "a");
    changed["status"] = json!("amended");
    put(&server, changed).await;
    let bundle = get(
        &server,
        &format!(
            "/Patient/a/$everything?_since={}",
            since.replace(':', "%3A")
        ),
    )
    .await;
    assert_eq!(names(&bundle, "match"), ["Observation/a-obs-3"]);
}

#[tokio::test]
async fn everything_answers_errors_as_operation_outcomes() {
    let server = TestServer::new();
    record(&server).await;
    let cases = [
        ("/Patient/nobody/$everything", StatusCode::NOT_FOUND),
        (
            "/Patient/a/$everything?_type=Medication",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/Patient/a/$everything?_type=Nonsense",
            StatusCode::NOT_FOUND,
        ),
        (
            "/Patient/a/$everything?_since=soon",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/Patient/a/$everything?_count=many",
            StatusCode::BAD_REQUEST,
        ),
        ("/Patient/a/$everything?_page=zz", StatusCode::BAD_REQUEST),
        (
            "/Patient/a/$everything?start=2020-01-01",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, status) in cases {
        let response = server.request("GET", path, None, &[]).await;
        assert_eq!(response.status, status, "{path}: {}", response.text());
        assert_eq!(
            response.json()["resourceType"],
            "OperationOutcome",
            "{path}"
        );
    }
    let deleted = server.request("DELETE", "/Patient/b", None, &[]).await;
    assert!(deleted.status.is_success());
    let gone = server
        .request("GET", "/Patient/b/$everything", None, &[])
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(
        gone.header("content-type")
            .is_some_and(|media| media.starts_with("application/fhir+json"))
    );
    // Ordinary routes next to the operation still work.
    assert_eq!(
        server.request("GET", "/Patient/a", None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server
            .request("GET", "/Patient/a/Observation", None, &[])
            .await
            .status,
        StatusCode::OK
    );
}

/// Patient `big` with `n` observations, written in one batch.
async fn big_record(server: &TestServer, n: usize) {
    put(server, json!({"resourceType": "Patient", "id": "big"})).await;
    let observations = (0..n)
        .map(|i| observation(&format!("big-obs-{i:04}"), "big"))
        .collect();
    server.put_all(observations).await;
}

/// Without `_count`, the whole set in one Bundle (more than a search page's 50 and more than
/// the engine's 1,000 per query), with `total`.
#[tokio::test]
async fn everything_without_count_is_the_whole_set_in_one_bundle() {
    let server = TestServer::new();
    big_record(&server, 1_200).await;
    let bundle = get(&server, "/Patient/big/$everything").await;
    assert_eq!(bundle["total"], 1_201);
    let matches = names(&bundle, "match");
    assert_eq!(matches.len(), 1_201);
    assert_eq!(
        matches.iter().collect::<BTreeSet<_>>().len(),
        1_201,
        "no repeats"
    );
    assert!(next_path(&bundle).is_none());
    assert!(names(&bundle, "outcome").is_empty());
    // With _count the client gets pages, each with the same total.
    let page = get(&server, "/Patient/big/$everything?_count=100").await;
    assert_eq!(names(&page, "match").len(), 100);
    assert_eq!(page["total"], 1_201);
    assert!(next_path(&page).is_some());
}

/// Beyond the configured limit the Bundle is cut, says so in an OperationOutcome entry, and its
/// `next` link gives the rest: never a silent truncation.
#[tokio::test]
async fn everything_over_the_limit_is_cut_openly_and_continues() {
    let server = TestServer::with_service_config(vigil_service::ServiceConfig {
        everything_max_resources: 30,
        ..Default::default()
    });
    big_record(&server, 45).await;
    let first = get(&server, "/Patient/big/$everything").await;
    assert_eq!(first["total"], 46);
    assert_eq!(names(&first, "match").len(), 30);
    let outcome = first["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an OperationOutcome entry");
    assert_eq!(outcome["resource"]["resourceType"], "OperationOutcome");
    assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
    let text = outcome["resource"]["issue"][0]["diagnostics"]
        .as_str()
        .unwrap();
    assert!(text.contains("46") && text.contains("30"), "{text}");
    let rest = get(&server, &next_path(&first).expect("a next link")).await;
    assert_eq!(names(&rest, "match").len(), 16);
    assert!(next_path(&rest).is_none());
    assert!(!rest.to_string().contains("\"outcome\""));
    let all: BTreeSet<String> = names(&first, "match")
        .into_iter()
        .chain(names(&rest, "match"))
        .collect();
    assert_eq!(all.len(), 46);
}
