//! The items a peer server's end-to-end suite found from outside (issue 15), each pinned by a
//! test named after it: Binary per binary.html, relative references in transactions, every
//! interaction as a batch entry, `If-None-Match: *`, duplicate fullUrls, and the
//! CapabilityStatement's ETag.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::TestServer;

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn patient_with_id(id: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]})
}

#[tokio::test]
async fn if_none_match_star_on_put_refuses_an_existing_resource() {
    let server = TestServer::new();
    let star = [("if-none-match", "*")];
    let created = server
        .request(
            "PUT",
            "/Patient/p1",
            Some(patient_with_id("p1", "A")),
            &star,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let again = server
        .request(
            "PUT",
            "/Patient/p1",
            Some(patient_with_id("p1", "B")),
            &star,
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        again.text()
    );
    assert_eq!(again.json()["resourceType"], "OperationOutcome");
    // Nothing was written: still version 1 with the first name.
    let read = server.request("GET", "/Patient/p1", None, &[]).await;
    assert_eq!(read.header("etag").as_deref(), Some("W/\"1\""));
    assert_eq!(read.json()["name"][0]["family"], "A");
    // A deleted resource has no current version: If-None-Match: * creates it again.
    server.request("DELETE", "/Patient/p1", None, &[]).await;
    let revived = server
        .request(
            "PUT",
            "/Patient/p1",
            Some(patient_with_id("p1", "C")),
            &star,
        )
        .await;
    assert_eq!(revived.status, StatusCode::CREATED, "{}", revived.text());
    // With If-Match too, one of the two always fails: 412, nothing written.
    let both = server
        .request(
            "PUT",
            "/Patient/p9",
            Some(patient_with_id("p9", "X")),
            &[("if-none-match", "*"), ("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(
        both.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        both.text()
    );
    let p9 = server.request("GET", "/Patient/p9", None, &[]).await;
    assert_eq!(p9.status, StatusCode::NOT_FOUND);
    // Any other If-None-Match on an update is refused, not ignored.
    let other = server
        .request(
            "PUT",
            "/Patient/p1",
            Some(patient_with_id("p1", "D")),
            &[("if-none-match", "W/\"3\"")],
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    // On a conditional update it is refused rather than ignored.
    let conditional = server
        .request(
            "PUT",
            "/Patient?family=C",
            Some(json!({"resourceType": "Patient", "name": [{"family": "C"}]})),
            &star,
        )
        .await;
    assert_eq!(
        conditional.status,
        StatusCode::BAD_REQUEST,
        "{}",
        conditional.text()
    );
}

#[tokio::test]
async fn if_none_match_in_transaction_and_batch_entries() {
    let server = TestServer::new();
    server
        .request("PUT", "/Patient/p1", Some(patient_with_id("p1", "A")), &[])
        .await;
    let put = |id: &str| {
        json!({"resource": patient_with_id(id, "X"),
               "request": {"method": "PUT", "url": format!("Patient/{id}"), "ifNoneMatch": "*"}})
    };
    // A transaction: the existing p1 fails the whole transaction with 412, p2 is not written.
    let refused = server
        .request(
            "POST",
            "/",
            Some(bundle("transaction", vec![put("p2"), put("p1")])),
            &[],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("Bundle.entry[1]"),
        "{}",
        refused.text()
    );
    let p2 = server.request("GET", "/Patient/p2", None, &[]).await;
    assert_eq!(p2.status, StatusCode::NOT_FOUND);
    // A batch: each entry on its own.
    let batch = server
        .request(
            "POST",
            "/",
            Some(bundle("batch", vec![put("p2"), put("p1")])),
            &[],
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text());
    let entries = batch.json()["entry"].clone();
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    assert_eq!(entries[1]["response"]["status"], "412 Precondition Failed");
    // A GET entry with ifNoneMatch naming the current version answers 304 without a body.
    let read = server
        .request(
            "POST",
            "/",
            Some(bundle(
                "batch",
                vec![
                    json!({"request": {"method": "GET", "url": "Patient/p1", "ifNoneMatch": "W/\"1\""}}),
                    json!({"request": {"method": "GET", "url": "Patient/p2", "ifNoneMatch": "W/\"7\""}}),
                ],
            )),
            &[],
        )
        .await;
    let entries = read.json()["entry"].clone();
    assert_eq!(entries[0]["response"]["status"], "304 Not Modified");
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[1]["response"]["status"], "200 OK");
    assert_eq!(entries[1]["resource"]["id"], "p2");
    // Misuse is a 400 located at the entry's request.ifNoneMatch.
    let post = json!({"resource": patient_with_id("p9", "Z"),
                      "request": {"method": "POST", "url": "Patient", "ifNoneMatch": "*"}});
    let refused = server
        .request("POST", "/", Some(bundle("transaction", vec![post])), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.json()["issue"][0]["expression"][0],
        "Bundle.entry[0].request.ifNoneMatch"
    );
    let garbage = json!({"request": {"method": "GET", "url": "Patient/p1", "ifNoneMatch": "soon"}});
    let batch = server
        .request("POST", "/", Some(bundle("batch", vec![garbage])), &[])
        .await;
    let outcome = &batch.json()["entry"][0]["response"]["outcome"];
    assert_eq!(
        batch.json()["entry"][0]["response"]["status"],
        "400 Bad Request"
    );
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "Bundle.entry[0].request.ifNoneMatch"
    );
}

#[tokio::test]
async fn duplicate_full_urls_are_refused_bdl_7() {
    let server = TestServer::new();
    let entry = |family: &str| {
        json!({"fullUrl": "urn:uuid:0b8e2c3c-1f6e-4c43-9d2e-1f0c7a3b5d11",
               "resource": {"resourceType": "Patient", "name": [{"family": family}]},
               "request": {"method": "POST", "url": "Patient"}})
    };
    for kind in ["transaction", "batch"] {
        let answer = server
            .request(
                "POST",
                "/",
                Some(bundle(
                    kind,
                    vec![
                        entry("A"),
                        json!({"request": {"method": "GET", "url": "Patient"}}),
                        entry("B"),
                    ],
                )),
                &[],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{kind}: {}",
            answer.text()
        );
        let text = answer.text();
        assert!(text.contains("entries 0 and 2"), "{kind}: {text}");
        assert!(text.contains("bdl-7"), "{kind}: {text}");
    }
    // Nothing was written by either.
    let search = server.request("GET", "/Patient", None, &[]).await;
    assert_eq!(search.json()["total"], 0);
}

#[tokio::test]
async fn transaction_relative_reference_resolves_against_absolute_full_url() {
    let server = TestServer::new();
    let entries = vec![
        json!({"fullUrl": "http://example.org/fhir/Observation/1",
               "resource": {"resourceType": "Observation", "status": "final",
                            "code": {"text": "weight"},
                            "subject": {"reference": "Patient/0"}},
               "request": {"method": "POST", "url": "Observation"}}),
        json!({"fullUrl": "http://example.org/fhir/Patient/0",
               "resource": {"resourceType": "Patient", "name": [{"family": "Zero"}]},
               "request": {"method": "POST", "url": "Patient"}}),
    ];
    let answer = server
        .request(
            "POST",
            "/",
            Some(bundle("transaction", entries)),
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let response = answer.json();
    let patient_id = response["entry"][1]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(patient_id, "0", "a POST gets a new id");
    let subject = &response["entry"][0]["resource"]["subject"]["reference"];
    assert_eq!(subject, &json!(format!("Patient/{patient_id}")));
    // The stored Observation points at the new Patient, which a search by subject finds.
    let search = server
        .request(
            "GET",
            &format!("/Observation?subject=Patient/{patient_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(search.json()["total"], 1, "{}", search.text());
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["code"].as_str().or(i["name"].as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn resource_entry<'a>(statement: &'a Value, resource_type: &str) -> &'a Value {
    statement["rest"][0]["resource"]
        .as_array()
        .and_then(|types| types.iter().find(|r| r["type"] == resource_type))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn capability_statement_says_what_the_server_does() {
    let server = TestServer::new();
    let statement = server.request("GET", "/metadata", None, &[]).await.json();
    // The statement is itself a valid R4 resource.
    let errors: Vec<String> = vigil_model::validate::validate_resource(&statement)
        .into_iter()
        .filter(|issue| issue.severity.is_error())
        .map(|issue| format!("{issue:?}"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let rest = &statement["rest"][0];
    for code in ["transaction", "batch", "search-system", "history-system"] {
        assert!(
            codes(&rest["interaction"]).contains(&code.to_owned()),
            "{code}"
        );
    }
    // No export directory: no $export claimed.
    assert!(rest.get("operation").is_none(), "{}", rest["operation"]);
    let patient = resource_entry(&statement, "Patient");
    assert_eq!(patient["updateCreate"], true);
    assert!(codes(&patient["interaction"]).contains(&"patch".to_owned()));
    assert_eq!(codes(&patient["operation"]), ["everything"]);
    assert_eq!(
        patient["operation"][0]["definition"],
        "http://hl7.org/fhir/OperationDefinition/Patient-everything"
    );
    let params = patient["searchParam"].as_array().unwrap();
    let name = params.iter().find(|p| p["name"] == "name").unwrap();
    assert_eq!(name["type"], "string");
    assert_eq!(
        name["definition"],
        "http://hl7.org/fhir/SearchParameter/Patient-name"
    );
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "_lastUpdated" && p["type"] == "date")
    );
    let includes: Vec<&str> = patient["searchInclude"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        includes.contains(&"Patient:general-practitioner"),
        "{includes:?}"
    );
    let revincludes: Vec<&str> = patient["searchRevInclude"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        revincludes.contains(&"Observation:subject"),
        "{revincludes:?}"
    );
    assert!(
        revincludes.contains(&"Encounter:patient"),
        "{revincludes:?}"
    );
    // An unimplemented special parameter is not claimed.
    let location = resource_entry(&statement, "Location");
    assert!(
        !location["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "near")
    );

    // updateCreate follows the configuration; $export appears when export is enabled.
    let strict = TestServer::with_service_config(vigil_service::ServiceConfig {
        allow_update_create: false,
        export_dir: Some(std::env::temp_dir().join("vigil-outside-capability")),
        ..Default::default()
    });
    let statement = strict.request("GET", "/metadata", None, &[]).await.json();
    assert_eq!(resource_entry(&statement, "Patient")["updateCreate"], false);
    assert_eq!(codes(&statement["rest"][0]["operation"]), ["export"]);
    assert_eq!(
        codes(&resource_entry(&statement, "Patient")["operation"]),
        ["everything", "export"]
    );
    assert_eq!(
        codes(&resource_entry(&statement, "Group")["operation"]),
        ["export"]
    );
}

#[tokio::test]
async fn capability_statement_carries_a_stable_etag() {
    let server = TestServer::new();
    let first = server.request("GET", "/metadata", None, &[]).await;
    let tag = first.header("etag").expect("an ETag");
    assert!(tag.starts_with("W/\""), "{tag}");
    assert!(first.header("last-modified").unwrap().ends_with("GMT"));
    let second = server
        .request("GET", "/metadata?_pretty=true", None, &[])
        .await;
    assert_eq!(second.header("etag").as_deref(), Some(tag.as_str()));
    assert_eq!(first.json(), second.json());
    let cached = server
        .request("GET", "/metadata", None, &[("if-none-match", tag.as_str())])
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag").as_deref(), Some(tag.as_str()));
    // Another configuration is another statement, so another tag.
    let strict = TestServer::with_service_config(vigil_service::ServiceConfig {
        allow_update_create: false,
        ..Default::default()
    });
    let other = strict.request("GET", "/metadata", None, &[]).await;
    assert_ne!(other.header("etag").as_deref(), Some(tag.as_str()));
}

#[tokio::test]
async fn binary_reads_and_writes_native_content() {
    let server = TestServer::new();
    let png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0, 0xff, 0x10, b'\n', 0x80];
    let created = server
        .raw(
            "POST",
            "/Binary",
            Some(png.clone()),
            &[
                ("content-type", "image/png"),
                ("x-security-context", "Patient/p1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let resource = created.json();
    assert_eq!(resource["contentType"], "image/png");
    assert_eq!(resource["securityContext"]["reference"], "Patient/p1");
    let path = format!("/Binary/{}", resource["id"].as_str().unwrap());

    // Native content when the client asks for it, for anything, or says nothing.
    for accept in [Some("image/png"), Some("image/*"), Some("*/*"), None] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let read = server.raw("GET", &path, None, &headers).await;
        assert_eq!(read.status, StatusCode::OK, "{accept:?}");
        assert_eq!(read.body, png, "{accept:?}");
        assert_eq!(read.header("content-type").as_deref(), Some("image/png"));
        assert_eq!(
            read.header("x-security-context").as_deref(),
            Some("Patient/p1")
        );
        assert_eq!(read.header("etag").as_deref(), Some("W/\"1\""));
    }
    // The resource form when a FHIR type or _format is asked for, or only JSON is accepted.
    for (query, accept) in [
        ("", "application/fhir+json"),
        ("?_format=json", "image/png"),
        ("", "application/json"),
    ] {
        let read = server
            .raw(
                "GET",
                &format!("{path}{query}"),
                None,
                &[("accept", accept)],
            )
            .await;
        assert_eq!(read.status, StatusCode::OK, "{query} {accept}");
        assert_eq!(read.json()["resourceType"], "Binary", "{query} {accept}");
        assert_eq!(read.json()["data"], "iVBORwD/EAqA");
    }
    // Neither the content type nor JSON: 406.
    let refused = server
        .raw("GET", &path, None, &[("accept", "text/html")])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);

    // PUT raw bytes of another type: a new version; vread of version 1 is still the PNG.
    let updated = server
        .raw(
            "PUT",
            &path,
            Some(b"plain words".to_vec()),
            &[("content-type", "text/plain; charset=utf-8")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    let read = server.raw("GET", &path, None, &[]).await;
    assert_eq!(read.text(), "plain words");
    assert_eq!(
        read.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(read.header("x-security-context").is_none());
    let v1 = server
        .raw("GET", &format!("{path}/_history/1"), None, &[])
        .await;
    assert_eq!(v1.body, png);

    // FHIR JSON bodies still work as for any resource.
    let id = path.trim_start_matches("/Binary/");
    let fhir = server
        .request(
            "PUT",
            &path,
            Some(json!({"resourceType": "Binary", "id": id, "contentType": "text/csv", "data": "YSxiCg=="})),
            &[],
        )
        .await;
    assert_eq!(fhir.status, StatusCode::OK, "{}", fhir.text());
    let read = server
        .raw("GET", &path, None, &[("accept", "text/csv")])
        .await;
    assert_eq!(read.text(), "a,b\n");
    // Raw bodies are only for Binary.
    let other = server
        .raw(
            "POST",
            "/Patient",
            Some(b"x".to_vec()),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(other.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn binary_body_over_the_limit_is_413() {
    let server = TestServer::with_body_limit(1_000);
    let answer = server
        .raw(
            "POST",
            "/Binary",
            Some(vec![7u8; 2_000]),
            &[("content-type", "application/octet-stream")],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn batch_and_transaction_entries_may_be_any_read_interaction() {
    let server = TestServer::new();
    server
        .request("PUT", "/Patient/p1", Some(patient_with_id("p1", "A")), &[])
        .await;
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "pulse"}, "subject": {"reference": "Patient/p1"}});
    server
        .request("POST", "/Observation", Some(observation), &[])
        .await;
    let get = |url: &str| json!({"request": {"method": "GET", "url": url}});
    let urls = [
        "metadata",
        "Patient/p1/_history",
        "Patient/p1/_history/1",
        "Patient/_history?_count=1",
        "_history?_count=1",
        "?_type=Patient,Observation",
        "Patient?name=A",
        "Patient/p1/Observation",
        "Patient/p1/$everything",
        "$export",
        "Patient/p1/$bogus",
    ];
    let mut entries: Vec<Value> = urls.iter().map(|url| get(url)).collect();
    entries.push(json!({"request": {"method": "HEAD", "url": "Patient/p1"}}));
    let answer = server
        .request("POST", "/", Some(bundle("batch", entries)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let response = answer.json();
    let at = |i: usize| response["entry"][i].clone();
    for (i, url) in urls.iter().enumerate().take(9) {
        assert_eq!(at(i)["response"]["status"], "200 OK", "{url}: {}", at(i));
    }
    assert_eq!(at(0)["resource"]["resourceType"], "CapabilityStatement");
    assert_eq!(at(1)["resource"]["type"], "history");
    assert_eq!(at(2)["resource"]["id"], "p1");
    assert_eq!(at(3)["resource"]["entry"].as_array().unwrap().len(), 1);
    assert_eq!(at(4)["resource"]["entry"].as_array().unwrap().len(), 1);
    assert_eq!(at(5)["resource"]["total"], 2);
    assert_eq!(at(6)["resource"]["total"], 1);
    assert_eq!(
        at(7)["resource"]["entry"][0]["resource"]["resourceType"],
        "Observation"
    );
    let everything_bundle = at(8);
    let everything: Vec<&str> = everything_bundle["resource"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(everything, ["Patient", "Observation"]);
    // $export is asynchronous: refused inside a Bundle, as is an unknown operation.
    assert_eq!(at(9)["response"]["status"], "400 Bad Request");
    assert!(at(9).to_string().contains("respond-async"), "{}", at(9));
    assert_eq!(at(10)["response"]["status"], "400 Bad Request");
    // HEAD: the GET's answer without the resource.
    assert_eq!(at(11)["response"]["status"], "200 OK");
    assert_eq!(at(11)["response"]["etag"], "W/\"1\"");
    assert!(at(11).get("resource").is_none());

    // The same in a transaction, after its writes.
    let entries = vec![
        json!({"resource": patient_with_id("p2", "B"), "request": {"method": "PUT", "url": "Patient/p2"}}),
        get("metadata"),
        get("_history?_count=1"),
        get("Patient/p2/_history"),
    ];
    let answer = server
        .request("POST", "/", Some(bundle("transaction", entries)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let response = answer.json();
    assert_eq!(
        response["entry"][1]["resource"]["resourceType"],
        "CapabilityStatement"
    );
    assert_eq!(
        response["entry"][2]["resource"]["entry"][0]["resource"]["id"],
        "p2"
    );
    assert_eq!(response["entry"][3]["resource"]["total"], 1);
    // A POST _search entry is a search: the URL's parameters plus a Parameters resource's.
    let post_search = json!({"request": {"method": "POST", "url": "Patient/_search?name=A"}});
    let post_search_parameters = json!({
        "resource": {"resourceType": "Parameters", "parameter": [{"name": "_id", "valueString": "p2"}]},
        "request": {"method": "POST", "url": "Patient/_search"}
    });
    let not_parameters = json!({
        "resource": patient_with_id("p9", "Z"),
        "request": {"method": "POST", "url": "Patient/_search"}
    });
    let answer = server
        .request(
            "POST",
            "/",
            Some(bundle(
                "batch",
                vec![post_search, post_search_parameters, not_parameters],
            )),
            &[],
        )
        .await;
    let response = answer.json();
    assert_eq!(response["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(response["entry"][0]["resource"]["type"], "searchset");
    assert_eq!(response["entry"][1]["resource"]["total"], 1);
    assert_eq!(
        response["entry"][1]["resource"]["entry"][0]["resource"]["id"],
        "p2"
    );
    assert_eq!(
        response["entry"][2]["response"]["status"],
        "400 Bad Request"
    );
    // A write to a system URL is refused with 400.
    let entries = vec![
        json!({"resource": patient_with_id("p3", "C"), "request": {"method": "POST", "url": "metadata"}}),
    ];
    let answer = server
        .request("POST", "/", Some(bundle("transaction", entries)), &[])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
}

/// Refuses one interaction (by its name) on one type, allows the rest.
struct Refuse(&'static str, &'static str);

impl vigil_service::Authorizer for Refuse {
    fn authorize(
        &self,
        _context: &vigil_service::RequestContext,
        access: &vigil_service::Access<'_>,
    ) -> Result<(), vigil_service::Denied> {
        if access.action.name() == self.0 && access.resource_type == self.1 {
            Err(vigil_service::Denied::new("refused by the test"))
        } else {
            Ok(())
        }
    }
}

/// The new kinds of GET entries are checked before a transaction commits: a refused
/// compartment search or `$everything`, or an operation that cannot run in a Bundle, fails the
/// transaction with nothing written.
#[tokio::test]
async fn transaction_read_entries_are_checked_before_the_commit() {
    let cases: [(Refuse, &str, StatusCode); 4] = [
        (
            Refuse("search-type", "Observation"),
            "Patient/p1/Observation",
            StatusCode::FORBIDDEN,
        ),
        (
            Refuse("search-type", "Observation"),
            "?_type=Observation",
            StatusCode::FORBIDDEN,
        ),
        (
            Refuse("everything", "Patient"),
            "Patient/p1/$everything",
            StatusCode::FORBIDDEN,
        ),
        (Refuse("none", "None"), "$export", StatusCode::BAD_REQUEST),
    ];
    for (refuse, url, status) in cases {
        let (server, _service) = TestServer::with_authorizer(std::sync::Arc::new(refuse));
        server
            .request("PUT", "/Patient/p1", Some(patient_with_id("p1", "A")), &[])
            .await;
        let entries = vec![
            json!({"resource": patient_with_id("p5", "E"), "request": {"method": "PUT", "url": "Patient/p5"}}),
            json!({"request": {"method": "GET", "url": url}}),
        ];
        let answer = server
            .request("POST", "/", Some(bundle("transaction", entries)), &[])
            .await;
        assert_eq!(answer.status, status, "{url}: {}", answer.text());
        let p5 = server.request("GET", "/Patient/p5", None, &[]).await;
        assert_eq!(p5.status, StatusCode::NOT_FOUND, "{url}: nothing written");
    }
}
