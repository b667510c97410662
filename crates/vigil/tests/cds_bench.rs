//! Benchmarks of clinical decision support against the real binary:
//!
//! - alert latency: a vital sign (pulse 131, a single NEWS2 parameter scoring 3, so an urgent
//!   alert) POSTed for a new patient at a fixed rate, open loop; measured from just before the
//!   POST is sent to the rest-hook PUT of the alert Task arriving at a receiver on 127.0.0.1;
//! - CDS Hooks `order-sign` latency with prefetch (10 current orders, one allergy, two drafts),
//!   one request at a time, each on a fresh connection.
//!
//! By default a small run checks the harness (every alert arrives, every answer has cards).
//! `VIGIL_CDS_BENCH=full cargo test --release -p vigil --test cds_bench -- --nocapture` runs the
//! measured sizes (100 vitals/s for 20 s, 1,000 vitals/s for 5 s, 2,000 order-sign calls) and
//! prints the figures quoted in docs/cds.md.

#![allow(clippy::unwrap_used)]

mod cds_support;
mod support;

use cds_support::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Vigil;

/// One kept-alive HTTP/1.1 connection for POSTs (the senders must keep up with 1,000/s).
struct KeepAlive {
    reader: BufReader<TcpStream>,
    address: std::net::SocketAddr,
}

impl KeepAlive {
    fn new(address: std::net::SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        KeepAlive {
            reader: BufReader::new(stream),
            address,
        }
    }

    /// POSTs `body` to `path`; the status code.
    fn post(&mut self, path: &str, body: &str) -> u16 {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut rest = vec![0; length];
        self.reader.read_exact(&mut rest).unwrap();
        status
    }
}

fn full() -> bool {
    std::env::var("VIGIL_CDS_BENCH").is_ok_and(|v| v == "full")
}

