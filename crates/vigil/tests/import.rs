//! `vigil import` with the real binary: Synthea bundles with their providers (counts,
//! references that resolve, a re-run that writes nothing), NDJSON with bad lines, and memory
//! that does not grow with the file.

mod support;

use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::Vigil;

fn shared_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The Synthea directory, or `None` (with a note) when the corpus is missing outside CI.
fn synthea() -> Option<PathBuf> {
    let dir = shared_dir().join("data/synthea");
    if dir.join("synthea-r4.tar.xz").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the Synthea corpus is missing from {}",
        dir.display()
    );
    eprintln!("skipped: no Synthea corpus in {}", dir.display());
    None
}

fn import(data: &Path, inputs: &[&Path], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["import", "--log", "warn", "--data"])
        .arg(data)
        .args(extra)
        .args(inputs)
        .output()
        .expect("run vigil import")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every resource of the server, through the system history (one version each here).
fn all_resources(vigil: &Vigil) -> Vec<Value> {
    let mut resources = Vec::new();
    let mut path = "/_history?_count=1000".to_owned();
    loop {
        let response = vigil.request("GET", &path, None);
        assert_eq!(response.status, 200, "{}", response.body);
        let bundle = response.json();
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            resources.push(entry["resource"].clone());
        }
        let next = bundle["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(str::to_owned);
        match next {
            Some(url) => {
                let at = url.find("/_history").expect("a history link");
                path = url[at..].to_owned();
            }
            None => return resources,
        }
    }
}

fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(reference) if key == "reference" => out.push(reference.clone()),
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The Synthea provider bundles and the three sample patients in `INPUT/fhir` (1,124
/// resources), or `None` when the corpus is missing.
fn sample_input() -> Option<tempfile::TempDir> {
    let synthea = synthea()?;
    let input = tempfile::tempdir().expect("temp dir");
    let status = Command::new("tar")
        .args(["-xJf"])
        .arg(synthea.join("synthea-r4.tar.xz"))
        .arg("-C")
        .arg(input.path())
        .args(["--wildcards", "fhir/0-*"])
        .status()
        .expect("tar");
    assert!(status.success());
    for sample in std::fs::read_dir(synthea.join("sample")).expect("sample dir") {
        let sample = sample.expect("entry").path();
        let name = sample.file_name().expect("name");
        std::fs::copy(&sample, input.path().join("fhir").join(name)).expect("copy");
    }
    Some(input)
}

#[test]
fn synthea_bundles_load_with_their_providers_and_a_rerun_writes_nothing() {
    let Some(input) = sample_input() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    // 390 + 388 provider resources, 66 + 134 + 146 patient entries.
    let first = import(data.path(), &[&input.path().join("fhir")], &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).starts_with(
            "imported 1124 resources (1124 created, 0 updated, 0 unchanged, 0 errors) from 5 files in "
        ),
        "{}",
        text(&first.stdout)
    );

    let vigil = Vigil::start(data.path());
    let resources = all_resources(&vigil);
    assert_eq!(resources.len(), 1124);
    let ids: HashSet<String> = resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut found = Vec::new();
    resources.iter().for_each(|r| references(r, &mut found));
    let literal: Vec<&String> = found.iter().filter(|r| !r.starts_with('#')).collect();
    assert!(literal.len() > 1000, "{} references", literal.len());
    let dangling: Vec<&&String> = literal
        .iter()
        .filter(|r| !ids.contains(r.as_str()))
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    assert!(
        literal.iter().any(|r| r.starts_with("Practitioner/")),
        "conditional references to the providers were resolved"
    );
    let patient = vigil.request("GET", "/Patient/8a4c9c04-1524-9f1c-d65b-9b17e4520fef", None);
    assert_eq!(patient.status, 200, "urn:uuid fullUrls give the ids");
    assert!(vigil.terminate());

    let second = import(data.path(), &[&input.path().join("fhir")], &[]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).starts_with(
            "imported 1124 resources (0 created, 0 updated, 1124 unchanged, 0 errors) from 5 files"
        ),
        "{}",
        text(&second.stdout)
    );
    let vigil = Vigil::start(data.path());
    assert_eq!(all_resources(&vigil).len(), 1124, "no new versions");
}

