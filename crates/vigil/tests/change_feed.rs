//! The change feed across kill -9: eight writers post over HTTP to the real binary while two
//! file-sink consumers (`--change-log-consumer`) append what they are delivered; the server is
//! killed with SIGKILL mid-load and restarted. After dropping re-deliveries (a line whose seq is
//! not above the previous one), each consumer's file must hold every committed version, in
//! commit order, with no gap, including every write a client got a 201 for.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Vigil, try_http};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{HistoryQuery, HistoryScope, ResourceStore};

const CONSUMERS: [&str; 2] = ["first", "second"];

/// One delivered line: (seq, type, id, version).
type Delivered = (u64, String, String, u64);

fn start(data: &Path, logs: &Path) -> Vigil {
    let logs = logs.to_str().expect("utf-8 temp path");
    Vigil::start_with(
        data,
        &[
            "--change-log-dir",
            logs,
            "--change-log-consumer",
            CONSUMERS[0],
            "--change-log-consumer",
            CONSUMERS[1],
        ],
    )
}

/// The file's lines in order (a torn last line, possible only while the server runs, is
/// skipped).
fn read_log(path: &Path) -> Vec<Delivered> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|value| {
            (
                value["seq"].as_u64().expect("seq"),
                value["resourceType"].as_str().expect("type").to_owned(),
                value["id"].as_str().expect("id").to_owned(),
                value["versionId"].as_u64().expect("versionId"),
            )
        })
        .collect()
}

/// Drops re-deliveries: after a crash a consumer starts again from its saved position, so a
/// line whose seq is not above every earlier line's was delivered before.
fn without_redeliveries(lines: Vec<Delivered>) -> (Vec<Delivered>, usize) {
    let mut kept: Vec<Delivered> = Vec::new();
    let mut repeated = 0;
    for line in lines {
        if kept.last().is_some_and(|last| line.0 <= last.0) {
            repeated += 1;
        } else {
            kept.push(line);
        }
    }
    (kept, repeated)
}

/// Writers post patients until the server stops answering; acknowledged ids are collected.
fn spawn_writers(
    vigil: &Vigil,
    acknowledged: &Arc<Mutex<Vec<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let address = vigil.address;
    (0..8)
        .map(|writer| {
            let acknowledged = Arc::clone(acknowledged);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                for n in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let body = format!(
                        r#"{{"resourceType":"Patient","name":[{{"family":"W{writer}N{n}"}}]}}"#
                    );
                    match try_http(address, "POST", "/Patient", Some(&body)) {
                        Ok(response) if response.status == 201 => {
                            let location = response.header("location").expect("Location");
                            let id = location
                                .split("/Patient/")
                                .nth(1)
                                .and_then(|rest| rest.split('/').next())
                                .expect("id in Location")
                                .to_owned();
                            acknowledged.lock().expect("acknowledged list").push(id);
                        }
                        Ok(response) => panic!("status {}: {}", response.status, response.body),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect()
}

fn created_id(vigil: &Vigil, body: &str) -> String {
    let response = vigil.request("POST", "/Patient", Some(body));
    assert_eq!(response.status, 201, "{}", response.body);
    response.json()["id"].as_str().expect("id").to_owned()
}

#[test]
fn every_committed_version_reaches_each_consumer_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let vigil = start(&data, &logs);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let writers = spawn_writers(&vigil, &acknowledged);

    // Kill mid-load: writers still sending, consumers part-way through.
    let started = Instant::now();
    while (acknowledged.lock().expect("acknowledged list").len() < 1000
        || read_log(&logs.join("first.ndjson")).is_empty())
        && started.elapsed() < Duration::from_secs(25)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    vigil.kill_hard();
    for writer in writers {
        writer.join().unwrap();
    }
    let before_kill = acknowledged.lock().expect("acknowledged list").len();
    assert!(
        before_kill >= 400,
        "only {before_kill} writes before the kill"
    );

    // Restart: the consumers resume from their saved positions; more writes follow.
    let vigil = start(&data, &logs);
    let mut after: Vec<String> = (0..20)
        .map(|n| {
            created_id(
                &vigil,
                &format!(r#"{{"resourceType":"Patient","name":[{{"family":"After{n}"}}]}}"#),
            )
        })
        .collect();
    let marker = created_id(&vigil, r#"{"resourceType":"Patient","active":true}"#);
    after.push(marker.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    for consumer in CONSUMERS {
        let path = logs.join(format!("{consumer}.ndjson"));
        while !read_log(&path).iter().any(|line| line.2 == marker) {
            assert!(
                Instant::now() < deadline,
                "{consumer} never delivered the last write"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(vigil.terminate(), "vigil did not exit cleanly");

    // Everything the store committed, in commit (seq) order.
    let store = SqliteStore::open(&data, SqliteOptions::default()).expect("open the data");
    let mut committed: Vec<Delivered> = store
        .history(&HistoryQuery {
            scope: HistoryScope::System,
            since_micros: None,
            before_micros: None,
            before_seq: None,
            limit: 1_000_000,
        })
        .expect("history")
        .into_iter()
        .map(|v| (v.seq, v.resource_type, v.id, v.meta.version_id))
        .collect();
    committed.reverse();
    let positions: Vec<u64> = committed.iter().map(|line| line.0).collect();
    assert_eq!(
        positions,
        (1..=committed.len() as u64).collect::<Vec<_>>(),
        "SQLite positions have no holes"
    );
    let acknowledged: BTreeSet<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .chain(after)
        .collect();

    for consumer in CONSUMERS {
        let (delivered, repeated) =
            without_redeliveries(read_log(&logs.join(format!("{consumer}.ndjson"))));
        assert_eq!(
            delivered.len(),
            committed.len(),
            "{consumer}: every committed version once"
        );
        assert_eq!(delivered, committed, "{consumer}: commit order, no gap");
        let ids: BTreeSet<&String> = delivered.iter().map(|line| &line.2).collect();
        let missing: Vec<&String> = acknowledged.iter().filter(|id| !ids.contains(id)).collect();
        assert!(
            missing.is_empty(),
            "{consumer}: acknowledged writes missing: {missing:?}"
        );
        println!(
            "{consumer}: {} versions delivered in order ({repeated} re-delivered after the kill); {} acknowledged writes all present",
            delivered.len(),
            acknowledged.len()
        );
    }
}

#[test]
fn a_change_log_name_that_is_not_a_file_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--change-log-dir")
        .arg(dir.path().join("logs"))
        .args(["--change-log-consumer", "../escape"])
        .output()
        .expect("run vigil");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("letters, digits"), "{stderr}");
    assert!(!dir.path().join("escape.ndjson").exists());

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--change-log-consumer", "alone"])
        .output()
        .expect("run vigil");
    assert!(
        !output.status.success(),
        "a consumer needs --change-log-dir"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--change-log-dir"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
