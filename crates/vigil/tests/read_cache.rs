//! The read cache through the real binary (issue 19): with the cache on, a read after an
//! acknowledged write returns the new version, whatever wrote it (REST update, PATCH,
//! conditional update, transaction, delete, HL7 ingest over MLLP, a `vigil import` process
//! beside the server), and racing writers and readers never see a version go back.

mod support;

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Vigil, http, http_with};
use vigil_ingest::source::client::MllpClient;

/// The server with the cache on (explicitly, whatever the default) and no CDS writers.
fn start(data: &Path) -> Vigil {
    Vigil::start_with(data, &["--read-cache-mib", "8", "--no-cds"])
}

fn put(server: &Vigil, path: &str, body: &Value) -> u64 {
    let response = server.request("PUT", path, Some(&body.to_string()));
    assert!(
        response.status == 200 || response.status == 201,
        "PUT {path}: {} {}",
        response.status,
        response.body
    );
    etag_version(&response)
}

fn etag_version(response: &support::Response) -> u64 {
    response
        .header("ETag")
        .and_then(|e| e.trim_start_matches("W/").trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no ETag in {:?}", response.headers))
}

/// GET twice (the second from the cache when the first filled it): both must be `version`
/// with `family`.
fn assert_reads(server: &Vigil, path: &str, version: u64, family: &str) {
    for round in 0..2 {
        let response = server.request("GET", path, None);
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        let body = response.json();
        assert_eq!(
            body["meta"]["versionId"],
            json!(version.to_string()),
            "GET {path} (round {round}) returned {body}"
        );
        assert_eq!(etag_version(&response), version);
        assert_eq!(body["name"][0]["family"], json!(family), "{body}");
    }
}

fn patient(id: &str, family: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{"system": "urn:test:mrn", "value": id}],
        "name": [{"family": family}]
    })
}

#[test]
fn rest_writes_are_read_back_at_once_with_the_cache_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(&dir.path().join("data"));
    let path = "/Patient/rc1";
    assert_eq!(put(&server, path, &patient("rc1", "One")), 1);
    assert_reads(&server, path, 1, "One");

    // Update.
    assert_eq!(put(&server, path, &patient("rc1", "Two")), 2);
    assert_reads(&server, path, 2, "Two");

    // PATCH (FHIRPath Patch).
    let patch = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "Patient.name[0].family"},
        {"name": "value", "valueString": "Three"}
    ]}]});
    let response = server.request("PATCH", path, Some(&patch.to_string()));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_reads(&server, path, 3, "Three");

    // Conditional update.
    let response = server.request(
        "PUT",
        "/Patient?identifier=urn:test:mrn|rc1",
        Some(&patient("rc1", "Four").to_string()),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_reads(&server, path, 4, "Four");

    // Transaction.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("rc1", "Five"), "request": {"method": "PUT", "url": "Patient/rc1"}}
    ]});
    let response = server.request("POST", "/", Some(&bundle.to_string()));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_reads(&server, path, 5, "Five");

    // Conditional reads answered from the cache: 304 for the current ETag or a date at or
    // after Last-Modified, 200 otherwise.
    let current = server.request("GET", path, None);
    let last_modified = current.header("Last-Modified").expect("Last-Modified");
    let not_modified = http_with(
        server.address,
        "GET",
        path,
        None,
        &[("If-None-Match", "W/\"5\"")],
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("ETag"), Some("W/\"5\""));
    let stale = http_with(
        server.address,
        "GET",
        path,
        None,
        &[("If-None-Match", "W/\"4\"")],
    );
    assert_eq!(stale.status, 200);
    let since = http_with(
        server.address,
        "GET",
        path,
        None,
        &[("If-Modified-Since", last_modified)],
    );
    assert_eq!(since.status, 304, "{}", since.body);
    let before = http_with(
        server.address,
        "GET",
        path,
        None,
        &[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    );
    assert_eq!(before.status, 200);

    // Delete: 410 at once, and again after a re-create the new version.
    let response = server.request("DELETE", path, None);
    assert_eq!(response.status, 204, "{}", response.body);
    for _ in 0..2 {
        assert_eq!(server.request("GET", path, None).status, 410);
    }
    assert_eq!(put(&server, path, &patient("rc1", "Seven")), 7);
    assert_reads(&server, path, 7, "Seven");
    assert!(server.terminate());
}