/// The names of the database's search value indexes (`idx_*`).
fn value_indexes(data: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(data.join("vigil.db")).expect("open the database");
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx%' ORDER BY name")
        .expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Issue 19: the bulk import (the default) drops the value indexes and syncs once at the end;
/// when it reports success the process has exited with everything durable (WAL checkpointed
/// and empty), every index rebuilt, and index-backed searches find the imported resources.
#[test]
fn a_bulk_import_is_durable_and_indexed_when_it_reports_success() {
    let Some(input) = sample_input() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let output = import(data.path(), &[&input.path().join("fhir")], &["--timings"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("imported 1124 resources (1124 created"),
        "{}",
        text(&output.stdout)
    );
    assert!(
        text(&output.stderr).contains("9 search indexes rebuilt"),
        "{}",
        text(&output.stderr)
    );
    let wal = data.path().join("vigil.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "everything is in the database file, fsync'd by the final checkpoint"
    );
    let conn = rusqlite::Connection::open(data.path().join("vigil.db")).expect("open");
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM resource WHERE deleted = 0",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(count, 1124);
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM setting WHERE name LIKE 'bulk-load-index:%'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(pending, 0, "no index left to rebuild");
    drop(conn);
    assert_eq!(
        value_indexes(data.path()).len(),
        9,
        "{:?}",
        value_indexes(data.path())
    );

    let vigil = Vigil::start(data.path());
    let id = "8a4c9c04-1524-9f1c-d65b-9b17e4520fef";
    let patient = vigil.request("GET", &format!("/Patient/{id}"), None).json();
    let family = patient["name"][0]["family"]
        .as_str()
        .expect("a family name")
        .to_owned();
    let found = vigil.request("GET", &format!("/Patient?family={family}"), None);
    assert_eq!(found.status, 200, "{}", found.body);
    let ids: Vec<String> = found.json()["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.iter().any(|found| found == id), "{ids:?}");
    let observations = vigil.request(
        "GET",
        &format!("/Observation?subject=Patient/{id}&_summary=count"),
        None,
    );
    assert!(
        observations.json()["total"].as_u64().unwrap_or(0) > 10,
        "{}",
        observations.body
    );
    assert!(vigil.terminate());
}

/// A bulk import refuses a data directory a server has open (and says what to do); `--online`
/// shares it, committing batch by batch.
#[test]
fn a_bulk_import_refuses_a_directory_in_use_and_online_shares_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.ndjson");
    std::fs::write(
        &file,
        r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Online"}]}"#,
    )
    .expect("write");
    let data = dir.path().join("data");
    let vigil = Vigil::start(&data);
    let refused = import(&data, &[&file], &[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("in use by another process"),
        "{}",
        text(&refused.stderr)
    );
    let online = import(&data, &[&file], &["--online"]);
    assert!(online.status.success(), "{}", text(&online.stderr));
    let found = vigil.request("GET", "/Patient?family=Online&_summary=count", None);
    assert_eq!(found.json()["total"], 1, "{}", found.body);
    assert!(vigil.terminate());
}

#[test]
fn ndjson_bad_lines_are_reported_by_line_and_the_rest_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("patients.ndjson");
    let lines = [
        r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Chalmers"}]}"#,
        r#"{"resourceType":"Patient","id":"p2","name":[{"family":"#,
        r#"{"resourceType":"Patient","id":"p3","gender":"sometimes"}"#,
        "",
        r#"{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"pulse"},"subject":{"reference":"Patient/p1"}}"#,
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0d9b1a6c-0000-4000-8000-000000000001"}}"#,
    ];
    std::fs::write(&file, lines.join("\n")).expect("write");
    let data = dir.path().join("data");
    let output = import(&data, &[&file], &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "errors give a non-zero exit");
    let shown = file.display().to_string();
    for (line, needle) in [(2, "invalid JSON"), (3, "gender"), (6, "names no entry")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{shown}:{line}: ")) && l.contains(needle)),
            "line {line} ({needle}) not reported:\n{stderr}"
        );
    }
    assert!(
        text(&output.stdout).starts_with(
            "imported 2 resources (2 created, 0 updated, 0 unchanged, 3 errors) from 1 files"
        ),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_bad_bundle_entry_is_reported_by_entry_and_a_missing_file_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("b.json");
    std::fs::write(
        &bundle,
        r#"{"resourceType":"Bundle","type":"transaction","entry":[
            {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
            {"resource":{"resourceType":"Patient","birthDate":"yesterday"},"request":{"method":"POST","url":"Patient"}},
            {"request":{"method":"DELETE","url":"Patient/x"}},
            {"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},"request":{"method":"POST","url":"Observation"}}
        ]}"#,
    )
    .expect("write");
    let missing = dir.path().join("missing.ndjson");
    let output = import(&dir.path().join("data"), &[&bundle, &missing], &[]);
    let stderr = text(&output.stderr);
    let shown = bundle.display().to_string();
    assert!(stderr.contains(&format!("{shown}: entry 1: ")), "{stderr}");
    assert!(stderr.contains(&format!("{shown}: entry 2: ")), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: cannot read", missing.display())),
        "{stderr}"
    );
    assert!(
        text(&output.stdout)
            .starts_with("imported 2 resources (2 created, 0 updated, 0 unchanged, 3 errors)"),
        "{}",
        text(&output.stdout)
    );
}

/// Peak resident memory of `vigil import` on `lines` NDJSON lines of ~3 KB, in KiB, from
/// `/usr/bin/time -v`.
fn peak_rss_kib(dir: &Path, lines: usize) -> Option<u64> {
    let file = dir.join(format!("binary-{lines}.ndjson"));
    let payload = "QUJD".repeat(750);
    let mut text = String::new();
    for n in 0..lines {
        text.push_str(&format!(
            "{{\"resourceType\":\"Binary\",\"id\":\"b{n}\",\"contentType\":\"text/plain\",\"data\":\"{payload}\"}}\n"
        ));
    }
    std::fs::write(&file, text).expect("write");
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .args(["import", "--log", "warn", "--cache-mib", "4", "--data"])
        .arg(dir.join(format!("data-{lines}")))
        .arg(&file)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("({lines} created")));
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn memory_does_not_grow_with_the_file() {
    if !Path::new("/usr/bin/time").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/usr/bin/time is missing"
        );
        eprintln!("skipped: no /usr/bin/time to measure peak memory");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let small = peak_rss_kib(dir.path(), 1_000).expect("peak RSS");
    let large = peak_rss_kib(dir.path(), 20_000).expect("peak RSS");
    eprintln!("peak RSS: {small} KiB for 3 MB, {large} KiB for 60 MB of NDJSON");
    assert!(
        large < small + 40 * 1024,
        "20x the input grew the peak RSS from {small} KiB to {large} KiB"
    );
}
