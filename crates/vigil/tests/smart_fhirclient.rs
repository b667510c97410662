//! SMART on FHIR end to end through the real binary with authentication on: clients and users
//! made with `vigil client add` / `vigil user add`, data loaded by a backend service, then the
//! unmodified Python `fhirclient` package (PyPI) completes a standalone patient launch and a
//! backend-services read (tests/python/smart_fhirclient.py). Afterwards the server's log, run
//! at debug level, must hold no password, secret, token, patient name or query value.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use serde_json::json;
use std::process::Command;
use support::{Vigil, http_form, http_with};

const PASSWORD: &str = "correct horse battery staple";
const BACKEND_SECRET: &str = "backend-secret-5521";
const LOADER_SECRET: &str = "loader-secret-9083";
const FAMILY: &str = "Quillfeather";
const OTHER_FAMILY: &str = "Brightwater";
const QUERY_VALUE: &str = "qv-secret-7781";
const SIEM_SECRET: &str = "siem-secret-4410";

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

fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `Bearer TOKEN` for a backend client, by client credentials with client_secret_basic.
fn client_bearer(address: std::net::SocketAddr, id: &str, secret: &str, scope: &str) -> String {
    let token = http_form(
        address,
        "/auth/token",
        &[("grant_type", "client_credentials"), ("scope", scope)],
        &[("Authorization", &basic(id, secret))],
    );
    assert_eq!(token.status, 200, "{id}: {}", token.body);
    format!("Bearer {}", token.json()["access_token"].as_str().unwrap())
}

/// Whether `python3` with `fhirclient` is here; in CI its absence is a failure.
fn python_with_fhirclient() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import fhirclient, requests"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI: python3 with the fhirclient package is required (.ci/run installs it)"
        );
        eprintln!(
            "skipped: python3 with the fhirclient package is not installed (pip install fhirclient)"
        );
    }
    found
}

