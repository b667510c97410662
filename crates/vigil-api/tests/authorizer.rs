//! The service asks its `Authorizer` for every resource a request touches, on every path, and
//! a refusal stops exactly that access: a direct access answers 403 (OperationOutcome
//! `forbidden`), a refused member of a Bundle is left out, a refused transaction entry fails
//! the transaction, a refused batch entry fails alone.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{TestResponse, TestServer, export_worker};
use vigil_service::{Access, Authorizer, Denied, RequestContext};

/// One rule: refuse `action` (by its name: `read`, `search-type`, `update`, ...) on
/// `resource_type`, on one id or (with `None`) on any.
#[derive(Clone)]
struct Rule {
    action: &'static str,
    resource_type: &'static str,
    id: Option<&'static str>,
}

/// Records every access as `action Type[/id]` (with `+content`/`+previous` when the content at
/// stake was given) and refuses what its rules name.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
    rules: Mutex<Vec<Rule>>,
    /// The last context seen.
    context: Mutex<Option<RequestContext>>,
}

impl Recorder {
    fn deny(&self, action: &'static str, resource_type: &'static str, id: Option<&'static str>) {
        self.rules.lock().unwrap().push(Rule {
            action,
            resource_type,
            id,
        });
    }

    fn reset(&self) {
        self.log.lock().unwrap().clear();
        self.rules.lock().unwrap().clear();
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Fails unless every one of `expected` was asked.
    fn assert_asked(&self, expected: &[&str]) {
        let log = self.log();
        for line in expected {
            assert!(
                log.iter().any(|l| l == line),
                "'{line}' not asked; log: {log:?}"
            );
        }
    }
}

impl Authorizer for Recorder {
    fn authorize(&self, context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        *self.context.lock().unwrap() = Some(context.clone());
        let mut line = format!("{} {}", access.action.name(), access.resource_type);
        if let Some(id) = access.id {
            line.push('/');
            line.push_str(id);
        }
        if access.resource.is_some_and(|c| c.get().is_some()) {
            line.push_str(" +content");
        }
        if access.previous.is_some_and(|c| c.get().is_some()) {
            line.push_str(" +previous");
        }
        self.log.lock().unwrap().push(line);
        let refused = self.rules.lock().unwrap().iter().any(|rule| {
            rule.action == access.action.name()
                && rule.resource_type == access.resource_type
                && (rule.id.is_none() || rule.id == access.id)
        });
        if refused {
            Err(Denied::new("refused by the test rule"))
        } else {
            Ok(())
        }
    }
}

/// A server over a recording authorizer with two patients (`p1`, `p2`) and one observation
/// of each (`o1`, `o2`).
async fn ward() -> (TestServer, vigil_service::FhirService, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let (server, service) = TestServer::with_authorizer(recorder.clone());
    for (patient, observation) in [("p1", "o1"), ("p2", "o2")] {
        put(
            &server,
            json!({"resourceType": "Patient", "id": patient, "name": [{"family": "Ward"}]}),
        )
        .await;
        put(
            &server,
            json!({"resourceType": "Observation", "id": observation, "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                   "subject": {"reference": format!("Patient/{patient}")}}),
        )
        .await;
    }
    recorder.reset();
    (server, service, recorder)
}

async fn put(server: &TestServer, resource: Value) {
    let path = format!(
        "/{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    let response = server.request("PUT", &path, Some(resource), &[]).await;
    assert!(response.status.is_success(), "{path}: {}", response.text());
}

fn assert_forbidden(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "{}",
        response.text()
    );
    let outcome = response.json();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    assert!(!response.text().contains("Ward"), "no hint of the content");
}

/// `Type/id` of every entry of a Bundle, in order.
fn entry_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    let r = &e["resource"];
                    Some(format!(
                        "{}/{}",
                        r["resourceType"].as_str()?,
                        r["id"].as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn read_and_vread_ask_for_the_resource_and_a_refusal_is_403() {
    let (server, _service, recorder) = ward().await;
    let response = server.request("GET", "/Patient/p1", None, &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    recorder.assert_asked(&["read Patient/p1 +content"]);

    recorder.deny("read", "Patient", Some("p2"));
    assert_forbidden(&server.request("GET", "/Patient/p2", None, &[]).await);
    assert_eq!(
        server.request("GET", "/Patient/p1", None, &[]).await.status,
        StatusCode::OK
    );

    // Unknown or refused: a refused caller cannot tell (403 either way); others get 404.
    recorder.deny("read", "Patient", Some("nobody"));
    assert_forbidden(&server.request("GET", "/Patient/nobody", None, &[]).await);
    let unknown = server.request("GET", "/Patient/someone", None, &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    recorder.deny("vread", "Patient", Some("p2"));
    assert_forbidden(
        &server
            .request("GET", "/Patient/p2/_history/1", None, &[])
            .await,
    );
    let response = server
        .request("GET", "/Patient/p1/_history/1", None, &[])
        .await;
    assert_eq!(response.status, StatusCode::OK);
    recorder.assert_asked(&["vread Patient/p1 +content", "vread Patient/p2 +content"]);
}

#[tokio::test]
async fn search_asks_per_type_and_per_resource_and_leaves_refused_ones_out() {
    let (server, _service, recorder) = ward().await;
    recorder.deny("read", "Patient", Some("p2"));
    recorder.deny("read", "Observation", Some("o1"));
    let response = server
        .request(
            "GET",
            "/Observation?_include=Observation:subject",
            None,
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    // o1 is left out, and with it p1, which only o1 included; p2 is refused. The index's
    // count would reveal o1, so the Bundle states no total.
    assert_eq!(entry_ids(&response.json()), ["Observation/o2"]);
    assert!(
        response.json().get("total").is_none(),
        "{}",
        response.text()
    );
    recorder.assert_asked(&[
        "search-type Observation",
        "search-type Patient",
        "read Observation/o1 +content",
        "read Observation/o2 +content",
    ]);

    // _revinclude: the included type is asked, and each included resource.
    recorder.reset();
    recorder.deny("read", "Observation", Some("o2"));
    let response = server
        .request("GET", "/Patient?_revinclude=Observation:subject", None, &[])
        .await;
    assert_eq!(
        entry_ids(&response.json()),
        ["Patient/p1", "Patient/p2", "Observation/o1"]
    );
    recorder.assert_asked(&[
        "search-type Patient",
        "search-type Observation",
        "read Observation/o2 +content",
    ]);

    // A refused type anywhere in the search (searched, chained, _has, included) is 403.
    recorder.reset();
    recorder.deny("search-type", "Patient", None);
    for path in [
        "/Patient",
        "/Observation?subject.name=Ward",
        "/Observation?subject:Patient.name=Ward",
        "/Observation?_include=Observation:subject",
    ] {
        assert_forbidden(&server.request("GET", path, None, &[]).await);
    }
    recorder.reset();
    recorder.deny("search-type", "Observation", None);
    assert_forbidden(
        &server
            .request(
                "GET",
                "/Patient?_has:Observation:subject:code=8867-4",
                None,
                &[],
            )
            .await,
    );
    assert_forbidden(
        &server
            .request("GET", "/Patient?_revinclude=Observation:subject", None, &[])
            .await,
    );
    let response = server.request("GET", "/Patient?name=Ward", None, &[]).await;
    assert_eq!(entry_ids(&response.json()), ["Patient/p1", "Patient/p2"]);
}

/// A system search without `_type` reads every type: it asks `search-type` for each and is
/// narrowed to the allowed ones, so one refused type leaves its resources out instead of
/// refusing the whole search.
#[tokio::test]
async fn a_system_search_without_type_is_narrowed_to_the_allowed_types() {
    let (server, _service, recorder) = ward().await;
    recorder.deny("search-type", "Observation", None);
    let response = server
        .request("GET", "/?_lastUpdated=gt2000-01-01", None, &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(entry_ids(&response.json()), ["Patient/p1", "Patient/p2"]);
    recorder.assert_asked(&["search-type Observation", "search-type Patient"]);
    assert!(
        !recorder
            .log()
            .iter()
            .any(|l| l.starts_with("read Observation")),
        "no Observation was even read: {:?}",
        recorder.log()
    );
    // With _type naming a refused type, the search is refused.
    let response = server
        .request("GET", "/?_type=Observation", None, &[])
        .await;
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn history_entries_and_everything_members_are_asked_one_by_one() {
    let (server, _service, recorder) = ward().await;
    recorder.deny("history", "Patient", Some("p2"));
    let response = server.request("GET", "/Patient/_history", None, &[]).await;
    assert_eq!(entry_ids(&response.json()), ["Patient/p1"]);
    // An instance history is asked first at the id level (before telling whether it exists).
    assert_forbidden(
        &server
            .request("GET", "/Patient/p2/_history", None, &[])
            .await,
    );
    recorder.assert_asked(&["history Patient/p1 +content", "history Patient/p2 +content"]);

    recorder.reset();
    recorder.deny("everything", "Observation", Some("o1"));
    let response = server
        .request("GET", "/Patient/p1/$everything", None, &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(entry_ids(&response.json()), ["Patient/p1"]);
    recorder.assert_asked(&[
        "everything Patient/p1",
        "everything Patient/p1 +content",
        "everything Observation/o1 +content",
    ]);

    recorder.deny("everything", "Patient", Some("p2"));
    assert_forbidden(
        &server
            .request("GET", "/Patient/p2/$everything", None, &[])
            .await,
    );
}

#[tokio::test]
async fn writes_ask_with_the_new_and_the_current_content() {
    let (server, _service, recorder) = ward().await;
    let patient = json!({"resourceType": "Patient", "name": [{"family": "New"}]});
    let response = server
        .request("POST", "/Patient", Some(patient.clone()), &[])
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let created = response.json()["id"].as_str().unwrap().to_owned();
    recorder.assert_asked(&[&format!("create Patient/{created} +content")]);

    recorder.deny("create", "Patient", None);
    assert_forbidden(&server.request("POST", "/Patient", Some(patient), &[]).await);
    let count = server
        .request("GET", "/Patient?_summary=count", None, &[])
        .await;
    assert_eq!(count.json()["total"], 3, "the refused create wrote nothing");

    recorder.reset();
    recorder.deny("update", "Patient", Some("p2"));
    let changed =
        |id: &str| json!({"resourceType": "Patient", "id": id, "name": [{"family": "Changed"}]});
    let ok = server
        .request("PUT", "/Patient/p1", Some(changed("p1")), &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    recorder.assert_asked(&["update Patient/p1 +content +previous"]);
    assert_forbidden(
        &server
            .request("PUT", "/Patient/p2", Some(changed("p2")), &[])
            .await,
    );
    let p2 = server.request("GET", "/Patient/p2", None, &[]).await.json();
    assert_eq!(p2["meta"]["versionId"], "1");

    recorder.deny("patch", "Patient", Some("p2"));
    let patch = json!([{"op": "add", "path": "/active", "value": true}]);
    let patch_headers = [("content-type", "application/json-patch+json")];
    let body = serde_json::to_vec(&patch).unwrap();
    assert_forbidden(
        &server
            .raw("PATCH", "/Patient/p2", Some(body.clone()), &patch_headers)
            .await,
    );
    let ok = server
        .raw("PATCH", "/Patient/p1", Some(body), &patch_headers)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    recorder.assert_asked(&[
        "patch Patient/p1 +content +previous",
        "patch Patient/p2 +content +previous",
    ]);

    recorder.deny("delete", "Observation", Some("o2"));
    assert_forbidden(&server.request("DELETE", "/Observation/o2", None, &[]).await);
    assert_eq!(
        server
            .request("GET", "/Observation/o2", None, &[])
            .await
            .status,
        StatusCode::OK
    );
    let ok = server.request("DELETE", "/Observation/o1", None, &[]).await;
    assert!(ok.status.is_success());
    recorder.assert_asked(&[
        "delete Observation/o1 +previous",
        "delete Observation/o2 +previous",
    ]);
}

#[tokio::test]
async fn conditional_forms_ask_for_the_search_and_the_matched_resource() {
    let (server, _service, recorder) = ward().await;
    // Conditional update of a match the caller may not change: 403, nothing written.
    recorder.deny("update", "Patient", Some("p2"));
    let body = json!({"resourceType": "Patient", "name": [{"family": "Ward"}], "gender": "male"});
    let response = server
        .request("PUT", "/Patient?_id=p2", Some(body.clone()), &[])
        .await;
    assert_forbidden(&response);
    recorder.assert_asked(&[
        "search-type Patient",
        "update Patient/p2 +content +previous",
    ]);
    let ok = server
        .request("PUT", "/Patient?_id=p1", Some(body), &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());

    // Conditional delete and patch of a refused match.
    recorder.deny("delete", "Observation", Some("o2"));
    assert_forbidden(
        &server
            .request("DELETE", "/Observation?_id=o2", None, &[])
            .await,
    );
    assert_eq!(
        server
            .request("GET", "/Observation/o2", None, &[])
            .await
            .status,
        StatusCode::OK
    );
    recorder.deny("patch", "Observation", Some("o2"));
    let patch =
        serde_json::to_vec(&json!([{"op": "replace", "path": "/status", "value": "amended"}]))
            .unwrap();
    let response = server
        .raw(
            "PATCH",
            "/Observation?_id=o2",
            Some(patch),
            &[("content-type", "application/json-patch+json")],
        )
        .await;
    assert_forbidden(&response);

    // Conditional create that matches returns the match: it must be readable.
    recorder.deny("read", "Patient", Some("p2"));
    let body = json!({"resourceType": "Patient"});
    let response = server
        .request(
            "POST",
            "/Patient",
            Some(body.clone()),
            &[("if-none-exist", "_id=p2")],
        )
        .await;
    assert_forbidden(&response);
    // A refused search of the type refuses the conditional interaction itself.
    recorder.reset();
    recorder.deny("search-type", "Patient", None);
    let response = server
        .request(
            "POST",
            "/Patient",
            Some(body),
            &[("if-none-exist", "_id=p1")],
        )
        .await;
    assert_forbidden(&response);
}

/// A transaction with one entry of every kind.
fn every_kind(kind: &str) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": [
        {"fullUrl": "urn:uuid:7f1ab5c2-1d8e-4c44-9d7b-0a1b2c3d4e5f",
         "resource": {"resourceType": "Patient", "name": [{"family": "Posted"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Put"}]},
         "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": {"resourceType": "Patient", "name": [{"family": "Conditional"}]},
         "request": {"method": "PUT", "url": "Patient?_id=p2"}},
        {"request": {"method": "DELETE", "url": "Observation/o1"}},
        {"resource": {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Observation.status"},
            {"name": "value", "valueCode": "amended"}]}]},
         "request": {"method": "PATCH", "url": "Observation/o2"}},
        {"request": {"method": "GET", "url": "Patient/p2"}},
        {"request": {"method": "GET", "url": "Observation?subject=Patient/p2"}},
        {"request": {"method": "GET", "url": "Patient/p2/_history/1"}},
        {"request": {"method": "GET", "url": "Patient/p2/_history"}}
    ]})
}

#[tokio::test]
async fn a_refused_transaction_entry_fails_the_whole_transaction() {
    let (server, _service, recorder) = ward().await;
    let response = server
        .request("POST", "/", Some(every_kind("transaction")), &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    recorder.assert_asked(&[
        "update Patient/p1 +content +previous",
        "search-type Patient",
        "update Patient/p2 +content +previous",
        "delete Observation/o1 +previous",
        "patch Observation/o2 +content +previous",
        "read Patient/p2 +content",
        "search-type Observation",
        "read Observation/o2 +content",
        "vread Patient/p2 +content",
        "history Patient/p2 +content",
    ]);
    assert!(
        recorder
            .log()
            .iter()
            .any(|l| l.starts_with("create Patient/"))
    );

    // Each refusal on its own fails the transaction with 403 and writes nothing.
    let refusals: [(&'static str, &'static str, Option<&'static str>); 8] = [
        ("create", "Patient", None),
        ("vread", "Patient", Some("p2")),
        ("history", "Patient", Some("p2")),
        ("update", "Patient", Some("p1")),
        ("update", "Patient", Some("p2")),
        ("patch", "Observation", Some("o2")),
        ("read", "Patient", Some("p2")),
        ("search-type", "Observation", None),
    ];
    for (action, resource_type, id) in refusals {
        let (server, _service, recorder) = ward().await;
        recorder.deny(action, resource_type, id);
        let response = server
            .request("POST", "/", Some(every_kind("transaction")), &[])
            .await;
        assert_forbidden(&response);
        recorder.reset();
        let o1 = server.request("GET", "/Observation/o1", None, &[]).await;
        assert_eq!(
            o1.status,
            StatusCode::OK,
            "{action} {resource_type}: the delete rolled back"
        );
    }
}

#[tokio::test]
async fn conditional_transaction_entries_ask_for_their_match() {
    let (server, _service, recorder) = ward().await;
    // The PATCH entry's Binary holds the JSON Patch
    // [{"op":"add","path":"/issued","value":"2026-01-01T00:00:00Z"}].
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation?_id=o1"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                      "data": "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2lzc3VlZCIsInZhbHVlIjoiMjAyNi0wMS0wMVQwMDowMDowMFoifV0="},
         "request": {"method": "PATCH", "url": "Observation?_id=o2"}},
        {"resource": {"resourceType": "Patient", "name": [{"family": "Once"}]},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "_id=p1"}}
    ]});
    recorder.deny("delete", "Observation", Some("o1"));
    assert_forbidden(&server.request("POST", "/", Some(bundle.clone()), &[]).await);
    recorder.assert_asked(&["search-type Observation", "delete Observation/o1 +previous"]);
    let o1 = server.request("GET", "/Observation/o1", None, &[]).await;
    assert_eq!(o1.status, StatusCode::OK);

    recorder.reset();
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    recorder.assert_asked(&[
        "delete Observation/o1 +previous",
        "patch Observation/o2 +content +previous",
        "search-type Patient",
        "read Patient/p1 +content",
    ]);
}

#[tokio::test]
async fn a_refused_batch_entry_fails_alone() {
    let (server, _service, recorder) = ward().await;
    recorder.deny("update", "Patient", Some("p1"));
    recorder.deny("read", "Observation", Some("o2"));
    let response = server
        .request("POST", "/", Some(every_kind("batch")), &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let statuses: Vec<String> = response.json()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(statuses[0].starts_with("201"), "{statuses:?}");
    assert!(statuses[1].starts_with("403"), "{statuses:?}");
    assert!(statuses[2].starts_with("200"), "{statuses:?}");
    assert!(statuses[3].starts_with("204"), "{statuses:?}");
    assert!(statuses[4].starts_with("200"), "{statuses:?}");
    assert!(statuses[5].starts_with("200"), "{statuses:?}");
    // The search entry answers, without the refused observation.
    let search = &response.json()["entry"][6]["resource"];
    assert_eq!(entry_ids(search), Vec::<String>::new());
    recorder.assert_asked(&[
        "delete Observation/o1 +previous",
        "patch Observation/o2 +content +previous",
    ]);
}

#[tokio::test]
async fn export_asks_for_each_exported_resource() {
    let (server, service, recorder) = ward().await;
    let _worker = export_worker(&server, &service);
    recorder.deny("export", "Observation", Some("o2"));
    let response = server
        .request(
            "GET",
            "/$export?_type=Patient,Observation",
            None,
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.text());
    recorder.assert_asked(&["export Patient", "export Observation"]);
    let status = response.header("content-location").unwrap();
    let status = status.strip_prefix("http://localhost").unwrap().to_owned();
    let mut manifest = Value::Null;
    for _ in 0..400 {
        let response = server.request("GET", &status, None, &[]).await;
        if response.status == StatusCode::OK {
            manifest = response.json();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut exported = Vec::new();
    for output in manifest["output"].as_array().expect("a manifest") {
        let url = output["url"].as_str().unwrap();
        let file = server
            .request(
                "GET",
                url.strip_prefix("http://localhost").unwrap(),
                None,
                &[],
            )
            .await;
        for line in file.text().lines() {
            let resource: Value = serde_json::from_str(line).unwrap();
            exported.push(format!(
                "{}/{}",
                resource["resourceType"].as_str().unwrap(),
                resource["id"].as_str().unwrap()
            ));
        }
    }
    exported.sort();
    assert_eq!(exported, ["Observation/o1", "Patient/p1", "Patient/p2"]);
    recorder.assert_asked(&[
        "export Observation/o1 +content",
        "export Observation/o2 +content",
    ]);

    // A refused type the client names refuses the export; without `_type`, the export holds
    // the types the caller may export.
    recorder.deny("export", "Patient", None);
    let response = server
        .request(
            "GET",
            "/$export?_type=Patient",
            None,
            &[("prefer", "respond-async")],
        )
        .await;
    assert_forbidden(&response);
    let response = server
        .request("GET", "/$export", None, &[("prefer", "respond-async")])
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.text());
}

#[tokio::test]
async fn the_context_carries_the_peer_address_and_the_request_id() {
    let (server, _service, recorder) = ward().await;
    let peer: std::net::SocketAddr = "192.0.2.7:50123".parse().unwrap();
    let mut request = axum::http::Request::builder()
        .method("GET")
        .uri("/Patient/p1")
        .header("host", "localhost")
        .header("x-request-id", "req-42")
        .body(axum::body::Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    assert_eq!(server.send(request).await.status, StatusCode::OK);
    let context = recorder.context.lock().unwrap().clone().unwrap();
    assert_eq!(context.remote_addr, Some(peer));
    assert_eq!(context.request_id, "req-42");
    assert_eq!(context.agent(), "dev");
    assert_eq!(context.base_url, "http://localhost");

    // Without a peer (in-process) and with an unusable request id: none, and a fresh id.
    let long = "x".repeat(200);
    server
        .request("GET", "/Patient/p1", None, &[("x-request-id", &long)])
        .await;
    let context = recorder.context.lock().unwrap().clone().unwrap();
    assert_eq!(context.remote_addr, None);
    assert_eq!(context.request_id.len(), 36, "a new uuid");
}
