//! NEWS2 consumer: scoring through the door, alerts, idempotence.

use crate::support::*;
use serde_json::{Value, json};
use vigil_cds::alerts::ALERT_SYSTEM;
use vigil_cds::news2_feed::{News2Consumer, News2Options, SCALE_2_CODE, SETTING_SYSTEM};
use vigil_service::feed::ChangeConsumer;

fn consumer(world: &World) -> News2Consumer {
    News2Consumer::new(world.service.clone(), News2Options::default()).unwrap()
}

fn scores(world: &World, patient: &str) -> Vec<Value> {
    world.search(
        "Observation",
        &[
            ("subject", patient),
            ("code", "http://snomed.info/sct|1104051000000101"),
        ],
    )
}

fn alerts(world: &World, patient: &str) -> Vec<Value> {
    world.search(
        "Task",
        &[
            ("subject", patient),
            ("code", &format!("{ALERT_SYSTEM}|news2")),
        ],
    )
}

/// Delivers every event after `after` and returns the new last position.
fn deliver(world: &World, consumer: &mut News2Consumer, after: u64) -> u64 {
    let events = world.events(after);
    consumer.handle(&events).unwrap();
    events.last().map_or(after, |e| e.seq)
}

#[test]
fn alarming_vitals_write_a_final_score_derived_from_every_input_and_a_stat_task() {
    let world = World::new();
    let mut consumer = consumer(&world);
    let inputs = full_set(&world, "Patient/p1", true, &minutes_ago(1));
    deliver(&world, &mut consumer, 0);

    let scores = scores(&world, "Patient/p1");
    assert_eq!(scores.len(), 1, "one score for one batch");
    let score = &scores[0];
    assert_eq!(score["status"], "final");
    assert_eq!(score["valueInteger"], 11);
    let derived: Vec<&str> = score["derivedFrom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reference"].as_str().unwrap())
        .collect();
    for input in &inputs {
        assert!(derived.contains(&input.as_str()), "{input} in derivedFrom");
    }
    let tasks = alerts(&world, "Patient/p1");
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task["status"], "requested");
    assert_eq!(task["priority"], "stat");
    assert_eq!(task["for"]["reference"], "Patient/p1");
    assert_eq!(
        task["focus"]["reference"],
        format!("Observation/{}", score["id"].as_str().unwrap())
    );
    assert!(
        task["description"]
            .as_str()
            .unwrap()
            .starts_with("NEWS2 11")
    );
}

#[test]
fn redelivery_and_own_writes_write_nothing_new() {
    let world = World::new();
    let mut consumer = consumer(&world);
    full_set(&world, "Patient/p1", true, &minutes_ago(1));
    let before_cds = world.last_seq();
    deliver(&world, &mut consumer, 0);
    let after_cds = world.last_seq();
    assert!(after_cds > before_cds, "CDS wrote");
    // At-least-once: the same batch again, and a restart from the beginning.
    deliver(&world, &mut consumer, 0);
    let mut fresh = News2Consumer::new(world.service.clone(), News2Options::default()).unwrap();
    deliver(&world, &mut fresh, 0);
    // CDS's own events (score, Task) delivered to it: no new score.
    deliver(&world, &mut consumer, before_cds);
    assert_eq!(
        world.last_seq(),
        after_cds,
        "nothing written after the first delivery"
    );
    assert_eq!(scores(&world, "Patient/p1").len(), 1);
    assert_eq!(alerts(&world, "Patient/p1").len(), 1);
}

fn medium_set(world: &World, patient: &str, when: &str) {
    // RR 22 (2), SpO2 95 (1), SBP 105 (1), pulse 95 (1), alert, air, 37.0: total 5, medium.
    world.create(vital(patient, "9279-1", 22.0, "/min", when));
    world.create(vital(patient, "59408-5", 95.0, "%", when));
    world.create(vital(patient, "3151-8", 0.0, "L/min", when));
    world.create(vital(patient, "8480-6", 105.0, "mm[Hg]", when));
    world.create(vital(patient, "8867-4", 95.0, "/min", when));
    world.create(consciousness(patient, "248234008", when));
    world.create(vital(patient, "8310-5", 37.0, "Cel", when));
}

