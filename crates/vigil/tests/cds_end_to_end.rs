//! Clinical decision support over real sockets: the `vigil` binary, a FHIR POST of alarming
//! vitals, the NEWS2 score Observation, the stat Task, and the rest-hook POST/PUT received by
//! a test HTTP server on 127.0.0.1; and a kill -9 between the commit and the notification.

#![allow(clippy::unwrap_used)]

mod cds_support;
mod support;

use cds_support::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::Vigil;

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn subscribe(vigil: &Vigil, body: &str) -> String {
    let created = vigil.request("POST", "/Subscription", Some(body));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    wait_for(
        "the Subscription to be active",
        Duration::from_secs(10),
        || {
            let read = vigil.request("GET", &format!("/Subscription/{id}"), None);
            (read.json()["status"] == "active").then_some(())
        },
    );
    id
}

fn post_all(vigil: &Vigil, bodies: &[String]) {
    for body in bodies {
        let created = vigil.request("POST", "/Observation", Some(body));
        assert_eq!(created.status, 201, "{}", created.body);
    }
}

fn search(vigil: &Vigil, path: &str) -> Vec<Value> {
    let found = vigil.request("GET", path, None);
    assert_eq!(found.status, 200, "{}", found.body);
    found.json()["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["resource"].clone())
        .collect()
}

#[test]
fn alarming_vitals_reach_the_rest_hook_as_a_stat_task_derived_from_a_score() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HookServer::start(true);
    let vigil = Vigil::start(dir.path());
    subscribe(
        &vigil,
        &rest_hook_subscription(
            "Task?priority=stat",
            &hook.url(),
            Some("application/fhir+json"),
        ),
    );
    post_all(
        &vigil,
        &alarming_vitals("Patient/bed-12", &now_minus_seconds(30)),
    );

    let received = hook
        .next(Duration::from_secs(10))
        .expect("a rest-hook notification");
    assert_eq!(received.method, "PUT");
    assert!(
        received.path.starts_with("/hook/Task/"),
        "{}",
        received.path
    );
    assert_eq!(received.header("X-Ward"), Some("12"));
    assert_eq!(
        received.header("content-type"),
        Some("application/fhir+json")
    );
    let task: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(task["priority"], "stat");
    assert_eq!(task["status"], "requested");
    assert_eq!(task["for"]["reference"], "Patient/bed-12");
    assert!(task["description"].as_str().unwrap().starts_with("NEWS2 "));

    // The alert may fire on a partial score (the vitals arrive one by one): its focus is a
    // score of high risk, preliminary or final.
    let focus = task["focus"]["reference"].as_str().unwrap();
    let score = vigil.request("GET", &format!("/{focus}"), None).json();
    assert!(score["valueInteger"].as_u64().unwrap() >= 7, "{score}");
    assert_eq!(
        score["code"]["coding"][0]["code"], "1104051000000101",
        "SNOMED CT NEWS2 score"
    );
    // Once all seven are in, a final score of 11 derived from every input.
    let final_score = wait_for("the final score", Duration::from_secs(10), || {
        search(
            &vigil,
            "/Observation?subject=Patient/bed-12&code=http://snomed.info/sct|1104051000000101&status=final",
        )
        .into_iter()
        .next()
    });
    assert_eq!(final_score["valueInteger"], 11);
    assert_eq!(final_score["derivedFrom"].as_array().unwrap().len(), 7);
    // One alert only: nothing else arrives.
    let extra = hook.next(Duration::from_millis(700));
    assert!(extra.is_none(), "{extra:?}");
    let tasks = search(&vigil, "/Task?subject=Patient/bed-12");
    assert_eq!(tasks.len(), 1);
}

#[test]
fn an_empty_payload_subscription_gets_an_empty_post() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HookServer::start(true);
    let vigil = Vigil::start(dir.path());
    subscribe(
        &vigil,
        &rest_hook_subscription(
            "Observation?code=http://loinc.org|8867-4",
            &hook.url(),
            None,
        ),
    );
    post_all(
        &vigil,
        &[vital(
            "Patient/p",
            "8867-4",
            70.0,
            "/min",
            &now_minus_seconds(5),
        )],
    );
    let received = hook.next(Duration::from_secs(10)).expect("a notification");
    assert_eq!(received.method, "POST");
    assert_eq!(received.path, "/hook");
    assert!(received.body.is_empty());
    // A vital of another code does not match.
    post_all(
        &vigil,
        &[vital(
            "Patient/p",
            "9279-1",
            12.0,
            "/min",
            &now_minus_seconds(5),
        )],
    );
    assert!(hook.next(Duration::from_millis(700)).is_none());
}