struct Stats {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Stats {
        count: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: *samples.last().unwrap(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Sends `rate × seconds` vitals open loop and returns the alert latencies, how long the
/// sending took (the achieved input rate) and how long until the last alert arrived.
/// Every `alarming_every`-th vital alarms (pulse 131); the others are normal (pulse 70: a
/// score of 0, no alert).
fn alert_latency(rate: u32, seconds: u32, alarming_every: usize) -> (Stats, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let hook = HookServer::start(true);
    let vigil = Vigil::start(dir.path());
    let subscription = rest_hook_subscription(
        "Task?priority=urgent",
        &hook.url(),
        Some("application/fhir+json"),
    );
    let created = vigil.request("POST", "/Subscription", Some(&subscription));
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    while vigil
        .request("GET", &format!("/Subscription/{id}"), None)
        .json()["status"]
        != "active"
    {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }

    let total = (rate * seconds) as usize;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // Enough senders that one slow POST does not hold back the schedule.
    let workers = 32usize;
    let origin = Instant::now() + Duration::from_millis(200);
    let when = now_minus_seconds(1);
    let threads: Vec<_> = (0..workers)
        .map(|worker| {
            let (sent, address, when) = (sent.clone(), vigil.address, when.clone());
            std::thread::spawn(move || {
                let mut connection = KeepAlive::new(address);
                for i in (worker..total).step_by(workers) {
                    let due = origin + Duration::from_secs_f64(i as f64 / f64::from(rate));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let patient = format!("Patient/bench-{i}");
                    let pulse = if i % alarming_every == 0 { 131.0 } else { 70.0 };
                    let body = vital(&patient, "8867-4", pulse, "/min", &when);
                    sent.lock().unwrap().insert(patient, Instant::now());
                    assert_eq!(connection.post("/Observation", &body), 201);
                }
            })
        })
        .collect();
    let alerts = total.div_ceil(alarming_every);
    let mut latencies = Vec::with_capacity(alerts);
    let mut delivery = Vec::with_capacity(alerts);
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 60);
    while latencies.len() < alerts && Instant::now() < deadline {
        let Some(received) = hook.next(Duration::from_secs(5)) else {
            continue;
        };
        let task: Value = serde_json::from_str(&received.body).unwrap();
        let patient = task["for"]["reference"].as_str().unwrap().to_owned();
        let sent_at = loop {
            if let Some(at) = sent.lock().unwrap().get(&patient) {
                break *at;
            }
            std::thread::yield_now();
        };
        latencies.push(received.at.duration_since(sent_at));
        // The share after the Task was stamped (the Subscription delivery), by wall clock.
        let stamped = task["meta"]["lastUpdated"]
            .as_str()
            .and_then(vigil_model::instant::parse_instant_micros)
            .unwrap();
        let now = vigil_model::instant::now_micros();
        delivery.push(Duration::from_micros(
            u64::try_from(now - stamped).unwrap_or(0),
        ));
    }
    let delivery = stats(delivery);
    println!(
        "  of which after the Task was stamped (Subscription delivery): p50 {}, p99 {}",
        ms(delivery.p50),
        ms(delivery.p99)
    );
    let elapsed = origin.elapsed();
    for thread in threads {
        thread.join().unwrap();
    }
    let last_sent = sent.lock().unwrap().values().max().copied().unwrap();
    let sending = last_sent.duration_since(origin);
    assert_eq!(
        latencies.len(),
        alerts,
        "every alarming vital raises one alert that reaches the hook"
    );
    (stats(latencies), sending, elapsed)
}

fn order_sign_latency(calls: usize) -> Stats {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let current = [
        "6809", "29046", "17767", "83367", "10582", "6918", "161", "4603", "25480", "36567",
    ];
    let orders: Vec<Value> = current
        .iter()
        .map(|code| json!({"resource": {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/b"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code}]}}}))
        .collect();
    let draft = |id: &str, code: &str| {
        json!({"resource": {
        "resourceType": "MedicationRequest", "id": id, "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/b"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code}]}}})
    };
    let request = json!({
        "hook": "order-sign", "hookInstance": "bench",
        "context": {"userId": "Practitioner/1", "patientId": "b",
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                "entry": [draft("d1", "21212"), draft("d2", "723")]}},
        "prefetch": {
            "medications": {"resourceType": "Bundle", "type": "searchset", "entry": orders},
            "allergies": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
                "resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/b"},
                "code": {"text": "Penicillin"}}}]},
        },
    })
    .to_string();
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let response = support::http(
            vigil.address,
            "POST",
            "/cds-services/vigil-medication-safety",
            Some(&request),
        );
        samples.push(start.elapsed());
        assert_eq!(response.status, 200, "{}", response.body);
        let cards = response.json()["cards"].as_array().map_or(0, Vec::len);
        assert_eq!(
            cards, 2,
            "simvastatin+clarithromycin and the penicillin allergy"
        );
    }
    stats(samples)
}

#[test]
fn alert_latency_and_order_sign_latency() {
    let runs: &[(u32, u32, usize)] = if full() {
        &[(100, 20, 1), (1000, 5, 1), (1000, 5, 10)]
    } else {
        &[(100, 2, 1), (100, 2, 4)]
    };
    for &(rate, seconds, every) in runs {
        let (s, sending, elapsed) = alert_latency(rate, seconds, every);
        let sent = rate as usize * seconds as usize;
        println!(
            "alert latency at {rate} vitals/s, 1 in {every} alarming: {sent} vitals sent in {:.1} s ({:.0}/s achieved), {} alerts, last at {:.1} s, p50 {}, p99 {}, max {}",
            sending.as_secs_f64(),
            sent as f64 / sending.as_secs_f64().max(0.001),
            s.count,
            elapsed.as_secs_f64(),
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        );
    }
    let calls = if full() { 2000 } else { 50 };
    let s = order_sign_latency(calls);
    println!(
        "order-sign with prefetch: {} calls, p50 {}, p99 {}, max {}",
        s.count,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}
