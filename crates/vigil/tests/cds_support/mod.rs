//! A rest-hook receiver on 127.0.0.1 for the CDS end-to-end tests, and vital-sign bodies.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A rest-hook endpoint: answers 200 when `accepting`, else 503 (and records nothing).
pub struct HookServer {
    pub address: SocketAddr,
    pub accepting: Arc<AtomicBool>,
    pub refused: Arc<AtomicUsize>,
    received: Arc<Mutex<Receiver<Received>>>,
}

impl HookServer {
    pub fn start(accepting: bool) -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hook receiver");
        let address = listener.local_addr().expect("address");
        let (sender, receiver) = channel();
        let flag = Arc::new(AtomicBool::new(accepting));
        let refused = Arc::new(AtomicUsize::new(0));
        let (thread_flag, thread_refused) = (flag.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sender, flag, refused) =
                    (sender.clone(), thread_flag.clone(), thread_refused.clone());
                std::thread::spawn(move || serve(stream, &sender, &flag, &refused));
            }
        });
        HookServer {
            address,
            accepting: flag,
            refused,
            received: Arc::new(Mutex::new(receiver)),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// The next request received within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Received> {
        self.received.lock().unwrap().recv_timeout(timeout).ok()
    }
}

fn serve(
    stream: std::net::TcpStream,
    sender: &Sender<Received>,
    accepting: &AtomicBool,
    refused: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let at = Instant::now();
        let ok = accepting.load(Ordering::SeqCst);
        let status = if ok {
            "200 OK"
        } else {
            refused.fetch_add(1, Ordering::SeqCst);
            "503 Service Unavailable"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if reader.get_mut().write_all(answer.as_bytes()).is_err() {
            return;
        }
        if ok {
            let _ = sender.send(Received {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                at,
            });
        }
    }
}

pub fn now_minus_seconds(seconds: i64) -> String {
    vigil_model::instant::format_instant(vigil_model::instant::now_micros() - seconds * 1_000_000)
}

pub fn vital(patient: &str, loinc: &str, value: f64, unit: &str, when: &str) -> String {
    serde_json::json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": patient},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    })
    .to_string()
}

/// Bed 12 at 03:10: BP 92/50, pulse 131, SpO2 89 % on air, RR 26, alert, 38.0 °C: NEWS2 11.
pub fn alarming_vitals(patient: &str, when: &str) -> Vec<String> {
    let mut bodies = vec![
        vital(patient, "9279-1", 26.0, "/min", when),
        vital(patient, "59408-5", 89.0, "%", when),
        vital(patient, "3151-8", 0.0, "L/min", when),
        vital(patient, "8480-6", 92.0, "mm[Hg]", when),
        vital(patient, "8867-4", 131.0, "/min", when),
        vital(patient, "8310-5", 38.0, "Cel", when),
    ];
    bodies.push(
        serde_json::json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "67775-7"}]},
            "subject": {"reference": patient},
            "effectiveDateTime": when,
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "248234008"}]},
        })
        .to_string(),
    );
    bodies
}

pub fn rest_hook_subscription(criteria: &str, endpoint: &str, payload: Option<&str>) -> String {
    let mut channel = serde_json::json!({
        "type": "rest-hook", "endpoint": endpoint, "header": ["X-Ward: 12"],
    });
    if let Some(payload) = payload {
        channel["payload"] = payload.into();
    }
    serde_json::json!({
        "resourceType": "Subscription", "status": "requested",
        "reason": "rapid response team", "criteria": criteria, "channel": channel,
    })
    .to_string()
}
