//! Bulk Data `$export` end to end in process: kick-off, status polling, NDJSON files, the
//! manifest, cancellation, snapshot semantics, patient/group levels, `_type`, `_typeFilter`,
//! `_since`, and jobs surviving a restart. The central check: every resource the export
//! covers appears exactly once, in the version current at the job's start.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, export_server, export_worker};
use vigil_store::JobStore;

const ASYNC: (&str, &str) = ("prefer", "respond-async");

/// (type, id) -> versionId: what an export should contain.
type Expected = BTreeMap<(String, String), String>;

async fn post(server: &TestServer, resource: Value) -> Value {
    let resource_type = resource["resourceType"].as_str().unwrap().to_owned();
    let response = server
        .request("POST", &format!("/{resource_type}"), Some(resource), &[])
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

async fn put(server: &TestServer, resource: Value) -> Value {
    let path = format!(
        "/{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    let response = server.request("PUT", &path, Some(resource), &[]).await;
    assert!(response.status.is_success(), "{}", response.text());
    response.json()
}

async fn delete(server: &TestServer, resource_type: &str, id: &str) {
    let response = server
        .request("DELETE", &format!("/{resource_type}/{id}"), None, &[])
        .await;
    assert!(response.status.is_success(), "{}", response.text());
}

fn key(resource: &Value) -> (String, String) {
    (
        resource["resourceType"].as_str().unwrap().to_owned(),
        resource["id"].as_str().unwrap().to_owned(),
    )
}

fn record(expected: &mut Expected, resource: &Value) {
    expected.insert(
        key(resource),
        resource["meta"]["versionId"].as_str().unwrap().to_owned(),
    );
}

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("Family-{id}")}]})
}

fn observation(subject: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": format!("Patient/{subject}")}})
}

/// Kicks off an export and returns its status URL path (`/_export/<id>`).
async fn kickoff(server: &TestServer, url: &str) -> String {
    let response = server.request("GET", url, None, &[ASYNC]).await;
    assert_eq!(
        response.status,
        StatusCode::ACCEPTED,
        "{url}: {}",
        response.text()
    );
    let location = response
        .header("content-location")
        .expect("Content-Location");
    let path = location
        .strip_prefix("http://localhost")
        .expect("absolute status URL")
        .to_owned();
    assert!(path.starts_with("/_export/"), "{location}");
    path
}