#[test]
fn fhirclient_completes_a_patient_launch_and_a_backend_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    vigil(&[
        "client",
        "add",
        "--data",
        data_arg,
        "--id",
        "smart-app",
        "--public",
        "--redirect-uri",
        redirect,
        "--scope",
        "launch/patient openid fhirUser patient/*.rs offline_access",
    ]);
    vigil(&[
        "client",
        "add",
        "--data",
        data_arg,
        "--id",
        "backend",
        "--secret",
        BACKEND_SECRET,
        "--scope",
        "system/*.rs",
    ]);
    vigil(&[
        "client",
        "add",
        "--data",
        data_arg,
        "--id",
        "loader",
        "--secret",
        LOADER_SECRET,
        "--scope",
        "system/*.cruds",
    ]);
    vigil(&[
        "user",
        "add",
        "--data",
        data_arg,
        "--username",
        "quinn",
        "--password",
        PASSWORD,
        "--patient",
        "Patient/pq",
    ]);
    vigil(&[
        "client",
        "add",
        "--data",
        data_arg,
        "--id",
        "siem",
        "--secret",
        SIEM_SECRET,
        "--scope",
        "system/AuditEvent.rs",
    ]);

    let log = dir.path().join("vigil.log");
    let server = Vigil::start_secure(&data, &["--log", "debug"], &log);
    let address = server.address;
    let base = format!("http://{address}");

    // Without a token: 401 with a challenge; discovery needs none.
    let denied = http_with(address, "GET", "/Patient", None, &[]);
    assert_eq!(denied.status, 401);
    assert!(
        denied
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(denied.json()["resourceType"], "OperationOutcome");
    let forged = http_with(
        address,
        "GET",
        "/Patient",
        None,
        &[("Authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")],
    );
    assert_eq!(forged.status, 401);
    let metadata = http_with(address, "GET", "/metadata", None, &[]).json();
    let security = &metadata["rest"][0]["security"];
    assert!(security.to_string().contains("oauth-uris"), "{security}");
    let discovery = http_with(
        address,
        "GET",
        "/.well-known/smart-configuration",
        None,
        &[],
    );
    assert_eq!(discovery.status, 200);
    assert_eq!(
        discovery.json()["token_endpoint"],
        format!("{base}/auth/token")
    );

    // CDS Hooks answer authenticated callers only.
    let hooks = http_with(address, "GET", "/cds-services", None, &[]);
    assert_eq!(hooks.status, 401, "CDS Hooks discovery needs a token");

    // A backend service loads the data.
    let bearer = client_bearer(address, "loader", LOADER_SECRET, "system/*.cruds");
    let resources = [
        json!({"resourceType": "Patient", "id": "pq", "name": [{"family": FAMILY}]}),
        json!({"resourceType": "Patient", "id": "po", "name": [{"family": OTHER_FAMILY}]}),
        json!({"resourceType": "Observation", "id": "oq1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/pq"}, "valueQuantity": {"value": 72}}),
        json!({"resourceType": "Observation", "id": "oq2", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "9279-1"}]},
               "subject": {"reference": "Patient/pq"}, "valueQuantity": {"value": 18}}),
        json!({"resourceType": "Observation", "id": "oo1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/po"}, "valueQuantity": {"value": 99}}),
    ];
    for resource in resources {
        let path = format!(
            "/{}/{}",
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        );
        let answer = http_with(
            address,
            "PUT",
            &path,
            Some(&resource.to_string()),
            &[("Authorization", &bearer)],
        );
        assert!(
            answer.status == 201 || answer.status == 200,
            "{path}: {}",
            answer.body
        );
    }
    let hooks = http_with(
        address,
        "GET",
        "/cds-services",
        None,
        &[("Authorization", &bearer)],
    );
    assert_eq!(hooks.status, 200, "{}", hooks.body);
    // A search with a value that must never reach the log.
    let searched = http_with(
        address,
        "GET",
        &format!("/Observation?code={QUERY_VALUE}"),
        None,
        &[("Authorization", &bearer)],
    );
    assert_eq!(searched.status, 200);

    if python_with_fhirclient() {
        let config = json!({
            "base": base,
            "client_id": "smart-app",
            "redirect_uri": redirect,
            "username": "quinn",
            "password": PASSWORD,
            "patient_id": "pq",
            "family": FAMILY,
            "own_observations": ["oq1", "oq2"],
            "other_patient_id": "po",
            "backend_id": "backend",
            "backend_secret": BACKEND_SECRET,
            "all_patients": ["po", "pq"],
        });
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/smart_fhirclient.py"
        );
        let output = Command::new("python3")
            .arg(script)
            .arg(config.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("{stdout}");
        assert!(
            output.status.success(),
            "fhirclient run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("all checks passed"));
    }

    // The audit trail holds the run: the patient's login, the tokens issued, the refused
    // requests, the reads; an auditing service reads it.
    let siem = client_bearer(address, "siem", SIEM_SECRET, "system/AuditEvent.rs");
    let events = http_with(
        address,
        "GET",
        "/AuditEvent?_count=1000",
        None,
        &[("Authorization", &siem)],
    );
    assert_eq!(events.status, 200, "{}", events.body);
    let text = events.body.clone();
    // DICOM 110122 login, IHE ITI-71 token, DICOM 110114 user authentication (the 401s).
    for expected in [
        "\"110122\"",
        "\"ITI-71\"",
        "\"110114\"",
        "Patient/pq",
        "urn:vigil:user",
    ] {
        assert!(text.contains(expected), "the trail lacks {expected}");
    }
    let refused_requests = events.json()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            let event = &entry["resource"];
            event["type"]["code"] == "110114"
                && event["subtype"].is_null()
                && event["outcome"] == "8"
        })
        .count();
    assert!(
        refused_requests >= 2,
        "the two 401s are in the trail ({refused_requests})"
    );
    let as_patient_app = http_with(
        address,
        "GET",
        "/AuditEvent",
        None,
        &[("Authorization", &bearer)],
    );
    assert_eq!(
        as_patient_app.status, 403,
        "a system/*.cruds client is no auditor"
    );

    assert!(server.terminate(), "a clean stop");
    let verify = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["audit", "verify", "--data", data_arg])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("request"),
        "the log was written: {} bytes",
        log.len()
    );
    for secret in [
        PASSWORD,
        BACKEND_SECRET,
        LOADER_SECRET,
        FAMILY,
        OTHER_FAMILY,
        QUERY_VALUE,
        "eyJ",
        "Bearer ",
    ] {
        assert!(!log.contains(secret), "the log holds '{secret}'");
    }
}
