//! Issue 18 end to end from the bedside: an HL7 v2 ORU^R01 with alarming vital signs sent over
//! MLLP to the real `vigil serve` binary -> Observations through the door (AA after commit)
//! -> the NEWS2 score Observation -> a stat Task -> the rest-hook notification received by a
//! test HTTP server on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod cds_support;
mod support;

use cds_support::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use support::Vigil;
use vigil_ingest::source::client::MllpClient;

/// `vigil serve --dev --mllp 127.0.0.1:0` (CDS on, as by default) and its MLLP address.
fn start(data: &std::path::Path) -> (Vigil, SocketAddr) {
    Vigil::start_with_mllp(data, &[])
}

/// Now as an HL7 v2 TS (`YYYYMMDDHHMMSS`, UTC).
fn hl7_now() -> String {
    let iso = vigil_service::format_instant(vigil_service::now_micros());
    iso.chars().filter(char::is_ascii_digit).take(14).collect()
}

#[test]
fn an_oru_with_alarming_vitals_reaches_the_rest_hook_as_a_stat_task() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HookServer::start(true);
    let (vigil, mllp) = start(dir.path());
    let subscription = rest_hook_subscription(
        "Task?priority=stat",
        &hook.url(),
        Some("application/fhir+json"),
    );
    let created = vigil.request("POST", "/Subscription", Some(&subscription));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if vigil
            .request("GET", &format!("/Subscription/{id}"), None)
            .json()["status"]
            == "active"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Respiratory rate 30, SpO2 88 %, systolic 85, pulse 135, temperature 39.5: 3+3+3+3+1.
    let now = hl7_now();
    let vitals = [
        ("9279-1", "Respiratory rate", "30", "/min"),
        ("59408-5", "Oxygen saturation", "88", "%"),
        ("8480-6", "Systolic blood pressure", "85", "mm[Hg]"),
        ("8867-4", "Heart rate", "135", "/min"),
        ("8310-5", "Body temperature", "39.5", "Cel"),
    ];
    let obx: String = vitals
        .iter()
        .enumerate()
        .map(|(n, (code, name, value, unit))| {
            format!(
                "OBX|{}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|||||F|||{now}\r",
                n + 1
            )
        })
        .collect();
    let message = format!(
        "MSH|^~\\&|MONITOR|WARD12|VIGIL|HOSP|{now}||ORU^R01|VITALS-1|P|2.5\r\
         PID|1||MRN-4471^^^HOSP^MR||Nightingale^Florence||19700512|F\r\
         OBR|1||VS-1|85353-1^Vital signs panel^LN|||{now}\r{obx}"
    );
    let mut client = MllpClient::connect(mllp, Duration::from_secs(10)).unwrap();
    client.send(message.as_bytes()).unwrap();
    let ack = String::from_utf8(client.receive().unwrap()).unwrap();
    assert!(ack.contains("MSA|AA|VITALS-1"), "{ack}");

    let received = hook
        .next(Duration::from_secs(10))
        .expect("a rest-hook notification");
    assert_eq!(received.method, "PUT");
    let task: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(task["priority"], "stat", "{task}");
    assert_eq!(task["status"], "requested");
    let patients = vigil
        .request("GET", "/Patient?identifier=MRN-4471", None)
        .json();
    let patient_id = patients["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(task["for"]["reference"], format!("Patient/{patient_id}"));
    let focus = task["focus"]["reference"].as_str().unwrap();
    let score = vigil.request("GET", &format!("/{focus}"), None).json();
    assert!(score["valueInteger"].as_u64().unwrap() >= 7, "{score}");
    // The score names the ingested Observations it came from.
    let inputs: Vec<String> = score["derivedFrom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap().to_owned())
        .collect();
    assert!(!inputs.is_empty());
    for input in &inputs {
        let observation = vigil.request("GET", &format!("/{input}"), None).json();
        assert_eq!(
            observation["subject"]["reference"],
            format!("Patient/{patient_id}")
        );
    }
}