/// Polls until the manifest is ready.
async fn wait_for_manifest(server: &TestServer, status_path: &str) -> Value {
    for _ in 0..600 {
        let response = server.request("GET", status_path, None, &[]).await;
        match response.status {
            StatusCode::OK => {
                assert_eq!(
                    response.header("content-type").as_deref(),
                    Some("application/json")
                );
                return response.json();
            }
            StatusCode::ACCEPTED => {
                assert!(
                    response.header("x-progress").is_some(),
                    "202 carries X-Progress"
                );
                assert!(
                    response.headers.contains_key("retry-after"),
                    "202 carries Retry-After"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => panic!("status {other}: {}", response.text()),
        }
    }
    panic!("export did not finish in time");
}

/// Downloads every file of a manifest; returns (type, id) -> versionId and fails on any
/// resource seen twice or a count that does not match the file.
async fn download(server: &TestServer, manifest: &Value) -> Expected {
    let mut seen = Expected::new();
    for output in manifest["output"].as_array().expect("output array") {
        let url = output["url"].as_str().unwrap();
        let path = url.strip_prefix("http://localhost").unwrap();
        let response = server.request("GET", path, None, &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{url}");
        assert_eq!(
            response.header("content-type").as_deref(),
            Some("application/fhir+ndjson")
        );
        let text = response.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len() as u64,
            output["count"].as_u64().unwrap(),
            "count of {url}"
        );
        for line in lines {
            let resource: Value = serde_json::from_str(line).expect("one JSON resource per line");
            assert_eq!(resource["resourceType"], output["type"], "{url}");
            let version = resource["meta"]["versionId"].as_str().unwrap().to_owned();
            let previous = seen.insert(key(&resource), version);
            assert!(previous.is_none(), "{:?} exported twice", key(&resource));
        }
    }
    seen
}

async fn export(server: &TestServer, url: &str) -> (Value, Expected) {
    let status = kickoff(server, url).await;
    let manifest = wait_for_manifest(server, &status).await;
    let seen = download(server, &manifest).await;
    (manifest, seen)
}

fn types_of(expected: &Expected) -> BTreeSet<String> {
    expected.keys().map(|(t, _)| t.clone()).collect()
}

/// A kick-off URL, its headers and the status expected.
type KickoffCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    StatusCode,
);

#[tokio::test]
async fn kickoff_is_checked_before_a_job_exists() {
    let data = tempfile::tempdir().unwrap();
    let (server, _service) = export_server(data.path());
    let cases: &[KickoffCase] = &[
        ("/$export", &[], StatusCode::BAD_REQUEST),
        (
            "/$export?_outputFormat=text/csv",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/$export?_since=yesterday",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        ("/$export?_type=Nonsense", &[ASYNC], StatusCode::BAD_REQUEST),
        (
            "/Patient/$export?_type=Medication",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/$export?_type=Patient&_typeFilter=Observation%3Fcode%3D1",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/$export?_typeFilter=Observation%3Fnot-a-param%3D1",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/$export?_typeFilter=no-question-mark",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/$export?patient=Patient/1",
            &[ASYNC],
            StatusCode::BAD_REQUEST,
        ),
        ("/Group/missing/$export", &[ASYNC], StatusCode::NOT_FOUND),
        (
            "/$export?patient=Patient/1",
            &[ASYNC, ("prefer", "handling=lenient")],
            StatusCode::ACCEPTED,
        ),
        (
            "/$export?_outputFormat=application/fhir%2Bndjson&_type=Patient,Observation",
            &[ASYNC],
            StatusCode::ACCEPTED,
        ),
        (
            "/$export?_outputFormat=ndjson&_since=2020-01-01T00:00:00Z",
            &[ASYNC],
            StatusCode::ACCEPTED,
        ),
    ];
    for (url, headers, status) in cases {
        let response = server.request("GET", url, None, headers).await;
        assert_eq!(response.status, *status, "{url}: {}", response.text());
        if !status.is_success() {
            assert_eq!(response.json()["resourceType"], "OperationOutcome", "{url}");
        }
    }
    let unknown = server
        .request("GET", "/_export/no-such-job", None, &[])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let file = server
        .request("GET", "/_export/no-such-job/Patient-1.ndjson", None, &[])
        .await;
    assert_eq!(file.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn export_is_disabled_without_an_export_directory() {
    let server = TestServer::new();
    let response = server.request("GET", "/$export", None, &[ASYNC]).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        response.text().contains("not enabled"),
        "{}",
        response.text()
    );
}

/// Several types, updates and deletes: the export holds every live resource exactly once, in
/// its current version, and nothing deleted.
#[tokio::test]
async fn a_system_export_holds_every_resource_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let _worker = export_worker(&server, &service);
    let mut expected = Expected::new();
    for n in 0..12 {
        let created = post(
            &server,
            json!({"resourceType": "Patient", "name": [{"family": format!("P{n}")}]}),
        )
        .await;
        record(&mut expected, &created);
        for code in ["8867-4", "8310-5", "59408-5"] {
            let obs = post(&server, observation(created["id"].as_str().unwrap(), code)).await;
            record(&mut expected, &obs);
        }
    }
    let org = post(
        &server,
        json!({"resourceType": "Organization", "name": "Ward 12"}),
    )
    .await;
    record(&mut expected, &org);
    let med = post(
        &server,
        json!({"resourceType": "Medication", "code": {"text": "paracetamol"}}),
    )
    .await;
    record(&mut expected, &med);
    // Updates: exported in their newest version.
    let keys: Vec<(String, String)> = expected.keys().cloned().collect();
    for (_, id) in keys.iter().filter(|(t, _)| t == "Patient").take(4) {
        let mut changed = patient(id);
        changed["active"] = json!(true);
        let updated = put(&server, changed).await;
        assert_eq!(updated["meta"]["versionId"], "2");
        record(&mut expected, &updated);
    }
    // Deletes: not exported.
    for (resource_type, id) in keys.iter().filter(|(t, _)| t == "Observation").take(5) {
        delete(&server, resource_type, id).await;
        expected.remove(&(resource_type.clone(), id.clone()));
    }
    // Deleted then re-created: exported once, newest version.
    let (_, reborn) = keys
        .iter()
        .find(|(t, _)| t == "Observation")
        .unwrap()
        .clone();
    let mut again = observation("x", "8867-4");
    again["id"] = json!(reborn);
    let recreated = put(&server, again).await;
    record(&mut expected, &recreated);

    let (manifest, seen) = export(&server, "/$export").await;
    assert_eq!(seen, expected);
    assert_eq!(manifest["requiresAccessToken"], false);
    assert_eq!(manifest["error"], json!([]));
    assert_eq!(manifest["request"], "http://localhost/$export");
    assert!(manifest["transactionTime"].as_str().unwrap().ends_with('Z'));
    // 32 Observations at 25 per file: two files.
    let observation_files: Vec<&Value> = manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "Observation")
        .collect();
    assert_eq!(observation_files.len(), 2, "{manifest}");
    assert_eq!(
        types_of(&seen),
        ["Medication", "Observation", "Organization", "Patient"]
            .map(String::from)
            .into()
    );
}

/// Writes after the kick-off are not in the export: it is a snapshot of the moment the job
/// was accepted, even when the worker only starts later.
#[tokio::test]
async fn an_export_is_a_snapshot_of_its_transaction_time() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let mut expected = Expected::new();
    let mut ids = Vec::new();
    for n in 0..6 {
        let created = post(&server, patient(&format!("s{n}"))).await;
        record(&mut expected, &created);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let status = kickoff(&server, "/$export?_type=Patient").await;
    // After the snapshot: an update, a delete, a new resource.
    let mut changed = patient(&ids[0]);
    changed["active"] = json!(false);
    assert_eq!(put(&server, changed).await["meta"]["versionId"], "2");
    delete(&server, "Patient", &ids[1]).await;
    post(&server, patient("late")).await;
    let pending = server.request("GET", &status, None, &[]).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED);

    let _worker = export_worker(&server, &service);
    let manifest = wait_for_manifest(&server, &status).await;
    assert_eq!(download(&server, &manifest).await, expected);
}

