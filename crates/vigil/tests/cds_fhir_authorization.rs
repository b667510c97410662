//! CDS Hooks 2.0 `fhirServer` and `fhirAuthorization` through the real binary with
//! authentication on: the service's own reads run with the rights of the token in
//! `fhirAuthorization`, not the calling client's; a token not valid here, a foreign
//! `fhirServer`, or `fhirAuthorization` without `fhirServer` are refused.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;
use support::{Vigil, http_form, http_with};

fn vigil(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn add_client(data: &str, id: &str, scope: &str) {
    vigil(&[
        "client",
        "add",
        "--data",
        data,
        "--id",
        id,
        "--secret",
        "secret-0123456789",
        "--scope",
        scope,
    ]);
}

fn token(address: SocketAddr, id: &str, scope: &str) -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:secret-0123456789"));
    let answer = http_form(
        address,
        "/auth/token",
        &[("grant_type", "client_credentials"), ("scope", scope)],
        &[("Authorization", &format!("Basic {basic}"))],
    );
    assert_eq!(answer.status, 200, "{id}: {}", answer.body);
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

fn order(id: &str, status: &str, code: &str, text: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code}],
            "text": text
        },
        "subject": {"reference": "Patient/m1"}
    })
}

#[test]
fn hooks_read_with_the_rights_of_fhir_authorization() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    add_client(data_arg, "loader", "system/*.cruds");
    add_client(data_arg, "ehr", "system/Patient.rs");
    add_client(data_arg, "reader", "system/*.rs");
    let server = Vigil::start_secure(&data, &[], &dir.path().join("log"));
    let address = server.address;
    let base = format!("http://{address}");
    let loader = format!("Bearer {}", token(address, "loader", "system/*.cruds"));
    for (path, body) in [
        (
            "/Patient/m1",
            json!({"resourceType": "Patient", "id": "m1"}),
        ),
        (
            "/MedicationRequest/simva",
            order("simva", "active", "36567", "simvastatin 40 mg"),
        ),
    ] {
        let put = http_with(
            address,
            "PUT",
            path,
            Some(&body.to_string()),
            &[("Authorization", &loader)],
        );
        assert!(put.status == 201 || put.status == 200, "{}", put.body);
    }
    let ehr = format!("Bearer {}", token(address, "ehr", "system/Patient.rs"));
    let reader = token(address, "reader", "system/*.rs");
    let request = |extra: Value| -> Value {
        let mut request = json!({
            "hook": "order-sign",
            "hookInstance": "0c7f3a52-2a64-4b8f-9f61-6c2d3f1b8f10",
            "context": {
                "userId": "Practitioner/1", "patientId": "m1",
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
                    {"resource": order("draft-1", "draft", "21212", "clarithromycin 500 mg")}
                ]}
            }
        });
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        request
    };
    let call = |body: Value| {
        http_with(
            address,
            "POST",
            "/cds-services/vigil-medication-safety",
            Some(&body.to_string()),
            &[
                ("Authorization", &ehr),
                ("Content-Type", "application/json"),
            ],
        )
    };

    // The calling client may not read MedicationRequests: its own rights find no order.
    let own = call(request(json!({})));
    assert_eq!(own.status, 403, "{}", own.body);

    // With a token that may read them, the interaction with the active order is found.
    let delegated = call(request(json!({
        "fhirServer": base,
        "fhirAuthorization": {"access_token": reader, "token_type": "Bearer",
                              "expires_in": 300, "scope": "system/*.rs", "subject": "reader"}
    })));
    assert_eq!(delegated.status, 200, "{}", delegated.body);
    let cards = delegated.json()["cards"].as_array().unwrap().clone();
    assert!(
        cards.iter().any(|c| c["indicator"] == "critical"),
        "{cards:#?}"
    );

    // A token that is not valid here.
    let forged = call(request(json!({
        "fhirServer": base,
        "fhirAuthorization": {"access_token": "not-a-token", "token_type": "Bearer"}
    })));
    assert_eq!(forged.status, 412, "{}", forged.body);

    // fhirAuthorization needs fhirServer.
    let no_server = call(request(json!({
        "fhirAuthorization": {"access_token": reader, "token_type": "Bearer"}
    })));
    assert_eq!(no_server.status, 400, "{}", no_server.body);

    // Another FHIR server: refused even with every prefetch key (the services read beyond
    // it, and another server's ids must not be looked up here).
    let foreign = call(request(
        json!({"fhirServer": "https://ehr.example.org/fhir"}),
    ));
    assert_eq!(foreign.status, 412, "{}", foreign.body);
    let bundle = |resources: Vec<Value>| {
        json!({"resourceType": "Bundle", "type": "searchset",
               "entry": resources.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()})
    };
    let prefetched = call(request(json!({
        "fhirServer": "https://ehr.example.org/fhir",
        "prefetch": {
            "medications": bundle(vec![order("simva", "active", "36567", "simvastatin 40 mg")]),
            "allergies": bundle(vec![])
        }
    })));
    assert_eq!(prefetched.status, 412, "{}", prefetched.body);
    // This server named as fhirServer, with the caller's own rights, is served.
    let own_server = call(request(json!({
        "fhirServer": format!("{base}/"),
        "prefetch": {
            "medications": bundle(vec![order("simva", "active", "36567", "simvastatin 40 mg")]),
            "allergies": bundle(vec![])
        }
    })));
    assert_eq!(own_server.status, 200, "{}", own_server.body);
    assert!(
        own_server.json()["cards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["indicator"] == "critical")
    );
    assert!(server.terminate());
}
