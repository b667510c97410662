//! The SMART policy through the real router: bearer tokens (verified by a test authenticator
//! standing in for the authorization server's verifier), scopes in both SMART versions with v2
//! search restrictions, and patient-context confinement on every path (read, vread, search,
//! chains, `_has`, includes, revincludes, history, `$everything`, transaction and batch
//! entries, conditional interactions, writes).

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use support::{TestResponse, TestServer, export_worker};
use vigil_api::{Authenticator, Identity, Refusal};
use vigil_service::Principal;

/// Tokens are plain names mapped to identities.
struct Tokens(HashMap<&'static str, Identity>);

impl Authenticator for Tokens {
    fn authenticate(&self, token: &str) -> Result<Identity, Refusal> {
        self.0.get(token).cloned().ok_or(Refusal {
            reason: "unknown token".into(),
            internal: false,
        })
    }
}

/// A user; with a patient, the patient's own launch (its FHIR user is that Patient, as the
/// authorization server issues it).
fn user(id: &str, patient: Option<&str>, scopes: &[&str], roles: &[&str]) -> Identity {
    Identity {
        principal: Principal::User { id: id.into() },
        client_id: Some("app".into()),
        patient: patient.map(str::to_owned),
        fhir_user: patient.map(|patient| format!("Patient/{patient}")),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        roles: roles.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn tokens() -> Tokens {
    let mut map = HashMap::new();
    map.insert(
        "loader",
        Identity {
            principal: Principal::Client {
                id: "loader".into(),
            },
            client_id: Some("loader".into()),
            patient: None,
            fhir_user: None,
            scopes: vec!["system/*.cruds".into()],
            roles: Vec::new(),
        },
    );
    map.insert(
        "reader",
        Identity {
            principal: Principal::Client {
                id: "reader".into(),
            },
            client_id: Some("reader".into()),
            patient: None,
            fhir_user: None,
            scopes: vec!["system/*.read".into()],
            roles: Vec::new(),
        },
    );
    map.insert("a-v2", user("alice", Some("a"), &["patient/*.cruds"], &[]));
    map.insert(
        "a-v1",
        user(
            "alice",
            Some("a"),
            &["patient/Observation.read", "patient/Patient.read"],
            &[],
        ),
    );
    map.insert(
        "a-vitals",
        user(
            "alice",
            Some("a"),
            &[
                "patient/Observation.rs?category=vital-signs",
                "patient/Patient.rs",
            ],
            &[],
        ),
    );
    map.insert(
        "clinician",
        user("carol", None, &["user/*.cruds"], &["clinician"]),
    );
    map.insert(
        "dr-p1",
        Identity {
            fhir_user: Some("Practitioner/p1".into()),
            ..user("pam", None, &["user/*.cruds"], &["clinician"])
        },
    );
    map.insert(
        "auditor",
        user("audrey", None, &["user/AuditEvent.rs"], &["auditor"]),
    );
    map.insert(
        "siem",
        Identity {
            principal: Principal::Client { id: "siem".into() },
            client_id: Some("siem".into()),
            patient: None,
            fhir_user: None,
            scopes: vec!["system/AuditEvent.rs".into()],
            roles: Vec::new(),
        },
    );
    map.insert(
        "user-no-role",
        user("ursula", None, &["user/AuditEvent.rs"], &[]),
    );
    map.insert(
        "patient-user",
        Identity {
            fhir_user: Some("Patient/a".into()),
            ..user("alice", None, &["user/*.rs"], &[])
        },
    );
    Tokens(map)
}

struct Fixture {
    server: TestServer,
    service: vigil_service::FhirService,
}

impl Fixture {
    async fn new() -> Self {
        let (server, service) = TestServer::with_smart(Arc::new(tokens()));
        let fixture = Fixture { server, service };
        let resources = vec![
            json!({"resourceType": "Patient", "id": "a", "name": [{"family": "Ames"}]}),
            json!({"resourceType": "Patient", "id": "b", "name": [{"family": "Bell"}]}),
            json!({"resourceType": "Practitioner", "id": "p1"}),
            json!({"resourceType": "Encounter", "id": "ea", "status": "finished",
                   "class": {"code": "AMB"}, "subject": {"reference": "Patient/a"},
                   "participant": [{"individual": {"reference": "Practitioner/p1"}}]}),
            json!({"resourceType": "Observation", "id": "oa-vital", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                   "subject": {"reference": "Patient/a"},
                   // Performed by the other patient: a chain through performer must not
                   // reach Patient b.
                   "performer": [{"reference": "Patient/b"}]}),
            json!({"resourceType": "Observation", "id": "oa-lab", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                   "subject": {"reference": "Patient/a"}}),
            // Patient b's observation, pointing at a's encounter (a `_has` on a's encounters
            // must not see it).
            json!({"resourceType": "Observation", "id": "ob", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "secret-code"}]},
                   "subject": {"reference": "Patient/b"},
                   "encounter": {"reference": "Encounter/ea"}}),
            json!({"resourceType": "Condition", "id": "ca", "subject": {"reference": "Patient/a"},
                   "code": {"text": "asthma"}}),
            json!({"resourceType": "Medication", "id": "m1", "code": {"text": "salbutamol"}}),
        ];
        fixture.put_all(resources).await;
        fixture
    }

    async fn put_all(&self, resources: Vec<Value>) {
        let entries: Vec<Value> = resources
            .into_iter()
            .map(|r| {
                let url = format!(
                    "{}/{}",
                    r["resourceType"].as_str().unwrap(),
                    r["id"].as_str().unwrap()
                );
                json!({"resource": r, "request": {"method": "PUT", "url": url}})
            })
            .collect();
        let answer = self
            .call(
                "loader",
                "POST",
                "/",
                Some(json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }

    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        self.call_with(token, method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(extra);
        self.server.request(method, path, body, &headers).await
    }

    async fn ids(&self, token: &str, path: &str) -> Vec<String> {
        let answer = self.call(token, "GET", path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        let mut ids: Vec<String> = answer.json()["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["search"]["mode"] != "outcome")
                    .map(|e| {
                        format!(
                            "{}/{}",
                            e["resource"]["resourceType"].as_str().unwrap(),
                            e["resource"]["id"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// The answer without the id in it: an unknown id and a hidden one must read the same.
fn shape(answer: &TestResponse, id: &str) -> (StatusCode, String) {
    (answer.status, answer.text().replace(id, "ID"))
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_with_a_challenge() {
    let fixture = Fixture::new().await;
    let none = fixture.server.request("GET", "/Patient/a", None, &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(none.json()["resourceType"], "OperationOutcome");
    assert_eq!(none.json()["issue"][0]["code"], "login");
    let bad = fixture.call("forged", "GET", "/Patient/a", None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let basic = fixture
        .server
        .request(
            "GET",
            "/Patient/a",
            None,
            &[("authorization", "Basic YTpi")],
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // Discovery needs no token.
    let metadata = fixture.server.request("GET", "/metadata", None, &[]).await;
    assert_eq!(metadata.status, StatusCode::OK);
}

#[tokio::test]
async fn v1_scopes_grant_read_and_search_of_their_types_only() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture
            .call("a-v1", "GET", "/Observation/oa-lab", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fixture.ids("a-v1", "/Observation").await,
        ["Observation/oa-lab", "Observation/oa-vital"]
    );
    let condition = fixture.call("a-v1", "GET", "/Condition/ca", None).await;
    assert_eq!(
        condition.status,
        StatusCode::FORBIDDEN,
        "{}",
        condition.text()
    );
    assert_eq!(condition.json()["issue"][0]["code"], "forbidden");
    assert_eq!(
        fixture.call("a-v1", "GET", "/Condition", None).await.status,
        StatusCode::FORBIDDEN
    );
    let create = fixture
        .call(
            "a-v1",
            "POST",
            "/Observation",
            Some(json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/a"}})),
        )
        .await;
    assert_eq!(
        create.status,
        StatusCode::FORBIDDEN,
        "v1 read grants no write"
    );
}

#[tokio::test]
async fn v2_restricted_scopes_show_only_what_matches_the_restriction() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture
            .call("a-vitals", "GET", "/Observation/oa-vital", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fixture
            .call("a-vitals", "GET", "/Observation/oa-lab", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        fixture.ids("a-vitals", "/Observation").await,
        ["Observation/oa-vital"]
    );
    // v2 `cruds`: writes within the compartment are allowed.
    let create = fixture
        .call(
            "a-v2",
            "POST",
            "/Observation",
            Some(json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "home reading"}, "subject": {"reference": "Patient/a"}})),
        )
        .await;
    assert_eq!(create.status, StatusCode::CREATED, "{}", create.text());
}

#[tokio::test]
async fn system_scopes_read_everything_and_write_nothing() {
    let fixture = Fixture::new().await;
    assert_eq!(fixture.ids("reader", "/Observation").await.len(), 3);
    let write = fixture
        .call(
            "reader",
            "PUT",
            "/Medication/m1",
            Some(json!({"resourceType": "Medication", "id": "m1"})),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    // Patient-level scopes are not for a client without a patient.
    assert_eq!(
        fixture
            .call("clinician", "GET", "/Observation/ob", None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_patients_resources_answer_as_unknown_ids_do() {
    let fixture = Fixture::new().await;
    for (hidden, unknown) in [
        ("/Observation/ob", "/Observation/nope"),
        ("/Patient/b", "/Patient/nope"),
        ("/Observation/ob/_history", "/Observation/nope/_history"),
        ("/Observation/ob/_history/1", "/Observation/nope/_history/1"),
        ("/Patient/b/$everything", "/Patient/nope/$everything"),
    ] {
        let hidden_answer = fixture.call("a-v2", "GET", hidden, None).await;
        let unknown_answer = fixture.call("a-v2", "GET", unknown, None).await;
        assert_eq!(
            hidden_answer.status,
            StatusCode::NOT_FOUND,
            "{hidden}: {}",
            hidden_answer.text()
        );
        let id = if hidden.contains("/ob") { "ob" } else { "b" };
        assert_eq!(
            shape(&hidden_answer, id),
            shape(&unknown_answer, "nope"),
            "{hidden}"
        );
    }
    // Own resources are readable, also through a patient user's own identity.
    assert_eq!(
        fixture
            .call("a-v2", "GET", "/Observation/oa-lab", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fixture
            .call("patient-user", "GET", "/Patient/b", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fixture
            .call("patient-user", "GET", "/Patient/a", None)
            .await
            .status,
        StatusCode::OK
    );
    // A deleted resource of another patient is 404 too, one's own is 410.
    assert!(
        fixture
            .call("loader", "DELETE", "/Observation/ob", None)
            .await
            .status
            .is_success()
    );
    assert!(
        fixture
            .call("loader", "DELETE", "/Condition/ca", None)
            .await
            .status
            .is_success()
    );
    let hidden = fixture.call("a-v2", "GET", "/Observation/ob", None).await;
    assert_eq!(
        shape(&hidden, "ob"),
        shape(
            &fixture.call("a-v2", "GET", "/Observation/nope", None).await,
            "nope"
        )
    );
    assert_eq!(
        fixture
            .call("a-v2", "GET", "/Condition/ca", None)
            .await
            .status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn searches_are_confined_in_the_query() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture.ids("a-v2", "/Observation").await,
        ["Observation/oa-lab", "Observation/oa-vital"]
    );
    let bundle = fixture
        .call("a-v2", "GET", "/Observation?_total=accurate", None)
        .await
        .json();
    assert_eq!(bundle["total"], 2, "the total counts only the compartment");
    assert_eq!(fixture.ids("a-v2", "/Patient").await, ["Patient/a"]);
    // Asking for the other patient directly finds nothing.
    assert!(
        fixture
            .ids("a-v2", "/Observation?subject=Patient/b")
            .await
            .is_empty()
    );
    // A compartment search of the other patient sees only what is in both compartments
    // (a's observation names b as performer).
    assert_eq!(
        fixture.ids("a-v2", "/Patient/b/Observation").await,
        ["Observation/oa-vital"]
    );
    assert_eq!(
        fixture.ids("a-v2", "/Patient/b/Condition").await,
        Vec::<String>::new()
    );
    assert!(fixture.ids("a-v2", "/Patient?_id=b").await.is_empty());
    // A chain does not reach another patient: a's observation names b as performer.
    assert_eq!(
        fixture
            .ids("reader", "/Observation?performer:Patient.family=Bell")
            .await,
        ["Observation/oa-vital"],
        "unconfined, the chain matches"
    );
    assert!(
        fixture
            .ids("a-v2", "/Observation?performer:Patient.family=Bell")
            .await
            .is_empty()
    );
    // `_has` does not look into another patient's data: b's observation points at a's
    // encounter.
    assert_eq!(
        fixture
            .ids(
                "reader",
                "/Encounter?_has:Observation:encounter:code=secret-code"
            )
            .await,
        ["Encounter/ea"],
        "unconfined, the _has matches"
    );
    assert!(
        fixture
            .ids(
                "a-v2",
                "/Encounter?_has:Observation:encounter:code=secret-code"
            )
            .await
            .is_empty()
    );
    // Includes and revincludes leave the other patient out.
    assert_eq!(
        fixture
            .ids(
                "a-v2",
                "/Observation?_id=oa-vital&_include=Observation:performer"
            )
            .await,
        ["Observation/oa-vital"]
    );
    assert_eq!(
        fixture
            .ids("a-v2", "/Encounter?_revinclude=Observation:encounter")
            .await,
        ["Encounter/ea"]
    );
    // A system search without _type sees only the compartment and unconfined types.
    let every = fixture.ids("a-v2", "/").await;
    assert!(
        every.contains(&"Observation/oa-lab".to_owned()),
        "{every:?}"
    );
    assert!(every.contains(&"Medication/m1".to_owned()), "{every:?}");
    assert!(
        !every
            .iter()
            .any(|id| id == "Observation/ob" || id == "Patient/b"),
        "{every:?}"
    );
    // History lists only the compartment.
    let history = fixture
        .call("a-v2", "GET", "/Observation/_history", None)
        .await
        .json();
    let listed: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap_or(""))
        .collect();
    assert!(!listed.contains(&"ob"), "{listed:?}");
    assert!(
        history.get("total").is_none(),
        "no total over hidden entries"
    );
}

#[tokio::test]
async fn writes_stay_in_the_compartment() {
    let fixture = Fixture::new().await;
    let foreign = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Patient/b"}});
    let create = fixture
        .call("a-v2", "POST", "/Observation", Some(foreign.clone()))
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.text());
    // The refusal is in the audit trail as a failed create.
    fixture.service.flush_audit();
    let trail = fixture
        .call(
            "auditor",
            "GET",
            "/AuditEvent?agent=user:alice&_count=200",
            None,
        )
        .await
        .json();
    assert!(
        trail["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|entry| {
                let event = &entry["resource"];
                event["outcome"] == "8" && event["subtype"][0]["code"] == "create"
            }),
        "the refused create is audited: {trail}"
    );
    // Updating or deleting another patient's resource: as if it did not exist.
    let mut update = foreign.clone();
    update["id"] = json!("ob");
    update["subject"] = json!({"reference": "Patient/a"});
    let answer = fixture
        .call("a-v2", "PUT", "/Observation/ob", Some(update))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
    let answer = fixture
        .call("a-v2", "DELETE", "/Observation/ob", None)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
    // Moving one's own resource to another patient is refused.
    let mut moved = foreign.clone();
    moved["id"] = json!("oa-lab");
    let answer = fixture
        .call("a-v2", "PUT", "/Observation/oa-lab", Some(moved))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    // A conditional update does not match another patient's resource: it creates.
    let conditional = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "secret-code"}]},
        "subject": {"reference": "Patient/a"}});
    let answer = fixture
        .call(
            "a-v2",
            "PUT",
            "/Observation?code=secret-code",
            Some(conditional),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let theirs = fixture
        .call("reader", "GET", "/Observation/ob", None)
        .await
        .json();
    assert_eq!(
        theirs["meta"]["versionId"], "1",
        "b's observation untouched"
    );
    // A transaction writing about the other patient fails whole; nothing is stored.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Condition", "subject": {"reference": "Patient/a"}, "code": {"text": "new"}},
         "request": {"method": "POST", "url": "Condition"}},
        {"fullUrl": "urn:uuid:2", "resource": foreign.clone(), "request": {"method": "POST", "url": "Observation"}}]});
    let answer = fixture.call("a-v2", "POST", "/", Some(transaction)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(fixture.ids("a-v2", "/Condition").await, ["Condition/ca"]);
    // Deleting the other patient's resource in a transaction is deleting an unknown id:
    // nothing to delete (http.html#delete), and it stays.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/ob"}}]});
    let answer = fixture.call("a-v2", "POST", "/", Some(transaction)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let theirs = fixture.call("reader", "GET", "/Observation/ob", None).await;
    assert_eq!(
        theirs.status,
        StatusCode::OK,
        "b's observation is still there"
    );
    // In a batch only that entry fails.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/ob"}},
        {"request": {"method": "GET", "url": "Observation/oa-lab"}},
        {"request": {"method": "GET", "url": "Observation?code=secret-code"}}]});
    let answer = fixture.call("a-v2", "POST", "/", Some(batch)).await.json();
    let statuses: Vec<&str> = answer["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert!(statuses[0].starts_with("404"), "{statuses:?}");
    assert!(statuses[1].starts_with("200"), "{statuses:?}");
    let found = &answer["entry"][2]["resource"];
    let ids: Vec<&str> = found["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["resource"]["id"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert!(!ids.contains(&"ob"), "{ids:?}");
}

#[tokio::test]
async fn audit_events_are_for_auditors_only() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture
            .call("siem", "GET", "/AuditEvent", None)
            .await
            .status,
        StatusCode::OK,
        "a backend service whose scopes name AuditEvent"
    );
    for token in ["a-v2", "clinician", "reader", "loader", "user-no-role"] {
        let answer = fixture.call(token, "GET", "/AuditEvent", None).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{token}: {}",
            answer.text()
        );
    }
    assert_eq!(
        fixture
            .call("auditor", "GET", "/AuditEvent", None)
            .await
            .status,
        StatusCode::OK
    );
    let event = json!({"resourceType": "AuditEvent",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
        "recorded": "2026-12-01T00:00:00Z",
        "agent": [{"requestor": true, "who": {"display": "x"}}],
        "source": {"observer": {"display": "x"}}});
    let write = fixture
        .call("auditor", "POST", "/AuditEvent", Some(event))
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    // The auditor reads nothing else.
    assert_eq!(
        fixture
            .call("auditor", "GET", "/Patient/a", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn practitioners_see_the_patients_they_care_for_and_break_the_glass_for_others() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture
            .call("dr-p1", "GET", "/Observation/oa-lab", None)
            .await
            .status,
        StatusCode::OK
    );
    let outside = fixture.call("dr-p1", "GET", "/Observation/ob", None).await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN, "{}", outside.text());
    // A search shows only the patients in their care (a's observations; oa-vital is also in
    // b's compartment, and a relationship with one of its patients is enough).
    assert_eq!(
        fixture.ids("dr-p1", "/Observation").await,
        ["Observation/oa-lab", "Observation/oa-vital"]
    );
    // Break-the-glass: a stated reason opens the access.
    let emergency = fixture
        .call_with(
            "dr-p1",
            "GET",
            "/Observation/ob",
            None,
            &[("x-break-glass-reason", "unconscious patient in ED")],
        )
        .await;
    assert_eq!(emergency.status, StatusCode::OK, "{}", emergency.text());
    // The emergency access is in the audit trail with purpose of use BTG and the reason.
    fixture.service.flush_audit();
    let trail = fixture
        .call(
            "auditor",
            "GET",
            "/AuditEvent?entity=Observation/ob&_count=100",
            None,
        )
        .await
        .json();
    let emergency_event = trail["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["resource"])
        .find(|event| {
            event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG" && event["outcome"] == "0"
        })
        .unwrap_or_else(|| panic!("no BTG event: {trail}"));
    assert_eq!(
        emergency_event["purposeOfEvent"][0]["text"],
        "unconscious patient in ED"
    );
    assert!(emergency_event.to_string().contains("user:pam"));
    // The refused attempt before it is there too, as a failure.
    assert!(
        trail["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["resource"]["outcome"] != "0"),
        "the refusal is audited: {trail}"
    );
    // Writing for a patient outside their care is refused too.
    let write = fixture
        .call(
            "dr-p1",
            "POST",
            "/Observation",
            Some(json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/b"}})),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_consent_that_denies_sharing_is_honoured() {
    let fixture = Fixture::new().await;
    assert_eq!(
        fixture
            .call("clinician", "GET", "/Condition/ca", None)
            .await
            .status,
        StatusCode::OK
    );
    fixture
        .put_all(vec![json!({"resourceType": "Consent", "id": "c1", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/a"},
            "provision": {"type": "permit", "provision": [
                {"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Condition"}]}]}})])
        .await;
    let denied = fixture
        .call("clinician", "GET", "/Condition/ca", None)
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text());
    assert!(fixture.ids("clinician", "/Condition").await.is_empty());
    // What the consent does not name is still shared.
    assert_eq!(
        fixture
            .call("clinician", "GET", "/Observation/oa-lab", None)
            .await
            .status,
        StatusCode::OK
    );
    // The patient still sees their own record; break-the-glass overrides.
    assert_eq!(
        fixture
            .call("a-v2", "GET", "/Condition/ca", None)
            .await
            .status,
        StatusCode::OK
    );
    let emergency = fixture
        .call_with(
            "clinician",
            "GET",
            "/Condition/ca",
            None,
            &[("x-break-glass-reason", "anaphylaxis")],
        )
        .await;
    assert_eq!(emergency.status, StatusCode::OK);
}

#[tokio::test]
async fn exports_hold_only_what_the_requester_may_see_and_belong_to_them() {
    let fixture = Fixture::new().await;
    let worker = export_worker(&fixture.server, &fixture.service);
    let kickoff = fixture
        .call_with(
            "a-v2",
            "GET",
            "/$export",
            None,
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(kickoff.status, StatusCode::ACCEPTED, "{}", kickoff.text());
    let status = kickoff
        .header("content-location")
        .unwrap()
        .strip_prefix("http://localhost")
        .unwrap()
        .to_owned();
    // Another caller cannot see, read or cancel the job: as if it did not exist.
    for token in ["clinician", "reader"] {
        let answer = fixture.call(token, "GET", &status, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{token}");
        let answer = fixture.call(token, "DELETE", &status, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{token}");
    }
    let manifest = loop {
        let answer = fixture.call("a-v2", "GET", &status, None).await;
        match answer.status {
            StatusCode::OK => break answer.json(),
            StatusCode::ACCEPTED => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            other => panic!("{other}: {}", answer.text()),
        }
    };
    let mut exported = Vec::new();
    for output in manifest["output"].as_array().unwrap() {
        let path = output["url"]
            .as_str()
            .unwrap()
            .strip_prefix("http://localhost")
            .unwrap()
            .to_owned();
        let other = fixture.call("clinician", "GET", &path, None).await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "another caller cannot download"
        );
        let file = fixture.call("a-v2", "GET", &path, None).await;
        assert_eq!(file.status, StatusCode::OK);
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
    assert!(
        exported.contains(&"Observation/oa-lab".to_owned()),
        "{exported:?}"
    );
    assert!(exported.contains(&"Patient/a".to_owned()), "{exported:?}");
    for hidden in ["Observation/ob", "Patient/b"] {
        assert!(
            !exported.contains(&hidden.to_owned()),
            "{hidden} exported: {exported:?}"
        );
    }
    worker.stop();
}

#[tokio::test]
async fn subscriptions_are_set_up_by_administrators_and_backend_services_only() {
    let fixture = Fixture::new().await;
    let subscription = json!({"resourceType": "Subscription", "status": "requested",
        "reason": "watch", "criteria": "Observation?code=8867-4",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"}});
    for token in ["a-v2", "clinician", "dr-p1"] {
        let answer = fixture
            .call(token, "POST", "/Subscription", Some(subscription.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{token}: {}",
            answer.text()
        );
    }
    let answer = fixture
        .call("loader", "POST", "/Subscription", Some(subscription))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
}

#[tokio::test]
async fn out_of_scope_entries_fail_alone_in_a_batch_and_whole_in_a_transaction() {
    let fixture = Fixture::new().await;
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Condition/ca"}},
        {"request": {"method": "GET", "url": "Observation/oa-lab"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/a"}},
         "request": {"method": "POST", "url": "Observation"}}]});
    let answer = fixture.call("a-v1", "POST", "/", Some(batch)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let entries = answer.json()["entry"].as_array().unwrap().clone();
    let statuses: Vec<&str> = entries
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert!(statuses[0].starts_with("403"), "{statuses:?}");
    assert!(statuses[1].starts_with("200"), "{statuses:?}");
    assert!(
        statuses[2].starts_with("403"),
        "v1 read grants no create: {statuses:?}"
    );
    assert_eq!(
        entries[0]["response"]["outcome"]["resourceType"], "OperationOutcome",
        "{}",
        entries[0]
    );
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Observation/oa-lab"}},
        {"fullUrl": "urn:uuid:7", "resource": {"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/a"}},
         "request": {"method": "POST", "url": "Observation"}}]});
    let answer = fixture.call("a-v1", "POST", "/", Some(transaction)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert_eq!(answer.json()["resourceType"], "OperationOutcome");
    assert_eq!(
        fixture.ids("reader", "/Observation").await.len(),
        3,
        "nothing of the transaction was stored"
    );
}

#[tokio::test]
async fn types_left_out_of_a_system_search_or_export_are_not_audited_as_refusals() {
    let fixture = Fixture::new().await;
    // The clinician may search every type but AuditEvent: a system search leaves it out.
    let answer = fixture.call("clinician", "GET", "/?_count=5", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let kickoff = fixture
        .call_with(
            "clinician",
            "GET",
            "/$export",
            None,
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(kickoff.status, StatusCode::ACCEPTED, "{}", kickoff.text());
    fixture.service.flush_audit();
    let trail = fixture
        .call(
            "auditor",
            "GET",
            "/AuditEvent?agent=user:carol&_count=500",
            None,
        )
        .await
        .json();
    let entries = trail["entry"].as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty(), "the requests are audited: {trail}");
    let refused = entries
        .iter()
        .filter(|entry| entry["resource"]["outcome"] != "0")
        .count();
    assert_eq!(
        refused, 0,
        "no refusal recorded for a request that succeeded: {trail}"
    );
}