/// Patient level: the compartments of all patients, nothing outside them. Group level: the
/// members and their compartments only. A resource in two members' compartments is
/// exported once.
#[tokio::test]
async fn patient_and_group_exports_follow_the_compartments() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let _worker = export_worker(&server, &service);
    let mut by_patient: BTreeMap<String, Expected> = BTreeMap::new();
    let mut everything = Expected::new();
    for id in ["a", "b", "c"] {
        let created = put(&server, patient(id)).await;
        let mut mine = Expected::new();
        record(&mut mine, &created);
        for code in ["8867-4", "8310-5"] {
            record(&mut mine, &post(&server, observation(id, code)).await);
        }
        record(&mut mine, &post(&server, json!({"resourceType": "Condition", "subject": {"reference": format!("Patient/{id}")}})).await);
        everything.extend(mine.clone());
        by_patient.insert(id.to_owned(), mine);
    }
    // In the compartments of a (subject) and b (performer).
    let shared = post(
        &server,
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "shared"},
        "subject": {"reference": "Patient/a"}, "performer": [{"reference": "Patient/b"}]}),
    )
    .await;
    record(&mut everything, &shared);
    // Outside every patient compartment.
    let practitioner = post(
        &server,
        json!({"resourceType": "Practitioner", "name": [{"family": "Who"}]}),
    )
    .await;
    post(&server, json!({"resourceType": "Observation", "status": "final", "code": {"text": "no patient"},
        "performer": [{"reference": format!("Practitioner/{}", practitioner["id"].as_str().unwrap())}]})).await;
    let group = put(&server, json!({"resourceType": "Group", "id": "g1", "type": "person", "actual": true,
        "member": [{"entity": {"reference": "Patient/a"}}, {"entity": {"reference": "Patient/b"}}]})).await;
    // The Group is in the compartments of its members.
    record(&mut everything, &group);

    let (_, seen) = export(&server, "/Patient/$export").await;
    assert_eq!(seen, everything);

    let mut members = by_patient["a"].clone();
    members.extend(by_patient["b"].clone());
    record(&mut members, &shared);
    record(&mut members, &group);
    let (manifest, seen) = export(&server, "/Group/g1/$export").await;
    assert_eq!(seen, members);
    assert_eq!(manifest["request"], "http://localhost/Group/g1/$export");
}

