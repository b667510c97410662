//! The patch interaction over HTTP, in process: JSON Patch and FHIRPath Patch on
//! `PATCH [type]/[id]` and `PATCH [type]?criteria`, preconditions, errors that store nothing,
//! and PATCH entries inside transactions and batches.

// The shared `support` helpers unwrap outside `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{TestResponse, TestServer};

const JSON_PATCH: &str = "application/json-patch+json";
const FHIR_JSON: &str = "application/fhir+json";

/// Creates a patient and returns its id.
async fn create_patient(server: &TestServer) -> String {
    let patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": "12345"}],
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "gender": "male",
        "birthDate": "1974-12-25",
    });
    let created = server.request("POST", "/Patient", Some(patient), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    created.json()["id"].as_str().unwrap().to_owned()
}

async fn patch(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut all = vec![("content-type", content_type)];
    all.extend_from_slice(headers);
    server
        .raw(
            "PATCH",
            path,
            Some(serde_json::to_vec(&body).unwrap()),
            &all,
        )
        .await
}

fn operation(kind: &str, path: &str, mut parts: Vec<Value>) -> Value {
    let mut all = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    all.append(&mut parts);
    json!({"name": "operation", "part": all})
}

fn parameters(operations: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": operations})
}

fn diagnostics(response: &TestResponse) -> String {
    response.json()["issue"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .map(|i| i["diagnostics"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

async fn version_of(server: &TestServer, id: &str) -> String {
    let read = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await;
    read.json()["meta"]["versionId"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn json_patch_updates_and_versions() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let body = json!([
        {"op": "test", "path": "/name/0/family", "value": "Chalmers"},
        {"op": "replace", "path": "/name/0/family", "value": "Chalmurs"},
        {"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "555-0100"}]},
        {"op": "remove", "path": "/gender"},
    ]);
    let patched = patch(&server, &format!("/Patient/{id}"), JSON_PATCH, body, &[]).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.header("etag").as_deref(), Some("W/\"2\""));
    let resource = patched.json();
    assert_eq!(resource["name"][0]["family"], "Chalmurs");
    assert_eq!(resource["telecom"][0]["value"], "555-0100");
    assert!(resource.get("gender").is_none());
    assert_eq!(resource["meta"]["versionId"], "2");

    // The history records the version as written by PATCH.
    let history = server
        .request("GET", &format!("/Patient/{id}/_history"), None, &[])
        .await;
    assert_eq!(history.json()["entry"][0]["request"]["method"], "PATCH");

    // Search sees the patched content (index rows were rewritten).
    let found = server
        .request("GET", "/Patient?family=Chalmurs", None, &[])
        .await;
    assert_eq!(found.json()["total"], 1, "{}", found.text());

    // A patch that changes nothing writes no version.
    let same = patch(
        &server,
        &format!("/Patient/{id}"),
        JSON_PATCH,
        json!([{"op": "test", "path": "/birthDate", "value": "1974-12-25"}]),
        &[],
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text());
    assert_eq!(same.header("etag").as_deref(), Some("W/\"2\""));

    // Prefer: return=minimal answers without a body.
    let minimal = patch(
        &server,
        &format!("/Patient/{id}"),
        JSON_PATCH,
        json!([{"op": "add", "path": "/gender", "value": "female"}]),
        &[("prefer", "return=minimal")],
    )
    .await;
    assert_eq!(minimal.status, StatusCode::OK, "{}", minimal.text());
    assert!(minimal.body.is_empty(), "{}", minimal.text());
    assert_eq!(minimal.header("etag").as_deref(), Some("W/\"3\""));
}

#[tokio::test]
async fn fhirpath_patch_updates() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let body = parameters(vec![
        operation(
            "replace",
            "Patient.name.where(use = 'official').family",
            vec![json!({"name": "value", "valueString": "Windsor"})],
        ),
        operation(
            "insert",
            "Patient.name[0].given",
            vec![
                json!({"name": "index", "valueInteger": 0}),
                json!({"name": "value", "valueString": "Charles"}),
            ],
        ),
        operation(
            "add",
            "Patient",
            vec![
                json!({"name": "name", "valueString": "contact"}),
                json!({"name": "value", "part": [
                    {"name": "name", "valueHumanName": {"text": "Mary"}},
                    {"name": "relationship", "valueCodeableConcept": {"text": "mother"}},
                ]}),
            ],
        ),
        operation("delete", "Patient.birthDate", vec![]),
    ]);
    let patched = patch(&server, &format!("/Patient/{id}"), FHIR_JSON, body, &[]).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let resource = patched.json();
    assert_eq!(resource["name"][0]["family"], "Windsor");
    assert_eq!(
        resource["name"][0]["given"],
        json!(["Charles", "Peter", "James"])
    );
    assert_eq!(
        resource["contact"],
        json!([{"name": {"text": "Mary"}, "relationship": [{"text": "mother"}]}])
    );
    assert!(resource.get("birthDate").is_none());
    assert_eq!(patched.header("etag").as_deref(), Some("W/\"2\""));
}

#[tokio::test]
async fn preconditions_and_missing_targets() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let body = json!([{"op": "replace", "path": "/gender", "value": "female"}]);
    let url = format!("/Patient/{id}");

    let stale = patch(
        &server,
        &url,
        JSON_PATCH,
        body.clone(),
        &[("if-match", "W/\"7\"")],
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.text()
    );
    assert_eq!(version_of(&server, &id).await, "1");

    let current = patch(
        &server,
        &url,
        JSON_PATCH,
        body.clone(),
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text());
    assert_eq!(current.json()["gender"], "female");

    let unknown = patch(&server, "/Patient/nope", JSON_PATCH, body.clone(), &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    let unknown_type = patch(&server, "/Unicorn/1", JSON_PATCH, body.clone(), &[]).await;
    assert_eq!(unknown_type.status, StatusCode::NOT_FOUND);

    let deleted = server.request("DELETE", &url, None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = patch(&server, &url, JSON_PATCH, body, &[]).await;
    assert_eq!(gone.status, StatusCode::GONE, "{}", gone.text());
}

#[tokio::test]
async fn failing_patches_store_nothing() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let url = format!("/Patient/{id}");
    // (content type, body, status, words of the diagnostics)
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            JSON_PATCH,
            json!([{"op": "replace", "path": "/gender", "value": "female"},
                            {"op": "test", "path": "/birthDate", "value": "2000-01-01"}]),
            StatusCode::BAD_REQUEST,
            "JSON Patch operation 1: test failed",
        ),
        (
            JSON_PATCH,
            json!([{"op": "remove", "path": "/photo"}]),
            StatusCode::BAD_REQUEST,
            "operation 0: remove: nothing exists at '/photo'",
        ),
        (
            JSON_PATCH,
            json!([{"op": "remove", "path": "gender"}]),
            StatusCode::BAD_REQUEST,
            "not a JSON Pointer",
        ),
        (
            JSON_PATCH,
            json!({"op": "remove", "path": "/gender"}),
            StatusCode::BAD_REQUEST,
            "must be a JSON array",
        ),
        (
            JSON_PATCH,
            json!([{"op": "replace", "path": "/gender", "value": "robot"}]),
            StatusCode::BAD_REQUEST,
            "the patched Patient is not valid",
        ),
        (
            JSON_PATCH,
            json!([{"op": "add", "path": "/colour", "value": "red"}]),
            StatusCode::BAD_REQUEST,
            "the patched Patient is not valid",
        ),
        (
            JSON_PATCH,
            json!([{"op": "replace", "path": "/id", "value": "other"}]),
            StatusCode::BAD_REQUEST,
            "may not change the id",
        ),
        (
            JSON_PATCH,
            json!([{"op": "replace", "path": "/resourceType", "value": "Group"}]),
            StatusCode::BAD_REQUEST,
            "does not match the type",
        ),
        (
            FHIR_JSON,
            parameters(vec![operation(
                "replace",
                "Patient.deceased",
                vec![json!({"name": "value", "valueBoolean": true})],
            )]),
            StatusCode::BAD_REQUEST,
            "FHIRPath Patch operation 0: replace 'Patient.deceased': the path selects nothing",
        ),
        (
            FHIR_JSON,
            parameters(vec![operation(
                "replace",
                "Patient.birthDate",
                vec![json!({"name": "value", "valueString": "not a date"})],
            )]),
            StatusCode::BAD_REQUEST,
            "the patched Patient is not valid",
        ),
        (
            FHIR_JSON,
            json!({"resourceType": "Patient"}),
            StatusCode::BAD_REQUEST,
            "must be a Parameters resource",
        ),
        (
            FHIR_JSON,
            parameters(vec![operation("delete", "Patient.name.where(", vec![])]),
            StatusCode::BAD_REQUEST,
            "not valid FHIRPath",
        ),
        (
            "text/plain",
            json!([]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PATCH takes",
        ),
        (
            "application/json",
            json!([]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PATCH takes",
        ),
    ];
    let mut failures = Vec::new();
    for (index, (content_type, body, status, words)) in cases.iter().enumerate() {
        let response = patch(&server, &url, content_type, body.clone(), &[]).await;
        let text = diagnostics(&response);
        if response.status != *status || !text.contains(words) {
            failures.push(format!("case {index}: {} {text}", response.status));
        }
    }
    eprintln!(
        "{} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        version_of(&server, &id).await,
        "1",
        "a failed patch stored something"
    );

    // The OperationOutcome of a FHIRPath Patch names the parameter at fault.
    let response = patch(
        &server,
        &url,
        FHIR_JSON,
        parameters(vec![
            operation("delete", "Patient.gender", vec![]),
            operation(
                "move",
                "Patient.identifier",
                vec![
                    json!({"name": "source", "valueInteger": 0}),
                    json!({"name": "destination", "valueInteger": 5}),
                ],
            ),
        ]),
        &[],
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json()["issue"][0]["expression"],
        json!(["Parameters.parameter[1]"])
    );
    assert_eq!(response.json()["issue"][0]["code"], "processing");
}

#[tokio::test]
async fn conditional_patch() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let body = json!([{"op": "add", "path": "/active", "value": true}]);
    let patched = patch(
        &server,
        "/Patient?identifier=urn:mrn|12345",
        JSON_PATCH,
        body.clone(),
        &[],
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.json()["id"], id.as_str());
    assert_eq!(patched.json()["active"], true);

    let none = patch(
        &server,
        "/Patient?identifier=urn:mrn|0",
        JSON_PATCH,
        body.clone(),
        &[],
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.text());

    create_patient(&server).await;
    let several = patch(
        &server,
        "/Patient?identifier=urn:mrn|12345",
        JSON_PATCH,
        body.clone(),
        &[],
    )
    .await;
    assert_eq!(
        several.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        several.text()
    );

    let no_criteria = patch(&server, "/Patient", JSON_PATCH, body, &[]).await;
    assert_eq!(
        no_criteria.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_criteria.text()
    );
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn json_patch_binary(operations: Value) -> Value {
    json!({
        "resourceType": "Binary",
        "contentType": JSON_PATCH,
        "data": base64(&serde_json::to_vec(&operations).unwrap()),
    })
}

#[tokio::test]
async fn patch_inside_a_transaction() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:8f8a4f5e-1111-4c3e-9d0a-000000000001",
             "resource": {"resourceType": "Practitioner", "name": [{"family": "Who"}]},
             "request": {"method": "POST", "url": "Practitioner"}},
            {"fullUrl": "urn:uuid:8f8a4f5e-1111-4c3e-9d0a-000000000002",
             "resource": {"resourceType": "Organization", "name": "Ward 12"},
             "request": {"method": "POST", "url": "Organization"}},
            {"resource": json_patch_binary(json!([
                {"op": "add", "path": "/generalPractitioner", "value": [{"reference": "urn:uuid:8f8a4f5e-1111-4c3e-9d0a-000000000001"}]},
                {"op": "add", "path": "/managingOrganization", "value": {"display": "Ward 12"}},
                {"op": "add", "path": "/managingOrganization/reference", "value": "urn:uuid:8f8a4f5e-1111-4c3e-9d0a-000000000002"}])),
             "request": {"method": "PATCH", "url": format!("Patient/{id}"), "ifMatch": "W/\"1\""}},
            {"resource": parameters(vec![operation("replace", "Patient.gender", vec![json!({"name": "value", "valueCode": "other"})])]),
             "request": {"method": "PATCH", "url": "Patient?identifier=urn:mrn|12345"}},
        ],
    });
    // Two entries patching the same resource by different URLs: both apply, in order.
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let entries = response.json()["entry"].clone();
    assert_eq!(entries[2]["response"]["status"], "200 OK");
    assert_eq!(entries[3]["response"]["status"], "200 OK");
    let location = |i: usize| {
        entries[i]["response"]["location"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (practitioner, organization) = (location(0), location(1));
    let read = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await;
    let resource = read.json();
    assert_eq!(resource["gender"], "other");
    let reference = resource["generalPractitioner"][0]["reference"]
        .as_str()
        .unwrap();
    assert!(
        practitioner.starts_with(reference),
        "{reference} vs {practitioner}"
    );
    // A bare reference string written by the JSON Patch is rewritten too.
    let reference = resource["managingOrganization"]["reference"]
        .as_str()
        .unwrap();
    assert!(
        organization.starts_with(reference),
        "{reference} vs {organization}"
    );
    assert_eq!(resource["meta"]["versionId"], "3");

    // A failing patch fails the whole transaction: the create before it is not stored.
    let failing = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Practitioner", "name": [{"family": "Nobody"}]},
             "request": {"method": "POST", "url": "Practitioner"}},
            {"resource": json_patch_binary(json!([{"op": "test", "path": "/gender", "value": "male"}])),
             "request": {"method": "PATCH", "url": format!("Patient/{id}")}},
        ],
    });
    let response = server.request("POST", "/", Some(failing), &[]).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        diagnostics(&response).contains("Bundle.entry[1]: JSON Patch operation 0: test failed"),
        "{}",
        response.text()
    );
    let nobody = server
        .request("GET", "/Practitioner?family=Nobody", None, &[])
        .await;
    assert_eq!(nobody.json()["total"], 0);

    // A stale ifMatch fails it too.
    let stale = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": json_patch_binary(json!([{"op": "remove", "path": "/gender"}])),
                   "request": {"method": "PATCH", "url": format!("Patient/{id}"), "ifMatch": "W/\"1\""}}],
    });
    let response = server.request("POST", "/", Some(stale), &[]).await;
    assert_eq!(
        response.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        response.text()
    );
    assert_eq!(version_of(&server, &id).await, "3");
}

