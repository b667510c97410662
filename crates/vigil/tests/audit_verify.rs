//! `vigil audit verify --data DIR` against a real trail: exit 0 with the count and head hash
//! when intact; exit 2 naming the first broken record when one is altered, removed (first,
//! middle, last) or reordered by raw SQL (the append-only triggers dropped first, as an
//! attacker with write access to the file would). Also: a served run's reads and writes are
//! all in the trail after a graceful stop.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::json;
use support::Vigil;
use vigil_service::{
    AuditTrail, FhirService, Preconditions, Principal, RequestContext, ServiceConfig,
};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

/// A data directory whose trail holds six records: three writes (in their commits) and three
/// reads (through the background writer).
fn trail() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    {
        let service = FhirService::open(store.clone(), ServiceConfig::default()).unwrap();
        let trail = AuditTrail::start(&service, Default::default()).unwrap();
        let service = service.with_audit_hook(Arc::new(trail));
        let context = RequestContext::new(Principal::User { id: "alice".into() }, "http://x");
        for id in ["a", "b", "c"] {
            let body = json!({"resourceType": "Patient", "id": id});
            service
                .update(&context, "Patient", id, body, &Preconditions::default())
                .unwrap();
            service.read(&context, "Patient", id).unwrap();
        }
        service.flush_audit();
    }
    Arc::try_unwrap(store)
        .unwrap_or_else(|_| panic!("store still shared"))
        .close()
        .unwrap();
    dir
}

fn verify(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["audit", "verify", "--log", "warn", "--data"])
        .arg(dir)
        .output()
        .unwrap()
}

/// Runs raw SQL on the database with the append-only triggers removed.
fn tamper(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("vigil.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; \
         DROP TRIGGER audit_key_no_update; DROP TRIGGER audit_key_no_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn assert_broken_at(dir: &Path, seq: u64) {
    let output = verify(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("BROKEN at record {seq}\n")),
        "expected record {seq}: {stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!("audit record {seq} is broken")),
        "{stderr}"
    );
}

#[test]
fn an_intact_trail_verifies_and_prints_its_head() {
    let dir = trail();
    let output = verify(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("intact: 6 records; head: record 6 hash "),
        "{stdout}"
    );
    let hash = head_hash(&stdout);
    // The head printed is the stored one.
    let conn = rusqlite::Connection::open(dir.path().join("vigil.db")).unwrap();
    let stored: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = 6", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, hash);
}

/// The head hash an intact run printed.
fn head_hash(stdout: &str) -> String {
    let after = stdout.split(" hash ").nth(1).unwrap();
    let hash = after.split_whitespace().next().unwrap();
    assert_eq!(hash.len(), 64, "{stdout}");
    hash.to_owned()
}

/// seq, recorded, request_id, agent, action, outcome, entity, event
type AuditRow = (i64, i64, String, String, String, String, String, String);