#[tokio::test]
async fn type_type_filter_and_since_narrow_the_export() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let _worker = export_worker(&server, &service);
    let mut heart_rates = Expected::new();
    let mut patients = Expected::new();
    for n in 0..9 {
        let p = post(&server, patient(&format!("f{n}"))).await;
        record(&mut patients, &p);
        let id = p["id"].as_str().unwrap();
        record(
            &mut heart_rates,
            &post(&server, observation(id, "8867-4")).await,
        );
        post(&server, observation(id, "8310-5")).await;
    }
    let (_, seen) = export(
        &server,
        "/$export?_type=Observation&_typeFilter=Observation%3Fcode%3Dhttp://loinc.org%7C8867-4",
    )
    .await;
    assert_eq!(seen, heart_rates);

    // Two filters for a type are alternatives; types without a filter are exported whole.
    let both = "/$export?_type=Patient,Observation&_typeFilter=Observation%3Fcode%3D8867-4,Observation%3Fcode%3D8310-5";
    let (_, seen) = export(&server, both).await;
    assert_eq!(seen.len(), 27);
    assert_eq!(
        types_of(&seen),
        ["Observation", "Patient"].map(String::from).into()
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = vigil_service::format_instant(vigil_service::now_micros());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut late = Expected::new();
    record(&mut late, &post(&server, patient("late-1")).await);
    let mut changed = patient("f0");
    changed["active"] = json!(true);
    record(&mut late, &put(&server, changed).await);
    let (_, seen) = export(
        &server,
        &format!("/$export?_since={}", since.replace(':', "%3A")),
    )
    .await;
    assert_eq!(seen, late);
}

