//! A write acknowledged before `kill -9` is there after restart: the real binary, killed hard
//! while writers are still sending.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Vigil, try_http};

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let address = vigil.address;
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));

    // Eight writers create patients as fast as they can until the server dies.
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                for n in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let family = format!("W{writer}N{n}");
                    let body = format!(r#"{{"resourceType":"Patient","name":[{{"family":"{family}"}}],"birthDate":"1980-01-01"}}"#);
                    match try_http(address, "POST", "/Patient", Some(&body)) {
                        Ok(response) if response.status == 201 => {
                            let location = response.header("location").unwrap().to_owned();
                            let id = location.split("/Patient/").nth(1).unwrap().split('/').next().unwrap().to_owned();
                            acknowledged.lock().unwrap().push((id, family));
                        }
                        Ok(response) => panic!("unexpected status {}: {}", response.status, response.body),
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();

    // Let a few hundred writes through, then kill without warning.
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(10));
    }
    vigil.kill_hard();
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 300,
        "only {} writes before the kill",
        acknowledged.len()
    );

    let restarted = Vigil::start(dir.path());
    let mut missing = Vec::new();
    for (id, family) in &acknowledged {
        let response = restarted.request("GET", &format!("/Patient/{id}"), None);
        if response.status != 200 || response.json()["name"][0]["family"] != family.as_str() {
            missing.push(format!("{id}: {} {}", response.status, response.body));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost:\n{}",
        missing.len(),
        acknowledged.len(),
        missing.join("\n")
    );
    println!(
        "{} acknowledged writes all present after kill -9 and restart",
        acknowledged.len()
    );
}

#[test]
fn sigterm_finishes_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let created = vigil.request(
        "POST",
        "/Patient",
        Some(r#"{"resourceType":"Patient","active":true}"#),
    );
    assert_eq!(created.status, 201);
    let location = created.header("location").unwrap().to_owned();
    assert!(vigil.terminate(), "vigil did not exit cleanly on SIGTERM");
    let restarted = Vigil::start(dir.path());
    let path = location
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .1;
    assert_eq!(
        restarted.request("GET", &format!("/{path}"), None).status,
        200
    );
}

#[test]
fn bulk_export_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    for n in 0..3 {
        let body = format!(r#"{{"resourceType":"Patient","name":[{{"family":"Export{n}"}}]}}"#);
        assert_eq!(vigil.request("POST", "/Patient", Some(&body)).status, 201);
    }
    let kickoff = support::http_with(
        vigil.address,
        "GET",
        "/$export?_type=Patient",
        None,
        &[("Prefer", "respond-async")],
    );
    assert_eq!(kickoff.status, 202, "{}", kickoff.body);
    let status_url = kickoff.header("content-location").unwrap().to_owned();
    let status_path = status_url
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .1
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let manifest = loop {
        let status = vigil.request("GET", &format!("/{status_path}"), None);
        if status.status == 200 {
            break status.json();
        }
        assert_eq!(status.status, 202, "{}", status.body);
        assert!(Instant::now() < deadline, "export did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = manifest["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{manifest}");
    let file_url = output[0]["url"].as_str().unwrap();
    let file_path = file_url
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .1;
    let file = vigil.request("GET", &format!("/{file_path}"), None);
    assert_eq!(file.status, 200);
    assert_eq!(file.body.lines().count(), 3, "{}", file.body);
}