/// Recomputes the chain from `from` on and the head, as an attacker with the code would.
fn rechain(dir: &Path, from: i64) {
    use vigil_store::audit_chain::{HashedFields, entry_hash};
    let conn = rusqlite::Connection::open(dir.join("vigil.db")).unwrap();
    let mut prev: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [from - 1], |row| {
            row.get(0)
        })
        .unwrap();
    let rows: Vec<AuditRow> = conn
        .prepare(
            "SELECT seq, recorded, request_id, agent, action, outcome, entity, event FROM audit \
             WHERE seq >= ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([from], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (seq, recorded, request_id, agent, action, outcome, entity, event) in rows {
        let fields = HashedFields {
            seq: u64::try_from(seq).unwrap(),
            recorded_micros: recorded,
            request_id: &request_id,
            agent: &agent,
            action: &action,
            outcome: &outcome,
            entity: &entity,
            event: &event,
        };
        let hash = entry_hash(&fields, &prev);
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        conn.execute(
            "UPDATE setting SET value = ?1 WHERE name = 'audit-head'",
            [format!("{seq} {hash}")],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn a_rewritten_tail_passes_alone_but_not_against_a_head_kept_outside() {
    // Truncated together with its head: consistent on its own (the documented limit).
    let dir = trail();
    let head = head_hash(&String::from_utf8_lossy(&verify(dir.path()).stdout));
    tamper(
        dir.path(),
        "DELETE FROM audit WHERE seq = 6; \
         UPDATE setting SET value = (SELECT seq || ' ' || hash FROM audit WHERE seq = 5) \
         WHERE name = 'audit-head';",
    );
    assert!(verify(dir.path()).status.success());
    let anchored = verify_with_head(dir.path(), &format!("6:{head}"));
    assert_eq!(anchored.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&anchored.stdout).contains("BROKEN at record 6\n"));

    // A record altered and every later hash and the head recomputed.
    let dir = trail();
    let head = head_hash(&String::from_utf8_lossy(&verify(dir.path()).stdout));
    tamper(
        dir.path(),
        "UPDATE audit SET agent = 'user:mallory' WHERE seq = 4",
    );
    rechain(dir.path(), 4);
    assert!(verify(dir.path()).status.success());
    let anchored = verify_with_head(dir.path(), &format!("6:{head}"));
    assert_eq!(anchored.status.code(), Some(2));
    // An untouched trail extends an older head.
    let dir = trail();
    let head = head_hash(&String::from_utf8_lossy(&verify(dir.path()).stdout));
    assert!(
        verify_with_head(dir.path(), &format!("6:{head}"))
            .status
            .success()
    );
    // A malformed head is refused.
    assert!(!verify_with_head(dir.path(), "6:xyz").status.success());
}

fn verify_with_head(dir: &Path, head: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["audit", "verify", "--log", "warn", "--head", head, "--data"])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn an_altered_record_is_named() {
    for seq in [1, 3, 6] {
        let dir = trail();
        tamper(
            dir.path(),
            &format!("UPDATE audit SET agent = 'user:mallory' WHERE seq = {seq}"),
        );
        assert_broken_at(dir.path(), seq);
    }
    // A record's stored hash replaced, and a record's time moved.
    let dir = trail();
    tamper(dir.path(), "UPDATE audit SET hash = 'f00d' WHERE seq = 2");
    assert_broken_at(dir.path(), 2);
    let dir = trail();
    tamper(
        dir.path(),
        "UPDATE audit SET recorded = recorded + 1 WHERE seq = 4",
    );
    assert_broken_at(dir.path(), 4);
}

#[test]
fn a_removed_record_is_named_first_middle_and_last() {
    for seq in [1, 3, 6] {
        let dir = trail();
        tamper(dir.path(), &format!("DELETE FROM audit WHERE seq = {seq}"));
        assert_broken_at(dir.path(), seq);
    }
    // The last two removed and the rest renumbered: still caught by the head.
    let dir = trail();
    tamper(dir.path(), "DELETE FROM audit WHERE seq >= 5");
    assert_broken_at(dir.path(), 5);
    // A middle record removed and the later ones renumbered to close the gap.
    let dir = trail();
    tamper(
        dir.path(),
        "DELETE FROM audit WHERE seq = 2; UPDATE audit SET seq = seq - 1 WHERE seq > 2;",
    );
    assert_broken_at(dir.path(), 2);
}

#[test]
fn reordered_records_are_named() {
    // Swap the content of records 2 and 3, positions kept.
    let dir = trail();
    tamper(
        dir.path(),
        "UPDATE audit SET seq = -2 WHERE seq = 2; \
         UPDATE audit SET seq = 2 WHERE seq = 3; \
         UPDATE audit SET seq = 3 WHERE seq = -2;",
    );
    assert_broken_at(dir.path(), 2);
    // Records swapped with their hashes and links kept: the links no longer fit.
    let dir = trail();
    tamper(
        dir.path(),
        "UPDATE audit SET seq = -5 WHERE seq = 5; \
         UPDATE audit SET seq = 5 WHERE seq = 6; \
         UPDATE audit SET seq = 6 WHERE seq = -5;",
    );
    assert_broken_at(dir.path(), 5);
}

#[test]
fn a_missing_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = verify(dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no Vigil database"));
}

#[test]
fn a_served_run_leaves_every_access_in_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    // Without CDS, whose consumers' own reads would be audited too and make the count racy.
    let vigil = Vigil::start_with(dir.path(), &["--no-cds"]);
    let created = vigil.request("POST", "/Patient", Some(r#"{"resourceType":"Patient"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        vigil.request("GET", &format!("/Patient/{id}"), None).status,
        200
    );
    assert_eq!(
        vigil.request("GET", "/Patient?_id=nobody", None).status,
        200
    );
    assert_eq!(vigil.request("GET", "/Patient/nobody", None).status, 404);
    // The trail is served read-only.
    let events = vigil.request("GET", &format!("/AuditEvent?entity=Patient/{id}"), None);
    assert_eq!(events.status, 200, "{}", events.body);
    // The create's event was committed with the Patient (the reads' may still be queued).
    let bundle = events.json();
    let created_event = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .find(|r| r["subtype"][0]["code"] == "create")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        created_event["resourceType"], "AuditEvent",
        "{}",
        events.body
    );
    assert_eq!(created_event["action"], "C");
    let event_id = created_event["id"].as_str().unwrap().to_owned();
    let read = vigil.request("GET", &format!("/AuditEvent/{event_id}"), None);
    assert_eq!(read.status, 200);
    assert_eq!(read.json(), created_event);
    let forged = r#"{"resourceType":"AuditEvent","recorded":"2026-01-01T00:00:00Z","type":{"code":"rest"},"agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}"#;
    let refused = vigil.request("POST", "/AuditEvent", Some(forged));
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["resourceType"], "OperationOutcome");
    assert_eq!(refused.json()["issue"][0]["code"], "forbidden");
    assert_eq!(vigil.request("DELETE", "/AuditEvent/1", None).status, 403);
    assert!(vigil.terminate(), "graceful stop");

    let output = verify(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // create, read, search, read (404), the AuditEvent search and read, and the two refused
    // writes.
    assert!(stdout.contains("intact: 8 records"), "{stdout}");
}

