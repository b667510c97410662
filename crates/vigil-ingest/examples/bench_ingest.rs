//! Load generator for the ingest benchmark (`tools/bench-hl7.sh` runs it against a release
//! `vigil serve --mllp ... --mqtt ...`).
//!
//! `bench_ingest mllp ADDR CONNECTIONS MESSAGES`: ORU^R01 with 6 OBX, each connection sending
//! one message and waiting for its ACK (AA = committed) before the next, as HL7 senders do;
//! prints messages/s and ACK latency percentiles.
//!
//! `bench_ingest mqtt HOST:PORT TOPIC_PREFIX HTTP_ADDR MESSAGES MRN`: publishes compact payloads
//! with QoS 1, at most 100 ahead of what `HTTP_ADDR` reports stored for patient MRN (the broker
//! drops what it cannot queue), until all are stored; prints observations/s (first publish to
//! last commit).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_ingest::source::client::MllpClient;

fn oru(connection: usize, n: usize) -> String {
    let obx: String = [
        ("8867-4", "Heart rate", "88", "/min"),
        ("9279-1", "Respiratory rate", "18", "/min"),
        ("8480-6", "Systolic blood pressure", "121", "mm[Hg]"),
        ("8462-4", "Diastolic blood pressure", "79", "mm[Hg]"),
        ("59408-5", "Oxygen saturation", "97", "%"),
        ("8310-5", "Body temperature", "37.1", "Cel"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (code, name, value, unit))| {
        format!(
            "OBX|{}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|||||F|||20261201031000\r",
            i + 1
        )
    })
    .collect();
    format!(
        "MSH|^~\\&|MONITOR|BED{connection}|VIGIL|HOSP|20261201031400||ORU^R01^ORU_R01|B{connection}-{n}|P|2.5.1\rPID|1||MRN{}^^^HOSP||Doe^Pat\rPV1|1|I|W1^{connection}^1\rOBR|1||F{connection}-{n}|85353-1^Vital signs^LN|||20261201031000\r{obx}",
        n % 200
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn mllp(address: &str, connections: usize, messages: usize) {
    let per = messages / connections.max(1);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let address = address.to_owned();
            let latencies = Arc::clone(&latencies);
            let refused = Arc::clone(&refused);
            std::thread::spawn(move || {
                let mut client = MllpClient::connect(address.as_str(), Duration::from_secs(60))
                    .expect("connect");
                let mut mine = Vec::with_capacity(per);
                for n in 0..per {
                    let message = oru(c, n);
                    let sent = Instant::now();
                    let ack = client.exchange(message.as_bytes()).expect("ack");
                    mine.push(sent.elapsed());
                    if !String::from_utf8_lossy(&ack).contains("MSA|AA|") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
    let elapsed = started.elapsed();
    let mut all = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    all.sort();
    println!(
        "mllp connections={connections} messages={} seconds={:.2} messages_per_s={:.0} p50_ms={:.2} p99_ms={:.2} not_aa={}",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        refused.load(Ordering::Relaxed)
    );
}

fn count(http: &str, mrn: &str) -> u64 {
    let Ok(mut stream) = TcpStream::connect(http) else {
        return 0;
    };
    let request = format!(
        "GET /Observation?subject.identifier={mrn}&_summary=count HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = body.find('{').map(|at| &body[at..]).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(json.trim_end_matches(|c: char| c != '}'))
        .ok()
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0)
}

fn mqtt(broker: &str, prefix: &str, http: &str, messages: usize, mrn: &str) {
    let (host, port) = broker.rsplit_once(':').expect("HOST:PORT");
    let port: u16 = port.parse().expect("port");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    // Mosquitto queues a bounded number of messages for a subscriber and drops the rest ("Outgoing
    // messages are being dropped", seen here with 500 ahead on 2.0.11), so the publisher keeps at
    // most WINDOW messages ahead of what is stored.
    const WINDOW: usize = 100;
    let http = http.to_owned();
    let mrn_owned = mrn.to_owned();
    let stored = runtime.block_on(async move {
        let mut options = rumqttc::MqttOptions::new(format!("bench-pub-{}", std::process::id()), host, port);
        options.set_inflight(200);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 1000);
        tokio::spawn(async move {
            loop {
                if let Err(error) = events.poll().await {
                    eprintln!("publisher: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        let mut stored = 0u64;
        for n in 0..messages {
            while n >= stored as usize + WINDOW {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (http, mrn) = (http.clone(), mrn_owned.clone());
                stored = tokio::task::spawn_blocking(move || count(&http, &mrn)).await.unwrap_or(stored);
            }
            let payload = format!(
                r#"{{"device":"BENCH-{}","patient":{{"system":"urn:mrn","value":"{mrn_owned}"}},"code":{{"system":"http://loinc.org","code":"8867-4"}},"value":{}.{},"unit":"/min","time":"2026-12-01T03:14:{:02}Z"}}"#,
                n % 16,
                60 + n % 80,
                n,
                n % 60
            );
            client
                .publish(format!("{prefix}/dev{}/obs", n % 16), rumqttc::QoS::AtLeastOnce, false, payload.into_bytes())
                .await
                .expect("publish");
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        while stored < messages as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (http, mrn) = (http.clone(), mrn_owned.clone());
            stored = tokio::task::spawn_blocking(move || count(&http, &mrn)).await.unwrap_or(stored);
        }
        stored
    });
    let elapsed = started.elapsed();
    println!(
        "mqtt observations={stored} seconds={:.2} observations_per_s={:.0}",
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "mllp" => mllp(
            &arg(1),
            arg(2).parse().unwrap_or(1),
            arg(3).parse().unwrap_or(10_000),
        ),
        "mqtt" => mqtt(
            &arg(1),
            &arg(2),
            &arg(3),
            arg(4).parse().unwrap_or(10_000),
            &arg(5),
        ),
        _ => eprintln!(
            "usage: bench_ingest mllp ADDR CONNECTIONS MESSAGES | mqtt HOST:PORT TOPIC_PREFIX HTTP_ADDR MESSAGES MRN"
        ),
    }
}