#[test]
fn a_rise_raises_the_open_task_and_an_acknowledged_alert_is_not_duplicated() {
    let world = World::new();
    let mut consumer = consumer(&world);
    medium_set(&world, "Patient/p2", &minutes_ago(20));
    let mut seq = deliver(&world, &mut consumer, 0);
    let tasks = alerts(&world, "Patient/p2");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "urgent");
    let id = tasks[0]["id"].as_str().unwrap().to_owned();

    // Acknowledged by a nurse: accepted with an owner.
    let mut acknowledged = tasks[0].clone();
    acknowledged["status"] = json!("accepted");
    acknowledged["owner"] = json!({"reference": "Practitioner/nurse-1"});
    world.update(acknowledged);
    // Another medium reading: the open urgent alert covers it.
    world.create(vital(
        "Patient/p2",
        "8867-4",
        96.0,
        "/min",
        &minutes_ago(15),
    ));
    seq = deliver(&world, &mut consumer, seq);
    assert_eq!(alerts(&world, "Patient/p2").len(), 1);
    assert_eq!(
        scores(&world, "Patient/p2").len(),
        2,
        "a new score, no new alert"
    );

    // The patient deteriorates: the same Task, a new version, priority stat, still accepted.
    full_set(&world, "Patient/p2", true, &minutes_ago(1));
    seq = deliver(&world, &mut consumer, seq);
    let tasks = alerts(&world, "Patient/p2");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["id"], id.as_str());
    assert_eq!(tasks[0]["priority"], "stat");
    assert_eq!(tasks[0]["status"], "accepted");
    assert_eq!(tasks[0]["meta"]["versionId"], "3");

    // Resolved: the next alarming score opens a new alert.
    let mut done = tasks[0].clone();
    done["status"] = json!("completed");
    world.update(done);
    world.create(vital(
        "Patient/p2",
        "8867-4",
        135.0,
        "/min",
        &minutes_ago(0),
    ));
    deliver(&world, &mut consumer, seq);
    let tasks = alerts(&world, "Patient/p2");
    assert_eq!(tasks.len(), 2);
    let open: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["status"] == "requested")
        .collect();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["id"], id.as_str());
}

#[test]
fn a_low_partial_score_is_preliminary_and_raises_no_alert() {
    let world = World::new();
    let mut consumer = consumer(&world);
    world.create(vital("Patient/p3", "8867-4", 70.0, "/min", &minutes_ago(2)));
    deliver(&world, &mut consumer, 0);
    let scores = scores(&world, "Patient/p3");
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0]["status"], "preliminary");
    assert_eq!(scores[0]["valueInteger"], 0);
    assert!(alerts(&world, "Patient/p3").is_empty());
}

#[test]
fn a_partial_single_three_raises_an_urgent_alert() {
    let world = World::new();
    let mut consumer = consumer(&world);
    world.create(vital("Patient/p4", "9279-1", 26.0, "/min", &minutes_ago(2)));
    deliver(&world, &mut consumer, 0);
    let tasks = alerts(&world, "Patient/p4");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "urgent");
    assert_eq!(scores(&world, "Patient/p4")[0]["status"], "preliminary");
}

#[test]
fn readings_outside_the_window_are_not_inputs() {
    let world = World::new();
    let mut consumer = consumer(&world);
    world.create(vital(
        "Patient/p5",
        "9279-1",
        26.0,
        "/min",
        &minutes_ago(90),
    ));
    let recent = world.create(vital("Patient/p5", "8867-4", 70.0, "/min", &minutes_ago(1)));
    deliver(&world, &mut consumer, 0);
    let scores = scores(&world, "Patient/p5");
    let newest = scores
        .iter()
        .max_by_key(|s| s["meta"]["lastUpdated"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(newest["derivedFrom"], json!([{"reference": recent}]));
    assert_eq!(newest["valueInteger"], 0);
}

#[test]
fn a_scale_2_flag_bands_spo2_on_scale_2() {
    let world = World::new();
    let mut consumer = consumer(&world);
    world.create(json!({
        "resourceType": "Flag", "status": "active",
        "code": {"coding": [{"system": SETTING_SYSTEM, "code": SCALE_2_CODE}]},
        "subject": {"reference": "Patient/p6"},
    }));
    // SpO2 88 % on air: 3 on Scale 1, 0 on Scale 2.
    world.create(vital("Patient/p6", "59408-5", 88.0, "%", &minutes_ago(1)));
    world.create(vital("Patient/p6", "3151-8", 0.0, "L/min", &minutes_ago(1)));
    deliver(&world, &mut consumer, 0);
    let scores = scores(&world, "Patient/p6");
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0]["valueInteger"], 0);
    assert!(
        scores[0]["method"]["text"]
            .as_str()
            .unwrap()
            .contains("Scale 2")
    );
    assert!(alerts(&world, "Patient/p6").is_empty());
}