#[tokio::test]
async fn patch_inside_a_batch() {
    let server = TestServer::new();
    let id = create_patient(&server).await;
    let bundle = json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [
            {"resource": parameters(vec![operation("add", "Patient", vec![
                json!({"name": "name", "valueString": "active"}), json!({"name": "value", "valueBoolean": true})])]),
             "request": {"method": "PATCH", "url": format!("Patient/{id}")}},
            {"resource": json_patch_binary(json!([{"op": "remove", "path": "/nothing"}])),
             "request": {"method": "PATCH", "url": format!("Patient/{id}")}},
            {"resource": json_patch_binary(json!([{"op": "remove", "path": "/gender"}])),
             "request": {"method": "PATCH", "url": "Patient/missing"}},
            {"resource": {"resourceType": "Basic", "code": {"text": "x"}},
             "request": {"method": "PATCH", "url": format!("Patient/{id}")}},
            {"resource": json_patch_binary(json!([{"op": "replace", "path": "/gender", "value": "unknown"}])),
             "request": {"method": "PATCH", "url": "Patient?identifier=urn:mrn|12345", "ifMatch": "W/\"2\""}},
        ],
    });
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let entries = response.json()["entry"].clone();
    let statuses: Vec<&str> = (0..5)
        .map(|i| entries[i]["response"]["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        [
            "200 OK",
            "400 Bad Request",
            "404 Not Found",
            "400 Bad Request",
            "200 OK"
        ]
    );
    assert_eq!(entries[4]["response"]["etag"], "W/\"3\"");
    let read = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(read.json()["active"], true);
    assert_eq!(read.json()["gender"], "unknown");
    assert_eq!(read.json()["meta"]["versionId"], "3");
}