#[test]
fn racing_writers_and_readers_never_see_a_version_go_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Arc::new(start(&dir.path().join("data")));
    let ids: Vec<String> = (0..4).map(|n| format!("race{n}")).collect();
    for id in &ids {
        put(&server, &format!("/Patient/{id}"), &patient(id, "v1"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Readers keep every id hot in the cache, so writes race with cache fills.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (server, stop, ids) = (server.clone(), stop.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut reads = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    for id in &ids {
                        let _ = http(server.address, "GET", &format!("/Patient/{id}"), None);
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (server, id) = (server.clone(), id.clone());
            std::thread::spawn(move || {
                let path = format!("/Patient/{id}");
                let mut checked = 0;
                for round in 2..=40_u64 {
                    let family = format!("v{round}");
                    let written = put(&server, &path, &patient(&id, &family));
                    // Another id's writer never touches this one: ours is the latest.
                    assert_eq!(written, round);
                    let read = http(server.address, "GET", &path, None);
                    assert_eq!(read.status, 200);
                    let seen: u64 = read.json()["meta"]["versionId"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    assert!(
                        seen >= written,
                        "{path}: read version {seen} after the write of {written} was acknowledged"
                    );
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    // Readers stop whatever the writers did, so a failure cannot leave them (and the server
    // they hold) running.
    let outcomes: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    let checked: u64 = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("a writer failed (see its message above)"))
        .sum();
    assert_eq!(checked, 4 * 39);
    assert!(reads > 0);
    println!("{checked} acknowledged writes each read back at once, beside {reads} racing reads");
    match Arc::try_unwrap(server) {
        Ok(server) => assert!(server.terminate()),
        Err(_) => panic!("server still shared"),
    }
}

#[test]
fn an_import_process_beside_the_server_is_seen_within_the_check_interval() {
    // `vigil import --online` shares the directory with the running server (a bulk load,
    // the default, refuses a directory in use).
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = start(&data);
    let path = "/Patient/imp1";
    put(&server, path, &patient("imp1", "Before"));
    assert_reads(&server, path, 1, "Before");
    let file = dir.path().join("patients.ndjson");
    std::fs::write(&file, format!("{}\n", patient("imp1", "Imported"))).expect("write");
    let import = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["import", "--online", "--log", "warn", "--data"])
        .arg(&data)
        .arg(&file)
        .output()
        .expect("run vigil import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let imported = Instant::now();
    // Another process's commit is noticed by the next read after the check interval
    // (100 ms); allow for a slow machine.
    let version = loop {
        let body = server.request("GET", path, None).json();
        if body["name"][0]["family"] == json!("Imported") {
            break body["meta"]["versionId"].clone();
        }
        assert!(
            imported.elapsed() < Duration::from_secs(2),
            "the import was not seen: {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("seen {:?} after the import", imported.elapsed());
    assert_eq!(version, json!("2"));
    assert_reads(&server, path, 2, "Imported");
    assert!(server.terminate());
}

/// `vigil serve --mllp 127.0.0.1:0` with the cache on: the server and its MLLP address.
fn start_with_mllp(data: &Path) -> (Vigil, SocketAddr) {
    Vigil::start_with_mllp(data, &["--no-cds", "--read-cache-mib", "8"])
}

fn a31(control_id: &str, family: &str) -> String {
    format!(
        "MSH|^~\\&|REG|WARD|VIGIL|HOSP|20261201031400||ADT^A31|{control_id}|P|2.5.1\rEVN|A31|20261201031400\rPID|1||MRN-CACHE^^^HOSP||{family}^Ann||19700101|F\rPV1|1|N\r"
    )
}

#[test]
fn an_hl7_update_over_mllp_is_read_back_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, mllp) = start_with_mllp(&dir.path().join("data"));
    let mut client = MllpClient::connect(mllp, Duration::from_secs(20)).expect("connect");
    let ack = client.exchange(a31("C1", "First").as_bytes()).expect("ack");
    assert!(String::from_utf8_lossy(&ack).contains("MSA|AA|C1"));
    let found = server.request("GET", "/Patient?family=First", None).json();
    let id = found["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no patient: {found}"))
        .to_owned();
    let path = format!("/Patient/{id}");
    assert_reads(&server, &path, 1, "First");
    let ack = client
        .exchange(a31("C2", "Second").as_bytes())
        .expect("ack");
    assert!(String::from_utf8_lossy(&ack).contains("MSA|AA|C2"));
    assert_reads(&server, &path, 2, "Second");
    assert!(server.terminate());
}

fn add_client(data: &Path, id: &str, secret: &str, scope: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["client", "add", "--data"])
        .arg(data)
        .args(["--id", id, "--secret", secret, "--scope", scope])
        .output()
        .expect("vigil client add");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn bearer(server: &Vigil, id: &str, secret: &str, scope: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let token = support::http_form(
        server.address,
        "/auth/token",
        &[("grant_type", "client_credentials"), ("scope", scope)],
        &[("Authorization", &format!("Basic {basic}"))],
    );
    assert_eq!(token.status, 200, "{id}: {}", token.body);
    format!(
        "Bearer {}",
        token.json()["access_token"].as_str().unwrap_or_default()
    )
}

#[test]
fn a_cached_resource_is_still_put_to_the_authorizer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    add_client(&data, "loader", "loader-secret-1", "system/*.cruds");
    add_client(&data, "narrow", "narrow-secret-1", "system/Observation.rs");
    add_client(&data, "siem", "siem-secret-1", "system/AuditEvent.rs");
    let log = dir.path().join("server.log");
    let server = Vigil::start_secure(&data, &["--read-cache-mib", "8", "--no-cds"], &log);
    let loader = bearer(&server, "loader", "loader-secret-1", "system/*.cruds");
    let narrow = bearer(
        &server,
        "narrow",
        "narrow-secret-1",
        "system/Observation.rs",
    );
    let body = patient("guarded", "Cached").to_string();
    let created = http_with(
        server.address,
        "PUT",
        "/Patient/guarded",
        Some(&body),
        &[("Authorization", &loader)],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    // Twice: the second read is answered from the cache.
    for _ in 0..2 {
        let read = http_with(
            server.address,
            "GET",
            "/Patient/guarded",
            None,
            &[("Authorization", &loader)],
        );
        assert_eq!(read.status, 200, "{}", read.body);
    }
    for header in [None, Some(("If-None-Match", "W/\"1\""))] {
        let mut headers = vec![("Authorization", narrow.as_str())];
        headers.extend(header);
        let refused = http_with(server.address, "GET", "/Patient/guarded", None, &headers);
        assert_eq!(refused.status, 403, "{header:?}: {}", refused.body);
        assert!(!refused.body.contains("Cached"), "{}", refused.body);
    }
    let unauthenticated = server.request("GET", "/Patient/guarded", None);
    assert_eq!(unauthenticated.status, 401);
    // Both reads, the one from the cache included, are in the audit trail (written in the
    // background: wait for it).
    let siem = bearer(&server, "siem", "siem-secret-1", "system/AuditEvent.rs");
    let started = Instant::now();
    loop {
        let events = http_with(
            server.address,
            "GET",
            "/AuditEvent?_count=1000",
            None,
            &[("Authorization", &siem)],
        );
        assert_eq!(events.status, 200, "{}", events.body);
        let reads = events.json()["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| entry["resource"].to_string())
                    .filter(|event| {
                        event.contains("Patient/guarded/_history/1") && event.contains("\"read\"")
                    })
                    .count()
            })
            .unwrap_or(0);
        if reads >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{reads} audited reads of Patient/guarded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.terminate());
}
