//! Hostile or malformed input found by the attacker's review (issue 20), each answered with a
//! 400 OperationOutcome instead of being accepted or misread.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::{TestResponse, TestServer};

fn assert_invalid(answer: &TestResponse, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        answer.text()
    );
    assert_eq!(answer.json()["resourceType"], "OperationOutcome", "{what}");
}

#[tokio::test]
async fn an_unterminated_if_match_is_400() {
    let server = TestServer::new();
    let patient = json!({"resourceType": "Patient", "id": "p1"});
    let created = server
        .request("PUT", "/Patient/p1", Some(patient.clone()), &[])
        .await;
    assert!(created.status.is_success());
    for tag in ["W/\"1", "\"1", "W/\"\"", "W/\"1a\"", "W/1\""] {
        let answer = server
            .request(
                "PUT",
                "/Patient/p1",
                Some(patient.clone()),
                &[("if-match", tag)],
            )
            .await;
        assert_invalid(&answer, tag);
    }
    let answer = server
        .request(
            "PUT",
            "/Patient/p1",
            Some(patient),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

#[tokio::test]
async fn a_malformed_date_search_value_is_400() {
    let server = TestServer::new();
    for value in ["0000-00-00", "2020-00", "2020-01-00", "0000", "99999"] {
        let answer = server
            .request("GET", &format!("/Patient?birthdate={value}"), None, &[])
            .await;
        assert_invalid(&answer, value);
    }
    let answer = server
        .request("GET", "/Patient?birthdate=2020-01", None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// POSTs an Observation whose quantity value is written as `value` (raw JSON, so the text
/// reaches the server as written).
async fn post_quantity(server: &TestServer, value: &str) -> TestResponse {
    let body = format!(
        r#"{{"resourceType": "Observation", "status": "final", "code": {{"text": "x"}},
           "valueQuantity": {{"value": {value}}}}}"#
    );
    server
        .raw(
            "POST",
            "/Observation",
            Some(body.into_bytes()),
            &[("content-type", "application/fhir+json")],
        )
        .await
}

#[tokio::test]
async fn decimals_beyond_what_the_index_orders_are_refused() {
    let server = TestServer::new();
    for value in ["1e400", "-1e309", "1.0e-400", "1e-320"] {
        assert_invalid(&post_quantity(&server, value).await, value);
    }
    // Within range, and zero written with any exponent, are stored and found.
    for value in ["1e300", "0e-500", "2.5e-300"] {
        let answer = post_quantity(&server, value).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{value}: {}",
            answer.text()
        );
    }
    let found = server
        .request("GET", "/Observation?value-quantity=gt1e299", None, &[])
        .await
        .json();
    assert_eq!(found["total"], 1, "{found}");
    let found = server
        .request("GET", "/Observation?value-quantity=gt0", None, &[])
        .await
        .json();
    assert_eq!(found["total"], 2, "1e300 and 2.5e-300: {found}");
}

#[tokio::test]
async fn two_entries_with_one_full_url_are_400() {
    let server = TestServer::new();
    for kind in ["transaction", "batch"] {
        let entry = json!({"fullUrl": "urn:uuid:6f0c6a8e-8d0e-4a53-9b3f-000000000001",
            "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}});
        let bundle =
            json!({"resourceType": "Bundle", "type": kind, "entry": [entry.clone(), entry]});
        let answer = server.request("POST", "/", Some(bundle), &[]).await;
        assert_invalid(&answer, kind);
    }
}

#[tokio::test]
async fn long_value_lists_and_many_ands_compile_or_are_refused_never_500() {
    let server = TestServer::new();
    let list = |prefix: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("{prefix}{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let cases = [
        ("Patient", format!("name={}", list("n", 600))),
        ("Patient", format!("name={}", list("n", 5_000))),
        ("Observation", format!("code={}", list("c", 1_200))),
        (
            "Observation",
            format!("subject={}", list("Patient/p", 1_200)),
        ),
        (
            "Observation",
            format!("date={}", list("ge2020-01-01T00:00:0", 1_000)),
        ),
        ("Patient", format!("_id={}", list("id", 3_000))),
        (
            "Patient",
            (0..10_000)
                .map(|i| format!("name=a{i}"))
                .collect::<Vec<_>>()
                .join("&"),
        ),
    ];
    for (resource_type, query) in cases {
        // Long queries go in a POST _search body, as clients send them.
        let answer = server
            .raw(
                "POST",
                &format!("/{resource_type}/_search"),
                Some(query.clone().into_bytes()),
                &[("content-type", "application/x-www-form-urlencoded")],
            )
            .await;
        assert!(
            answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST,
            "{} for a query of {} bytes: {}",
            answer.status,
            query.len(),
            &answer.text()[..answer.text().len().min(300)]
        );
        assert!(answer.json()["resourceType"].is_string(), "a FHIR body");
    }
}

/// Asserts `answer` has `status` and an OperationOutcome whose first issue is `too-costly`, at
/// `expression`, naming `limit`.
fn assert_limit(answer: &TestResponse, status: StatusCode, expression: &str, limit: &str) {
    let text = answer.text();
    assert_eq!(answer.status, status, "{}", &text[..text.len().min(400)]);
    let outcome = answer.json();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issue = &outcome["issue"][0];
    assert_eq!(issue["code"], "too-costly", "{issue}");
    assert_eq!(issue["expression"][0], expression, "{issue}");
    let diagnostics = issue["diagnostics"].as_str().unwrap_or_default();
    assert!(diagnostics.contains(limit), "{diagnostics}");
}

/// A Patient with `n` names of a family and a given name each (six index rows per name).
fn patient_with_names(n: usize) -> serde_json::Value {
    let names: Vec<_> = (0..n)
        .map(|i| json!({"family": format!("F{i}"), "given": [format!("G{i}")]}))
        .collect();
    json!({"resourceType": "Patient", "name": names})
}

#[tokio::test]
async fn an_array_over_ten_thousand_items_is_413_on_every_write_path() {
    let server = TestServer::new();
    let given = vec!["G"; 10_001];
    let patient = json!({"resourceType": "Patient", "id": "big", "name": [{"given": given}]});
    let answer = server
        .request("POST", "/Patient", Some(patient.clone()), &[])
        .await;
    assert_limit(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Patient.name[0].given",
        "at most 10000",
    );
    let answer = server
        .request("PUT", "/Patient/big", Some(patient.clone()), &[])
        .await;
    assert_limit(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Patient.name[0].given",
        "at most 10000",
    );
    // In a transaction the whole Bundle fails with the entry's status; in a batch the entry.
    let entry = json!({"resource": patient, "request": {"method": "PUT", "url": "Patient/big"}});
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [entry]});
    let answer = server.request("POST", "/", Some(transaction), &[]).await;
    assert_limit(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Bundle.entry[0].resource.name[0].given",
        "at most 10000",
    );
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [entry]});
    let answer = server.request("POST", "/", Some(batch), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let status = answer.json()["entry"][0]["response"]["status"].clone();
    assert!(
        status.as_str().unwrap_or_default().starts_with("413"),
        "{status}"
    );
    // A JSON Patch that grows an array past the limit.
    let created = server
        .request(
            "PUT",
            "/Patient/small",
            Some(json!({"resourceType": "Patient", "id": "small"})),
            &[],
        )
        .await;
    assert!(created.status.is_success());
    let patch = json!([{"op": "add", "path": "/name", "value": [{"given": vec!["G"; 10_001]}]}]);
    let answer = server
        .raw(
            "PATCH",
            "/Patient/small",
            Some(serde_json::to_vec(&patch).unwrap()),
            &[("content-type", "application/json-patch+json")],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text()
    );
    // At the limit, the write is accepted.
    let patient = json!({"resourceType": "Patient", "name": [{"given": vec!["G"; 10_000]}]});
    let answer = server.request("POST", "/Patient", Some(patient), &[]).await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_bundle_of_more_than_ten_thousand_entries_is_413() {
    let server = TestServer::new();
    let entry = json!({"request": {"method": "GET", "url": "Patient?_count=1"}});
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": vec![entry; 10_001]});
    let answer = server.request("POST", "/", Some(bundle), &[]).await;
    assert_limit(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Bundle.entry",
        "at most 10000",
    );
}

#[tokio::test]
async fn a_resource_over_twenty_thousand_index_rows_is_422() {
    let server = TestServer::new();
    // 4,000 names are under the array limit but need about 24,000 index rows.
    let answer = server
        .request("POST", "/Patient", Some(patient_with_names(4_000)), &[])
        .await;
    assert_limit(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Patient.name",
        "more than 20000",
    );
    let entry = json!({"resource": patient_with_names(4_000),
        "request": {"method": "POST", "url": "Patient"}});
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [entry]});
    let answer = server.request("POST", "/", Some(batch), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let status = answer.json()["entry"][0]["response"]["status"].clone();
    assert!(
        status.as_str().unwrap_or_default().starts_with("422"),
        "{status}"
    );
    // Nothing was stored, and a Patient of 1,000 names (about 6,000 rows) is.
    let found = server.request("GET", "/Patient", None, &[]).await.json();
    assert_eq!(found["total"], 0, "{found}");
    let answer = server
        .request("POST", "/Patient", Some(patient_with_names(1_000)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
}

#[tokio::test]
async fn json_nested_deeper_than_127_levels_is_413() {
    let server = TestServer::new();
    let nested = |depth: usize| {
        let mut value = json!("x");
        for _ in 0..depth {
            value = json!({"url": "http://example.org/e", "extension": [value]});
        }
        json!({"resourceType": "Patient", "extension": [value]})
    };
    // Two JSON levels per extension: 70 extensions nest about 140 deep.
    let answer = server
        .request("POST", "/Patient", Some(nested(70)), &[])
        .await;
    assert_limit(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body",
        "nested deeper than 127",
    );
    // 60 extensions (about 122 levels) parse, and are then read as FHIR (a string where an
    // Extension belongs is invalid: 400, not a limit).
    let answer = server
        .request("POST", "/Patient", Some(nested(60)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
}
