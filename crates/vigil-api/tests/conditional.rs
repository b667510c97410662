//! The one conditional resolver, as a table: every conditional interaction (create with
//! `If-None-Exist`, update, patch, delete) × {0, 1, 2 matches} × {body id absent, equal to
//! the match, different} on every path (REST, transaction entry, batch entry) answers the
//! status the table says. The transaction row of "update, 1 match, different id" is the
//! regression: it used to replace the id silently; FHIR requires 400.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::TestServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interaction {
    Create,
    Update,
    Patch,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyId {
    Absent,
    Equal,
    Different,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Rest,
    Transaction,
    Batch,
}

/// The table (FHIR http.html: conditional create, update, patch, delete).
fn expected(interaction: Interaction, matches: usize, body: BodyId) -> u16 {
    match (interaction, matches, body) {
        (_, 2.., _) => 412,
        (Interaction::Delete, _, _) => 204,
        (Interaction::Create, 0, _) => 201,
        (Interaction::Create, _, _) => 200,
        (Interaction::Update, 0, _) => 201,
        (Interaction::Update, _, BodyId::Different) => 400,
        (Interaction::Update, _, _) => 200,
        (Interaction::Patch, 0, _) => 404,
        (Interaction::Patch, _, _) => 200,
    }
}

/// The status one case answers with.
async fn run(
    server: &TestServer,
    path: Path,
    interaction: Interaction,
    case: &str,
    body: BodyId,
    first_match: &str,
) -> u16 {
    let criteria = format!("identifier=urn:case|{case}");
    let mut resource = json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:case", "value": case}], "active": true});
    match body {
        BodyId::Absent => {}
        BodyId::Equal => resource["id"] = json!(first_match),
        BodyId::Different => resource["id"] = json!(format!("{case}-other")),
    }
    let patch = json!([{"op": "add", "path": "/gender", "value": "other"}]);
    if path == Path::Rest {
        let response = match interaction {
            Interaction::Create => {
                server
                    .request(
                        "POST",
                        "/Patient",
                        Some(resource),
                        &[("if-none-exist", &criteria)],
                    )
                    .await
            }
            Interaction::Update => {
                let url = format!("/Patient?{criteria}");
                server.request("PUT", &url, Some(resource), &[]).await
            }
            Interaction::Patch => {
                let url = format!("/Patient?{criteria}");
                let body = serde_json::to_vec(&patch).unwrap();
                let headers = [("content-type", "application/json-patch+json")];
                server.raw("PATCH", &url, Some(body), &headers).await
            }
            Interaction::Delete => {
                let url = format!("/Patient?{criteria}");
                server.request("DELETE", &url, None, &[]).await
            }
        };
        return response.status.as_u16();
    }
    let query = format!("Patient?{criteria}");
    let entry = match interaction {
        Interaction::Create => json!({"resource": resource,
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": criteria}}),
        Interaction::Update => json!({"resource": resource,
            "request": {"method": "PUT", "url": query}}),
        Interaction::Patch => {
            let binary = json!({"resourceType": "Binary",
                "contentType": "application/json-patch+json",
                "data": base64_of(&patch)});
            json!({"resource": binary, "request": {"method": "PATCH", "url": query}})
        }
        Interaction::Delete => json!({"request": {"method": "DELETE", "url": query}}),
    };
    let kind = if path == Path::Transaction {
        "transaction"
    } else {
        "batch"
    };
    let bundle = json!({"resourceType": "Bundle", "type": kind, "entry": [entry]});
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    if response.status.as_u16() != 200 {
        return response.status.as_u16();
    }
    let status = response.json()["entry"][0]["response"]["status"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    status
        .split(' ')
        .next()
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn base64_of(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn every_conditional_interaction_on_every_path_follows_one_table() {
    let server = TestServer::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in [Path::Rest, Path::Transaction, Path::Batch] {
        for interaction in [
            Interaction::Create,
            Interaction::Update,
            Interaction::Patch,
            Interaction::Delete,
        ] {
            for matches in 0..=2 {
                for body in [BodyId::Absent, BodyId::Equal, BodyId::Different] {
                    cases += 1;
                    let case = format!("c{cases}");
                    for n in 0..matches {
                        let patient = json!({"resourceType": "Patient", "id": format!("{case}-m{n}"),
                            "identifier": [{"system": "urn:case", "value": case}]});
                        let url = format!("/Patient/{case}-m{n}");
                        let created = server.request("PUT", &url, Some(patient), &[]).await;
                        assert_eq!(created.status.as_u16(), 201, "{}", created.text());
                    }
                    let first_match = format!("{case}-m0");
                    let got = run(&server, path, interaction, &case, body, &first_match).await;
                    let want = expected(interaction, matches, body);
                    if got != want {
                        failures.push(format!(
                            "{path:?} {interaction:?} with {matches} matches, body id {body:?}: {got}, expected {want}"
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(cases, 108);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The regression on its own: a transaction's conditional update whose body names another
/// resource than the match is refused and writes nothing.
#[tokio::test]
async fn a_transaction_conditional_update_with_another_body_id_is_400() {
    let server = TestServer::new();
    let patient = json!({"resourceType": "Patient", "id": "match",
        "identifier": [{"system": "urn:x", "value": "1"}]});
    server
        .request("PUT", "/Patient/match", Some(patient), &[])
        .await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "other", "gender": "male",
                      "identifier": [{"system": "urn:x", "value": "1"}]},
         "request": {"method": "PUT", "url": "Patient?identifier=urn:x|1"}}]});
    let response = server.request("POST", "/", Some(bundle), &[]).await;
    assert_eq!(response.status.as_u16(), 400, "{}", response.text());
    assert!(
        response
            .text()
            .contains("differs from the matching resource")
    );
    let other = server.request("GET", "/Patient/other", None, &[]).await;
    assert_eq!(other.status.as_u16(), 404);
    let matched = server.request("GET", "/Patient/match", None, &[]).await;
    assert_eq!(matched.json()["meta"]["versionId"], "1");
}