#[test]
fn observations_without_a_patient_or_vital_code_are_ignored() {
    let world = World::new();
    let mut consumer = consumer(&world);
    world.create(vital("Group/g", "8867-4", 150.0, "/min", &minutes_ago(1)));
    world.create(vital(
        "Patient/p7",
        "2339-0",
        150.0,
        "mg/dL",
        &minutes_ago(1),
    ));
    let before = world.last_seq();
    deliver(&world, &mut consumer, 0);
    assert_eq!(world.last_seq(), before);
}

#[test]
fn patients_under_sixteen_are_not_scored() {
    use vigil_cds::news2_feed::is_under_sixteen;
    assert!(is_under_sixteen("2010-06-15", "2026-06-14"));
    assert!(!is_under_sixteen("2010-06-15", "2026-06-15"));
    assert!(
        is_under_sixteen("2010", "2026-12-30"),
        "a year alone counts from its last day"
    );
    assert!(!is_under_sixteen("2010", "2027-01-01"));
    assert!(!is_under_sixteen("garbage", "2026-01-01"));

    let world = World::new();
    let mut consumer = consumer(&world);
    let child =
        vigil_service::format_instant(vigil_service::now_micros() - 10 * 365 * 86_400_000_000);
    world.update(json!({"resourceType": "Patient", "id": "child", "birthDate": &child[..10]}));
    world.update(json!({"resourceType": "Patient", "id": "adult", "birthDate": "1950-01-01"}));
    full_set(&world, "Patient/child", true, &minutes_ago(1));
    full_set(&world, "Patient/adult", true, &minutes_ago(1));
    deliver(&world, &mut consumer, 0);
    assert!(scores(&world, "Patient/child").is_empty());
    assert_eq!(scores(&world, "Patient/adult").len(), 1);
}

/// The RCP advises against NEWS2 in pregnancy: a patient with an active pregnancy Condition,
/// or whose latest pregnancy-status Observation says "Pregnant", is not scored; a later
/// "Not pregnant" or a refuted Condition does not hold scoring back.
#[test]
fn pregnant_patients_are_not_scored() {
    let world = World::new();
    let mut consumer = consumer(&world);
    for id in ["condition", "status", "delivered", "refuted", "other"] {
        world.update(json!({"resourceType": "Patient", "id": id, "gender": "female", "birthDate": "1990-01-01"}));
    }
    let pregnancy = |patient: &str, verification: &str| {
        world.create(json!({
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]},
            "subject": {"reference": patient}
        }))
    };
    let status = |patient: &str, answer: &str, at: &str| {
        world.create(json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
            "subject": {"reference": patient},
            "effectiveDateTime": at,
            "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": answer}]}
        }))
    };
    pregnancy("Patient/condition", "confirmed");
    pregnancy("Patient/refuted", "refuted");
    status("Patient/status", "LA15173-0", &minutes_ago(60 * 24 * 30));
    status(
        "Patient/delivered",
        "LA15173-0",
        &minutes_ago(60 * 24 * 200),
    );
    status("Patient/delivered", "LA26683-5", &minutes_ago(60 * 24 * 2));
    for id in ["condition", "status", "delivered", "refuted", "other"] {
        full_set(&world, &format!("Patient/{id}"), true, &minutes_ago(1));
    }
    deliver(&world, &mut consumer, 0);
    assert!(scores(&world, "Patient/condition").is_empty());
    assert!(scores(&world, "Patient/status").is_empty());
    assert_eq!(scores(&world, "Patient/delivered").len(), 1);
    assert_eq!(scores(&world, "Patient/refuted").len(), 1);
    assert_eq!(scores(&world, "Patient/other").len(), 1);
}