#[tokio::test]
async fn cancelling_removes_the_job_and_its_files() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    post(&server, patient("c1")).await;
    // Cancelled before the worker runs it: it never runs.
    let pending = kickoff(&server, "/$export").await;
    assert_eq!(
        server.request("DELETE", &pending, None, &[]).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        server.request("GET", &pending, None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.request("DELETE", &pending, None, &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let _worker = export_worker(&server, &service);
    let done = kickoff(&server, "/$export?_type=Patient").await;
    let manifest = wait_for_manifest(&server, &done).await;
    let job_dir = data
        .path()
        .join("export")
        .join(done.trim_start_matches("/_export/"));
    assert!(job_dir.join("Patient-1.ndjson").is_file());
    let file = manifest["output"][0]["url"]
        .as_str()
        .unwrap()
        .strip_prefix("http://localhost")
        .unwrap()
        .to_owned();
    assert_eq!(
        server.request("DELETE", &done, None, &[]).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        server.request("GET", &done, None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.request("GET", &file, None, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!job_dir.exists(), "files removed");
    // The worker clears the cancelled pending job away too.
    let pending_dir = data
        .path()
        .join("export")
        .join(pending.trim_start_matches("/_export/"));
    for _ in 0..200 {
        if service
            .job(pending.trim_start_matches("/_export/"))
            .unwrap()
            .is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        service
            .job(pending.trim_start_matches("/_export/"))
            .unwrap(),
        None
    );
    assert!(!pending_dir.exists());
}

/// Restart the server on the same data directory.
fn restart(data: &Path) -> (TestServer, vigil_service::FhirService) {
    export_server(data)
}

/// An accepted job waits for the next start; a job in progress at shutdown is resumed, and a
/// partial file it left is rewritten, not appended to.
#[tokio::test]
async fn jobs_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut expected = Expected::new();
    let (accepted, running) = {
        let (server, _service) = export_server(data.path());
        for n in 0..10 {
            record(
                &mut expected,
                &post(&server, patient(&format!("r{n}"))).await,
            );
        }
        (
            kickoff(&server, "/$export?_type=Patient").await,
            kickoff(&server, "/$export?_type=Patient").await,
        )
    };
    // Simulate a process killed while running the second job: state in-progress, half a file.
    let running_id = running.trim_start_matches("/_export/").to_owned();
    {
        let store =
            vigil_store::sqlite::SqliteStore::open(data.path(), Default::default()).unwrap();
        let mut record = store.job(&running_id).unwrap().unwrap();
        record.state = "in-progress".into();
        assert!(store.update_job(&record, "accepted").unwrap());
        store.close().unwrap();
        let dir = data.path().join("export").join(&running_id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Patient-1.ndjson"),
            "{\"resourceType\":\"Patient\",\"id\":\"r0\"}\n{\"trunc",
        )
        .unwrap();
    }
    let (server, service) = restart(data.path());
    let _worker = export_worker(&server, &service);
    for status in [&accepted, &running] {
        let manifest = wait_for_manifest(&server, status).await;
        assert_eq!(download(&server, &manifest).await, expected, "{status}");
    }
}

/// A file of several megabytes (many 64 KiB body chunks) is served streamed, byte for byte
/// equal to the file the job wrote, with its length declared up front.
#[tokio::test]
async fn a_large_export_file_is_streamed_intact() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let padding = "x".repeat(2_000);
    for batch in 0..4 {
        let patients = (0..500)
            .map(|n| {
                let id = format!("big-{batch}-{n}");
                json!({"resourceType": "Patient", "id": id,
                    "name": [{"family": format!("Family-{id}"), "text": padding}]})
            })
            .collect();
        server.put_all(patients).await;
    }
    let options = vigil_bulk::ExportOptions {
        page_size: 500,
        max_resources_per_file: 10_000,
        safety_interval: support::NO_POLLING,
    };
    let _worker =
        vigil_bulk::ExportWorker::start(service.clone(), options, &server.exports).unwrap();
    let status = kickoff(&server, "/$export?_type=Patient").await;
    let manifest = wait_for_manifest(&server, &status).await;
    let output = &manifest["output"][0];
    assert_eq!(output["count"], 2_000);
    let url = output["url"].as_str().unwrap();
    let response = server
        .request(
            "GET",
            url.strip_prefix("http://localhost").unwrap(),
            None,
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let job = status.trim_start_matches("/_export/");
    let file_name = url.rsplit('/').next().unwrap();
    let on_disk = std::fs::read(data.path().join("export").join(job).join(file_name)).unwrap();
    assert!(on_disk.len() > 4_000_000, "{} bytes", on_disk.len());
    assert_eq!(
        response.header("content-length"),
        Some(on_disk.len().to_string())
    );
    assert!(response.body == on_disk, "the served bytes equal the file");
    assert_eq!(response.text().lines().count(), 2_000);
}

/// A job accepted while the worker sits idle is started by the kick-off's wake-up: the worker
/// never polls (its safety interval is an hour), yet each export finishes within the bounded
/// wait of `wait_for_manifest`, including one kicked off after the worker went idle again.
#[tokio::test]
async fn a_kickoff_wakes_an_idle_worker() {
    let data = tempfile::tempdir().unwrap();
    let (server, service) = export_server(data.path());
    let _worker = export_worker(&server, &service);
    // Let the worker's first run (which finds no job) end, so it waits for a wake-up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut expected = Expected::new();
    for round in 0..2 {
        record(
            &mut expected,
            &post(&server, patient(&format!("idle-{round}"))).await,
        );
        let status = kickoff(&server, "/$export?_type=Patient").await;
        let manifest = wait_for_manifest(&server, &status).await;
        assert_eq!(
            download(&server, &manifest).await,
            expected,
            "round {round}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