#[test]
fn criteria_the_matcher_cannot_serve_set_the_subscription_to_error_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    for (criteria, endpoint, expected) in [
        (
            "Observation?not-a-parameter=1",
            "http://127.0.0.1:9/h",
            "not-a-parameter",
        ),
        ("NotAType?x=1", "http://127.0.0.1:9/h", "NotAType"),
        ("Observation?code=1", "https://127.0.0.1:9/h", "https"),
    ] {
        let created = vigil.request(
            "POST",
            "/Subscription",
            Some(&rest_hook_subscription(criteria, endpoint, None)),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let error = wait_for("status error", Duration::from_secs(10), || {
            let read = vigil
                .request("GET", &format!("/Subscription/{id}"), None)
                .json();
            (read["status"] == "error").then(|| read["error"].as_str().unwrap_or("").to_owned())
        });
        assert!(error.contains(expected), "{criteria}: {error}");
    }
}

#[test]
fn kill_9_between_the_commit_and_the_notification_still_notifies_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HookServer::start(false);
    let vigil = Vigil::start(dir.path());
    let id = subscribe(
        &vigil,
        &rest_hook_subscription(
            "Task?priority=stat",
            &hook.url(),
            Some("application/fhir+json"),
        ),
    );
    post_all(
        &vigil,
        &alarming_vitals("Patient/bed-7", &now_minus_seconds(30)),
    );
    // The Task is committed; the endpoint refuses, so the notification is still owed.
    wait_for("the stat Task", Duration::from_secs(10), || {
        let tasks = search(&vigil, "/Task?subject=Patient/bed-7&priority=stat");
        (!tasks.is_empty()).then_some(())
    });
    // Repeated failures set the Subscription to error, with the reason.
    let error = wait_for("status error", Duration::from_secs(15), || {
        let read = vigil
            .request("GET", &format!("/Subscription/{id}"), None)
            .json();
        (read["status"] == "error").then(|| read["error"].as_str().unwrap_or("").to_owned())
    });
    assert!(error.contains("503"), "{error}");
    assert!(hook.refused.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    vigil.kill_hard();

    hook.accepting
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let vigil = Vigil::start(dir.path());
    let received = hook
        .next(Duration::from_secs(20))
        .expect("the owed notification after the restart");
    let task: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(task["for"]["reference"], "Patient/bed-7");
    assert_eq!(task["priority"], "stat");
    // Delivered: the Subscription is active again.
    wait_for("status active", Duration::from_secs(10), || {
        let read = vigil
            .request("GET", &format!("/Subscription/{id}"), None)
            .json();
        (read["status"] == "active" && read.get("error").is_none()).then_some(())
    });
}

#[test]
fn the_window_flag_bounds_the_inputs_and_no_cds_turns_it_all_off() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start_with(dir.path(), &["--news2-window-minutes", "5"]);
    let pulse = vigil.request(
        "POST",
        "/Observation",
        Some(&vital(
            "Patient/w5",
            "8867-4",
            70.0,
            "/min",
            &now_minus_seconds(10),
        )),
    );
    assert_eq!(pulse.status, 201);
    let pulse_id = pulse.json()["id"].as_str().unwrap().to_owned();
    // A respiration rate of 26 (a 3) twenty minutes before: outside a 5-minute window.
    post_all(
        &vigil,
        &[vital(
            "Patient/w5",
            "9279-1",
            26.0,
            "/min",
            &now_minus_seconds(20 * 60),
        )],
    );
    let scores = wait_for("a score", Duration::from_secs(10), || {
        let found = search(
            &vigil,
            "/Observation?subject=Patient/w5&code=http://snomed.info/sct|1104051000000101",
        );
        (!found.is_empty()).then_some(found)
    });
    std::thread::sleep(Duration::from_millis(500));
    for score in &scores {
        assert_eq!(
            score["derivedFrom"],
            serde_json::json!([{"reference": format!("Observation/{pulse_id}")}])
        );
    }
    assert!(search(&vigil, "/Task?subject=Patient/w5").is_empty());
    drop(vigil);

    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start_with(dir.path(), &["--no-cds"]);
    assert_eq!(vigil.request("GET", "/cds-services", None).status, 404);
    post_all(
        &vigil,
        &alarming_vitals("Patient/off", &now_minus_seconds(30)),
    );
    std::thread::sleep(Duration::from_millis(700));
    assert!(search(&vigil, "/Task?subject=Patient/off").is_empty());
}