#[test]
fn every_acknowledged_write_keeps_its_record_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let mut created = Vec::new();
    for _ in 0..20 {
        let response = vigil.request("POST", "/Patient", Some(r#"{"resourceType":"Patient"}"#));
        assert_eq!(response.status, 201, "{}", response.body);
        created.push(response.json()["id"].as_str().unwrap().to_owned());
        // Reads in between: their records may or may not be written before the kill.
        vigil.request("GET", "/Patient", None);
    }
    vigil.kill_hard();

    let output = verify(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let conn = rusqlite::Connection::open(dir.path().join("vigil.db")).unwrap();
    for id in created {
        let entity = format!("Patient/{id}/_history/1");
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM audit WHERE action = 'create' AND entity = ?1",
                [&entity],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "{entity}");
    }
}

#[test]
fn a_bulk_export_is_audited_from_kick_off_to_download() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    for _ in 0..3 {
        let created = vigil.request("POST", "/Patient", Some(r#"{"resourceType":"Patient"}"#));
        assert_eq!(created.status, 201);
    }
    let kickoff = support::http_with(
        vigil.address,
        "GET",
        "/Patient/$export?_type=Patient",
        None,
        &[("prefer", "respond-async")],
    );
    assert_eq!(kickoff.status, 202, "{}", kickoff.body);
    let location = kickoff.header("content-location").unwrap().to_owned();
    let status_path = location[location.find("/_export/").unwrap()..].to_owned();
    let mut manifest = None;
    for _ in 0..400 {
        let status = vigil.request("GET", &status_path, None);
        if status.status == 200 {
            manifest = Some(status.json());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let manifest = manifest.expect("the export finished");
    let url = manifest["output"][0]["url"].as_str().unwrap();
    let file_path = &url[url.find("/_export/").unwrap()..];
    assert_eq!(vigil.request("GET", file_path, None).status, 200);
    assert!(vigil.terminate());

    assert!(verify(dir.path()).status.success());
    let conn = rusqlite::Connection::open(dir.path().join("vigil.db")).unwrap();
    let actions: Vec<(String, String)> = conn
        .prepare("SELECT action, entity FROM audit WHERE action LIKE 'export%' ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let job = status_path.trim_start_matches("/_export/");
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(
        actions[0],
        ("export".to_owned(), format!("export-job/{job}"))
    );
    // The page written: every exported Patient, and the job.
    assert_eq!(actions[1].0, "export");
    assert_eq!(
        actions[1].1.matches("Patient/").count(),
        3,
        "{}",
        actions[1].1
    );
    assert!(actions[1].1.ends_with(&format!("export-job/{job}")));
    assert_eq!(
        actions[2],
        ("export-file".to_owned(), format!("export-job/{job}"))
    );
}