#[tokio::test]
async fn capability_statement_declares_patch() {
    let server = TestServer::new();
    let statement = server.request("GET", "/metadata", None, &[]).await.json();
    assert_eq!(
        statement["patchFormat"],
        json!(["application/json-patch+json", "application/fhir+json"])
    );
    let patient = statement["rest"][0]["resource"]
        .as_array()
        .and_then(|types| types.iter().find(|r| r["type"] == "Patient"))
        .cloned()
        .unwrap_or(Value::Null);
    let interactions = patient["interaction"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        interactions.contains(&json!({"code": "patch"})),
        "{interactions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_lose_no_update() {
    // Each patch is prepared against the committed version outside the writer lock; when
    // another patch wins in between, the draft is stale and must be redone inside the unit.
    let server = std::sync::Arc::new(TestServer::new());
    let id = create_patient(&server).await;
    let writers = 12;
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            let server = server.clone();
            let url = format!("/Patient/{id}");
            tokio::spawn(async move {
                let body =
                    json!([{"op": "add", "path": "/name/0/given/-", "value": format!("G{n}")}]);
                patch(&server, &url, JSON_PATCH, body, &[]).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let read = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await
        .json();
    let given = read["name"][0]["given"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for n in 0..writers {
        assert!(
            given.contains(&json!(format!("G{n}"))),
            "G{n} lost: {given:?}"
        );
    }
    assert_eq!(given.len(), 2 + writers);
    assert_eq!(read["meta"]["versionId"], (1 + writers).to_string());
}
