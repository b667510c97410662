//! The FHIR REST interactions end to end in process: router -> service -> SQLite store, no
//! socket. One test binary for the crate.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::TestServer;

/// A patient with a decimal written with a trailing zero (parsed from text, so `70.50` keeps
/// its precision).
fn patient(family: &str) -> serde_json::Value {
    let text = format!(
        r#"{{"resourceType": "Patient", "name": [{{"family": "{family}", "given": ["Ann"]}}], "birthDate": "1970-01-01",
           "extension": [{{"url": "http://example.org/weight", "valueDecimal": 70.50}}]}}"#
    );
    serde_json::from_str(&text).expect("the test patient is JSON")
}

#[tokio::test]
async fn create_read_vread_update_delete_history() {
    let server = TestServer::new();
    let created = server
        .request("POST", "/Patient", Some(patient("Chalmers")), &[])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let location = created.header("location").unwrap();
    assert!(
        location.starts_with("http://localhost/Patient/") && location.ends_with("/_history/1"),
        "{location}"
    );
    assert_eq!(created.header("etag").as_deref(), Some("W/\"1\""));
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["meta"]["versionId"], "1");
    // Decimals keep their written precision.
    assert!(created.text().contains("70.50"), "{}", created.text());

    let read = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.header("content-type").as_deref(),
        Some("application/fhir+json; charset=utf-8")
    );
    assert_eq!(read.json()["name"][0]["family"], "Chalmers");
    assert!(read.header("last-modified").unwrap().ends_with("GMT"));

    let mut changed = read.json();
    changed["name"][0]["family"] = json!("Windsor");
    let updated = server
        .request("PUT", &format!("/Patient/{id}"), Some(changed.clone()), &[])
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.header("etag").as_deref(), Some("W/\"2\""));

    // The same content again makes no new version.
    let same = server
        .request("PUT", &format!("/Patient/{id}"), Some(changed), &[])
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.header("etag").as_deref(), Some("W/\"2\""));

    let v1 = server
        .request("GET", &format!("/Patient/{id}/_history/1"), None, &[])
        .await;
    assert_eq!(v1.status, StatusCode::OK);
    assert_eq!(v1.json()["name"][0]["family"], "Chalmers");
    assert_eq!(
        server
            .request("GET", &format!("/Patient/{id}/_history/9"), None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .request("GET", &format!("/Patient/{id}/_history/x"), None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let deleted = server
        .request("DELETE", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = server
        .request("GET", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.json()["resourceType"], "OperationOutcome");
    assert_eq!(gone.json()["issue"][0]["code"], "deleted");
    // Deleting again changes nothing.
    assert_eq!(
        server
            .request("DELETE", &format!("/Patient/{id}"), None, &[])
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let history = server
        .request("GET", &format!("/Patient/{id}/_history"), None, &[])
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let bundle = history.json();
    assert_eq!(bundle["type"], "history");
    assert_eq!(bundle["total"], 3);
    let methods: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"]);
    assert!(bundle["entry"][0].get("resource").is_none());

    // Update after delete brings the resource back as a new version.
    let mut again = v1.json();
    again["id"] = json!(id);
    let revived = server
        .request("PUT", &format!("/Patient/{id}"), Some(again), &[])
        .await;
    assert_eq!(revived.status, StatusCode::CREATED, "{}", revived.text());
    assert_eq!(revived.header("etag").as_deref(), Some("W/\"4\""));
}

#[tokio::test]
async fn update_as_create_and_if_match() {
    let server = TestServer::new();
    let mut body = patient("Smith");
    body["id"] = json!("smith-1");
    let created = server
        .request("PUT", "/Patient/smith-1", Some(body.clone()), &[])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert!(
        created
            .header("location")
            .unwrap()
            .ends_with("/Patient/smith-1/_history/1")
    );

    body["active"] = json!(true);
    let stale = server
        .request(
            "PUT",
            "/Patient/smith-1",
            Some(body.clone()),
            &[("if-match", "W/\"7\"")],
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.text()
    );
    assert_eq!(stale.json()["resourceType"], "OperationOutcome");
    let fresh = server
        .request(
            "PUT",
            "/Patient/smith-1",
            Some(body.clone()),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text());
    let stale_delete = server
        .request(
            "DELETE",
            "/Patient/smith-1",
            None,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn prefer_return_and_output_shaping() {
    let server = TestServer::new();
    let minimal = server
        .request(
            "POST",
            "/Patient",
            Some(patient("Minimal")),
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED);
    assert!(minimal.body.is_empty());
    assert!(minimal.header("location").is_some());
    let outcome = server
        .request(
            "POST",
            "/Patient",
            Some(patient("Outcome")),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    assert_eq!(outcome.status, StatusCode::CREATED);
    assert_eq!(outcome.json()["resourceType"], "OperationOutcome");

    let id = server
        .request("POST", "/Patient", Some(patient("Shape")), &[])
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pretty = server
        .request("GET", &format!("/Patient/{id}?_pretty=true"), None, &[])
        .await;
    assert!(pretty.text().contains("\n  "), "{}", pretty.text());
    let elements = server
        .request(
            "GET",
            &format!("/Patient/{id}?_elements=birthDate"),
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(elements["birthDate"], "1970-01-01");
    assert!(elements.get("name").is_none());
    let summary = server
        .request("GET", &format!("/Patient/{id}?_summary=true"), None, &[])
        .await
        .json();
    assert!(summary.get("extension").is_none(), "{summary}");
    assert_eq!(summary["name"][0]["family"], "Shape");
    let json_format = server
        .request(
            "GET",
            &format!("/Patient/{id}?_format=application/fhir%2Bjson"),
            None,
            &[],
        )
        .await;
    assert_eq!(json_format.status, StatusCode::OK);
    let cached = server
        .request(
            "GET",
            &format!("/Patient/{id}"),
            None,
            &[("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn metadata_lists_every_type() {
    let server = TestServer::new();
    let metadata = server.request("GET", "/metadata", None, &[]).await;
    assert_eq!(metadata.status, StatusCode::OK);
    let statement = metadata.json();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let types = statement["rest"][0]["resource"].as_array().unwrap();
    assert!(types.len() >= 145, "{} types", types.len());
    let patient = types.iter().find(|r| r["type"] == "Patient").unwrap();
    let interactions: Vec<&str> = patient["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for code in [
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
    ] {
        assert!(interactions.contains(&code), "{code}");
    }
}

#[tokio::test]
async fn history_paging_type_and_system() {
    let server = TestServer::new();
    for n in 0..5 {
        server
            .request("POST", "/Patient", Some(patient(&format!("P{n}"))), &[])
            .await;
    }
    server
        .request(
            "POST",
            "/Observation",
            Some(json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})),
            &[],
        )
        .await;
    let page1 = server
        .request("GET", "/Patient/_history?_count=2", None, &[])
        .await
        .json();
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["entry"].as_array().unwrap().len(), 2);
    let next = page1["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = next.trim_start_matches("http://localhost");
    let page2 = server.request("GET", path, None, &[]).await.json();
    assert_eq!(page2["entry"].as_array().unwrap().len(), 2);
    assert_ne!(page1["entry"][0]["fullUrl"], page2["entry"][0]["fullUrl"]);
    let system = server.request("GET", "/_history", None, &[]).await.json();
    assert_eq!(system["total"], 6);
    let future = server
        .request("GET", "/_history?_since=2999-01-01", None, &[])
        .await
        .json();
    assert_eq!(future["total"], 0);
    assert_eq!(
        server
            .request("GET", "/_history?_since=yesterday", None, &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server
            .request("GET", "/Patient/nope/_history", None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Each bad request gets its status and an OperationOutcome naming the problem.
#[tokio::test]
async fn invalid_requests_table() {
    let server = TestServer::new();
    let existing = server
        .request("POST", "/Patient", Some(patient("Err")), &[])
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    struct Case {
        name: &'static str,
        method: &'static str,
        path: String,
        body: Option<Vec<u8>>,
        headers: Vec<(&'static str, &'static str)>,
        status: StatusCode,
        /// A fragment expected in the OperationOutcome (diagnostics or expression).
        mentions: &'static str,
    }
    let json_body = |v: serde_json::Value| Some(serde_json::to_vec(&v).unwrap());
    let cases = vec![
        Case {
            name: "unknown type",
            method: "GET",
            path: "/Foo/1".into(),
            body: None,
            headers: vec![],
            status: StatusCode::NOT_FOUND,
            mentions: "Foo",
        },
        Case {
            name: "unknown id",
            method: "GET",
            path: "/Patient/does-not-exist".into(),
            body: None,
            headers: vec![],
            status: StatusCode::NOT_FOUND,
            mentions: "does-not-exist",
        },
        Case {
            name: "malformed json",
            method: "POST",
            path: "/Patient".into(),
            body: Some(b"{\"resourceType\": \"Patient\",".to_vec()),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "line",
        },
        Case {
            name: "empty body",
            method: "POST",
            path: "/Patient".into(),
            body: Some(Vec::new()),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "body",
        },
        Case {
            name: "type mismatch",
            method: "POST",
            path: "/Patient".into(),
            body: json_body(
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
            ),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Observation",
        },
        Case {
            name: "unknown element",
            method: "POST",
            path: "/Patient".into(),
            body: json_body(json!({"resourceType": "Patient", "nickname": "x"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Patient.nickname",
        },
        Case {
            name: "wrong json type",
            method: "POST",
            path: "/Patient".into(),
            body: json_body(json!({"resourceType": "Patient", "active": "yes"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Patient.active",
        },
        Case {
            name: "bad date",
            method: "POST",
            path: "/Patient".into(),
            body: json_body(json!({"resourceType": "Patient", "birthDate": "1970-02-30"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Patient.birthDate",
        },
        Case {
            name: "missing required",
            method: "POST",
            path: "/Observation".into(),
            body: json_body(json!({"resourceType": "Observation", "code": {"text": "x"}})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Observation.status",
        },
        Case {
            name: "bad required code",
            method: "POST",
            path: "/Observation".into(),
            body: json_body(
                json!({"resourceType": "Observation", "status": "done", "code": {"text": "x"}}),
            ),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Observation.status",
        },
        Case {
            name: "array for single",
            method: "POST",
            path: "/Patient".into(),
            body: json_body(json!({"resourceType": "Patient", "gender": ["male"]})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "Patient.gender",
        },
        Case {
            name: "update without id",
            method: "PUT",
            path: format!("/Patient/{existing}"),
            body: json_body(json!({"resourceType": "Patient"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "id",
        },
        Case {
            name: "update id mismatch",
            method: "PUT",
            path: format!("/Patient/{existing}"),
            body: json_body(json!({"resourceType": "Patient", "id": "other"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "other",
        },
        Case {
            name: "update bad id",
            method: "PUT",
            path: "/Patient/bad_id!".into(),
            body: json_body(json!({"resourceType": "Patient", "id": "bad_id!"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "bad_id!",
        },
        Case {
            name: "xml body",
            method: "POST",
            path: "/Patient".into(),
            body: Some(b"<Patient/>".to_vec()),
            headers: vec![("content-type", "application/fhir+xml")],
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            mentions: "xml",
        },
        Case {
            name: "xml only accepted",
            method: "GET",
            path: format!("/Patient/{existing}"),
            body: None,
            headers: vec![("accept", "application/fhir+xml")],
            status: StatusCode::NOT_ACCEPTABLE,
            mentions: "xml",
        },
        Case {
            name: "bad if-match",
            method: "PUT",
            path: format!("/Patient/{existing}"),
            body: json_body(json!({"resourceType": "Patient", "id": existing})),
            headers: vec![("if-match", "yesterday")],
            status: StatusCode::BAD_REQUEST,
            mentions: "If-Match",
        },
        Case {
            name: "post on instance",
            method: "POST",
            path: format!("/Patient/{existing}"),
            body: json_body(json!({"resourceType": "Patient"})),
            headers: vec![],
            status: StatusCode::METHOD_NOT_ALLOWED,
            mentions: "POST",
        },
        Case {
            name: "put without id or criteria",
            method: "PUT",
            path: "/Patient".into(),
            body: json_body(json!({"resourceType": "Patient"})),
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "criteria",
        },
        Case {
            name: "bad _summary",
            method: "GET",
            path: format!("/Patient/{existing}?_summary=maybe"),
            body: None,
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "_summary",
        },
        Case {
            name: "bad _count",
            method: "GET",
            path: "/_history?_count=-1".into(),
            body: None,
            headers: vec![],
            status: StatusCode::BAD_REQUEST,
            mentions: "_count",
        },
        Case {
            name: "unknown path",
            method: "GET",
            path: "/Patient/1/2/3/4".into(),
            body: None,
            headers: vec![],
            status: StatusCode::NOT_FOUND,
            mentions: "/Patient/1/2/3/4",
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let response = server
            .raw(case.method, &case.path, case.body.clone(), &case.headers)
            .await;
        let text = response.text();
        let ok = response.status == case.status
            && response.json()["resourceType"] == "OperationOutcome"
            && text.contains(case.mentions);
        if !ok {
            failures.push(format!("{}: got {} {}", case.name, response.status, text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = TestServer::with_body_limit(1024);
    let big = json!({"resourceType": "Patient", "name": [{"family": "x".repeat(2000)}]});
    let response = server.request("POST", "/Patient", Some(big), &[]).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.json()["issue"][0]["code"], "too-long");
}

#[tokio::test]
async fn conditional_create_update_delete() {
    let server = TestServer::new();
    let with_identifier = |value: &str| json!({"resourceType": "Patient", "identifier": [{"system": "http://hospital.example/mrn", "value": value}], "active": true});
    let criteria = (
        "if-none-exist",
        "identifier=http://hospital.example/mrn|A-1",
    );
    let first = server
        .request(
            "POST",
            "/Patient",
            Some(with_identifier("A-1")),
            &[criteria],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let second = server
        .request(
            "POST",
            "/Patient",
            Some(with_identifier("A-1")),
            &[criteria],
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(
        server
            .request("GET", "/Patient/_history", None, &[])
            .await
            .json()["total"],
        1
    );

    // Conditional update: no match creates, one match updates the same resource.
    let created = server
        .request(
            "PUT",
            "/Patient?identifier=http://hospital.example/mrn|B-2",
            Some(with_identifier("B-2")),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let mut changed = with_identifier("B-2");
    changed["active"] = json!(false);
    let updated = server
        .request(
            "PUT",
            "/Patient?identifier=http://hospital.example/mrn|B-2",
            Some(changed),
            &[],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.json()["id"], created.json()["id"]);
    assert_eq!(updated.json()["meta"]["versionId"], "2");

    // Several matches: 412 for update, create and delete alike.
    server
        .request(
            "POST",
            "/Patient",
            Some(json!({"resourceType": "Patient", "name": [{"family": "Twin"}]})),
            &[],
        )
        .await;
    server
        .request(
            "POST",
            "/Patient",
            Some(json!({"resourceType": "Patient", "name": [{"family": "Twin"}]})),
            &[],
        )
        .await;
    let twin = json!({"resourceType": "Patient", "name": [{"family": "Twin"}]});
    assert_eq!(
        server
            .request("PUT", "/Patient?family=Twin", Some(twin.clone()), &[])
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        server
            .request(
                "POST",
                "/Patient",
                Some(twin),
                &[("if-none-exist", "family=Twin")]
            )
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        server
            .request("DELETE", "/Patient?family=Twin", None, &[])
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );

    // Conditional delete: one match deletes it, no match deletes nothing.
    let deleted = server
        .request(
            "DELETE",
            "/Patient?identifier=http://hospital.example/mrn|A-1",
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .request("GET", &format!("/Patient/{id}"), None, &[])
            .await
            .status,
        StatusCode::GONE
    );
    assert_eq!(
        server
            .request(
                "DELETE",
                "/Patient?identifier=http://hospital.example/mrn|none",
                None,
                &[]
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // Criteria the server cannot evaluate are an error, never a guess.
    let unknown = server
        .request(
            "POST",
            "/Patient",
            Some(with_identifier("C-3")),
            &[("if-none-exist", "shoeSize=42")],
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown.text()
    );
    assert!(unknown.text().contains("shoeSize"));
}

#[tokio::test]
async fn search_over_http() {
    let server = TestServer::new();
    let mut ids = Vec::new();
    for (family, birth) in [
        ("Alvarez", "1950-02-01"),
        ("Álvarez-Díaz", "1960-03-02"),
        ("Brown", "1970-04-03"),
    ] {
        let body = json!({"resourceType": "Patient", "name": [{"family": family}], "birthDate": birth,
                          "identifier": [{"system": "http://hospital.example/mrn", "value": family}]});
        ids.push(
            server
                .request("POST", "/Patient", Some(body), &[])
                .await
                .json()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for value in [120, 95] {
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": format!("Patient/{}", ids[0])},
            "valueQuantity": {"value": value, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}});
        assert_eq!(
            server
                .request("POST", "/Observation", Some(observation), &[])
                .await
                .status,
            StatusCode::CREATED
        );
    }

    let found = server
        .request("GET", "/Patient?name=alvarez", None, &[])
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let bundle = found.json();
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 2, "{bundle}");
    assert_eq!(bundle["entry"][0]["search"]["mode"], "match");

    let by_value = server
        .request(
            "GET",
            &format!(
                "/Observation?subject=Patient/{}&value-quantity=gt100",
                ids[0]
            ),
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(
        by_value["entry"].as_array().map(Vec::len),
        Some(1),
        "{by_value}"
    );

    let included = server
        .request(
            "GET",
            "/Observation?code=http://loinc.org|8867-4&_include=Observation:subject",
            None,
            &[],
        )
        .await
        .json();
    let modes: Vec<&str> = included["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes.iter().filter(|m| **m == "match").count(), 2);
    assert_eq!(modes.iter().filter(|m| **m == "include").count(), 1);

    let compartment = server
        .request(
            "GET",
            &format!("/Patient/{}/Observation", ids[0]),
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(
        compartment["entry"].as_array().map(Vec::len),
        Some(2),
        "{compartment}"
    );

    let posted = server
        .raw(
            "POST",
            "/Patient/_search",
            Some(b"birthdate=ge1960-01-01".to_vec()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text());
    assert_eq!(posted.json()["entry"].as_array().map(Vec::len), Some(2));

    let lenient = server
        .request("GET", "/Patient?shoeSize=42", None, &[])
        .await
        .json();
    let outcome = lenient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("a warning entry");
    assert!(outcome["resource"].to_string().contains("shoeSize"));
    let strict = server
        .request(
            "GET",
            "/Patient?shoeSize=42",
            None,
            &[("prefer", "handling=strict")],
        )
        .await;
    assert_eq!(strict.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server
            .request("GET", "/Patient?birthdate=notadate", None, &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let page = server
        .request("GET", "/Patient?_count=2&_sort=birthdate", None, &[])
        .await
        .json();
    assert_eq!(page["entry"].as_array().unwrap().len(), 2);
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest = server
        .request(
            "GET",
            next.trim_start_matches("http://localhost"),
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(rest["entry"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["entry"][0]["resource"]["name"][0]["family"], "Brown");

    let system = server
        .request("GET", "/?_type=Patient,Observation&_count=100", None, &[])
        .await
        .json();
    assert_eq!(
        system["entry"].as_array().map(Vec::len),
        Some(5),
        "{system}"
    );
}

fn transaction(entries: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[tokio::test]
async fn transaction_rewrites_references_and_is_atomic() {
    let server = TestServer::new();
    // A practitioner the bundle refers to by a conditional reference.
    let practitioner = json!({"resourceType": "Practitioner", "identifier": [{"system": "http://npi.example", "value": "999"}]});
    server
        .request("POST", "/Practitioner", Some(practitioner), &[])
        .await;

    let bundle = transaction(vec![
        json!({"fullUrl": "urn:uuid:4a2c8d2e-0000-4000-8000-000000000001",
               "resource": {"resourceType": "Patient", "name": [{"family": "Txn"}],
                            "generalPractitioner": [{"reference": "Practitioner?identifier=http://npi.example|999"}]},
               "request": {"method": "POST", "url": "Patient"}}),
        json!({"fullUrl": "urn:uuid:4a2c8d2e-0000-4000-8000-000000000002",
               "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"},
                            "subject": {"reference": "urn:uuid:4a2c8d2e-0000-4000-8000-000000000001"}},
               "request": {"method": "POST", "url": "Observation"}}),
        json!({"resource": {"resourceType": "Patient", "id": "fixed-1", "active": true},
               "request": {"method": "PUT", "url": "Patient/fixed-1"}}),
        json!({"request": {"method": "GET", "url": "Patient?name=Txn"}}),
    ]);
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "transaction-response");
    let entries = body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    assert_eq!(entries[2]["response"]["status"], "201 Created");
    assert_eq!(entries[3]["response"]["status"], "200 OK");
    assert_eq!(
        entries[3]["resource"]["entry"].as_array().map(Vec::len),
        Some(1),
        "the GET sees the writes"
    );
    let patient_location = entries[0]["response"]["location"].as_str().unwrap();
    let patient_id = patient_location.split('/').nth(1).unwrap();
    let observation_location = entries[1]["response"]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let observation = server
        .request(
            "GET",
            &format!(
                "/{}",
                observation_location.rsplit_once("/_history").unwrap().0
            ),
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(
        observation["subject"]["reference"],
        format!("Patient/{patient_id}")
    );
    let patient = server
        .request("GET", &format!("/Patient/{patient_id}"), None, &[])
        .await
        .json();
    assert!(
        patient["generalPractitioner"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Practitioner/"),
        "{patient}"
    );

    // One invalid entry: nothing of the bundle is stored, and the error names the entry.
    let before = server.request("GET", "/_history", None, &[]).await.json()["total"].clone();
    let bad = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "name": [{"family": "Never"}]}, "request": {"method": "POST", "url": "Patient"}}),
        json!({"resource": {"resourceType": "Patient", "id": "fixed-2", "active": true}, "request": {"method": "PUT", "url": "Patient/fixed-2"}}),
        json!({"resource": {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}, "request": {"method": "POST", "url": "Observation"}}),
    ]);
    let failed = server.request("POST", "/", Some(bad), &[]).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST, "{}", failed.text());
    assert!(
        failed.text().contains("Bundle.entry[2]"),
        "{}",
        failed.text()
    );
    assert_eq!(
        server.request("GET", "/_history", None, &[]).await.json()["total"],
        before
    );
    assert_eq!(
        server
            .request("GET", "/Patient/fixed-2", None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A failure found inside the unit of work (If-Match on a stale version) rolls back too.
    let stale = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "id": "fixed-3"}, "request": {"method": "PUT", "url": "Patient/fixed-3"}}),
        json!({"resource": {"resourceType": "Patient", "id": "fixed-1", "active": false}, "request": {"method": "PUT", "url": "Patient/fixed-1", "ifMatch": "W/\"9\""}}),
    ]);
    let conflict = server.request("POST", "/", Some(stale), &[]).await;
    assert_eq!(
        conflict.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        conflict.text()
    );
    assert_eq!(
        server
            .request("GET", "/Patient/fixed-3", None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Unresolvable references fail the transaction.
    let dangling = transaction(vec![
        json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "urn:uuid:4a2c8d2e-0000-4000-8000-00000000dead"}}, "request": {"method": "POST", "url": "Observation"}}),
    ]);
    assert_eq!(
        server
            .request("POST", "/", Some(dangling), &[])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let no_match = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "generalPractitioner": [{"reference": "Practitioner?identifier=http://npi.example|000"}]},
        "request": {"method": "POST", "url": "Patient"}}),
    ]);
    assert_eq!(
        server
            .request("POST", "/", Some(no_match), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn transaction_conditional_entries_and_order() {
    let server = TestServer::new();
    let identifier = json!([{"system": "http://hospital.example/mrn", "value": "T-1"}]);
    let bundle = || {
        transaction(vec![
            json!({"fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
                   "resource": {"resourceType": "Patient", "identifier": identifier.clone()},
                   "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://hospital.example/mrn|T-1"}}),
            json!({"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "subject": {"reference": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"},
                                "identifier": [{"system": "http://hospital.example/visit", "value": "V-1"}]},
                   "request": {"method": "PUT", "url": "Encounter?identifier=http://hospital.example/visit|V-1"}}),
        ])
    };
    let first = server.request("POST", "/", Some(bundle()), &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let second = server
        .request("POST", "/", Some(bundle()), &[])
        .await
        .json();
    assert_eq!(
        second["entry"][0]["response"]["status"], "200 OK",
        "{second}"
    );
    assert_eq!(
        first.json()["entry"][0]["response"]["location"],
        second["entry"][0]["response"]["location"]
    );
    assert_eq!(
        first.json()["entry"][1]["response"]["location"],
        second["entry"][1]["response"]["location"],
        "re-running updates in place"
    );
    let patients = server.request("GET", "/Patient", None, &[]).await.json();
    assert_eq!(patients["entry"].as_array().map(Vec::len), Some(1));
    let encounter = server
        .request(
            "GET",
            "/Encounter?identifier=http://hospital.example/visit|V-1",
            None,
            &[],
        )
        .await
        .json();
    let subject = encounter["entry"][0]["resource"]["subject"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let patient_id = first.json()["entry"][0]["response"]["location"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        subject,
        format!("Patient/{patient_id}"),
        "the reference follows the matched patient"
    );

    // DELETE runs before POST in the same transaction; a resource may be touched once.
    let twice = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "id": "dup"}, "request": {"method": "PUT", "url": "Patient/dup"}}),
        json!({"request": {"method": "DELETE", "url": "Patient/dup"}}),
    ]);
    assert_eq!(
        server.request("POST", "/", Some(twice), &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    let delete_and_create = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "identifier": identifier.clone()}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://hospital.example/mrn|T-1"}}),
        json!({"request": {"method": "DELETE", "url": "Patient?identifier=http://hospital.example/mrn|T-1"}}),
    ]);
    let replaced = server
        .request("POST", "/", Some(delete_and_create), &[])
        .await
        .json();
    assert_eq!(
        replaced["entry"][1]["response"]["status"], "204 No Content",
        "{replaced}"
    );
    assert_eq!(
        replaced["entry"][0]["response"]["status"], "201 Created",
        "the delete ran first, so the create found nothing"
    );
}

#[tokio::test]
async fn batch_entries_are_independent() {
    let server = TestServer::new();
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "Ok"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "unknown-gender"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "DELETE", "url": "Patient/missing"}},
        {"resource": {"resourceType": "Patient", "id": "b-1"}, "request": {"method": "PUT", "url": "Patient/b-1"}},
        {"request": {"method": "FETCH", "url": "Patient"}},
    ]});
    let response = server
        .request(
            "POST",
            "/",
            Some(batch),
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "batch-response");
    let statuses: Vec<&str> = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "201 Created",
            "400 Bad Request",
            "404 Not Found",
            "404 Not Found",
            "201 Created",
            "400 Bad Request"
        ]
    );
    assert_eq!(body["entry"][0]["resource"]["name"][0]["family"], "Ok");
    assert_eq!(
        body["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert!(
        body["entry"][1]["response"]["outcome"]
            .to_string()
            .contains("Bundle.entry[1]")
    );
    assert_eq!(
        server
            .request("GET", "/Patient/b-1", None, &[])
            .await
            .status,
        StatusCode::OK
    );

    let not_a_bundle = server
        .request("POST", "/", Some(json!({"resourceType": "Patient"})), &[])
        .await;
    assert_eq!(not_a_bundle.status, StatusCode::BAD_REQUEST);
    let collection = server
        .request(
            "POST",
            "/",
            Some(json!({"resourceType": "Bundle", "type": "collection"})),
            &[],
        )
        .await;
    assert_eq!(collection.status, StatusCode::BAD_REQUEST);
}
