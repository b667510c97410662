//! HL7 v2 ingest through the real binary: `vigil serve --mllp`, `vigil hl7
//! send|list|show|reprocess`, and kill -9 while four senders stream ORU^R01.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Vigil, http};
use vigil_ingest::er7::Message;
use vigil_ingest::source::client::MllpClient;

/// `vigil serve --mllp 127.0.0.1:0`: the server and its MLLP address.
fn start(data: &Path) -> (Vigil, SocketAddr) {
    start_with(data, &[])
}

/// [`start`] with extra `serve` arguments.
fn start_with(data: &Path, extra: &[&str]) -> (Vigil, SocketAddr) {
    // Counts below are of what ingest stores; CDS would add NEWS2 scores.
    let mut args = vec!["--no-cds"];
    args.extend_from_slice(extra);
    Vigil::start_with_mllp(data, &args)
}

fn vigil(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("run vigil");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn oru(sender: &str, control_id: &str, value: &str) -> String {
    let obx: String = (1..=6)
        .map(|n| format!("OBX|{n}|NM|8867-4^Heart rate^LN||{value}|/min^/min^UCUM|60-100||||F|||20261201031000\r"))
        .collect();
    format!(
        "MSH|^~\\&|{sender}|WARD|VIGIL|HOSP|20261201031400||ORU^R01|{control_id}|P|2.5.1\rPID|1||MRN-{sender}^^^HOSP\rOBR|1||FILL-{sender}-{control_id}^LAB|85353-1^Vitals^LN|||20261201031000\r{obx}"
    )
}

fn msa(ack: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(ack);
    let message = Message::parse_str(&text).expect("ACK parses");
    let get = |p: &str| message.get(p).ok().flatten().unwrap_or_default().to_owned();
    (get("MSA-1"), get("MSA-2"))
}

fn total(vigil: &Vigil, query: &str) -> u64 {
    let separator = if query.contains('?') { '&' } else { '?' };
    let response = http(
        vigil.address,
        "GET",
        &format!("{query}{separator}_summary=count"),
        None,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()["total"].as_u64().unwrap_or_default()
}

#[test]
fn send_list_show_and_reprocess_through_the_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (server, mllp) = start(&data);
    let good = dir.path().join("good.hl7");
    let two = format!(
        "{}\n{}",
        oru("CLI", "G1", "72").replace('\r', "\n"),
        oru("CLI", "G2", "73").replace('\r', "\n")
    );
    std::fs::write(&good, two).expect("write");
    let bad = dir.path().join("bad.hl7");
    std::fs::write(&bad, oru("CLI", "B1", "seventy")).expect("write");
    let to = mllp.to_string();
    let (ok, stdout, stderr) = vigil(&[
        "hl7",
        "send",
        good.to_str().unwrap_or_default(),
        "--to",
        &to,
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout.matches("MSA|AA|").count(), 2, "{stdout}");
    assert!(
        stdout.contains("MSA|AA|G1") && stdout.contains("MSA|AA|G2"),
        "{stdout}"
    );
    let (ok, stdout, _) = vigil(&["hl7", "send", bad.to_str().unwrap_or_default(), "--to", &to]);
    assert!(!ok, "an AE makes send fail");
    assert!(stdout.contains("MSA|AE|B1"), "{stdout}");
    assert!(stdout.contains("ERR|"), "{stdout}");
    assert_eq!(total(&server, "/Patient?identifier=MRN-CLI"), 1);
    assert_eq!(
        total(&server, "/Observation?subject.identifier=MRN-CLI"),
        12
    );
    assert!(server.terminate(), "clean shutdown");

    let data_arg = data.to_str().unwrap_or_default();
    let (ok, stdout, stderr) = vigil(&["hl7", "list", "--data", data_arg]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| l.split('\t').count() == 5), "{stdout}");
    let (ok, stdout, _) = vigil(&["hl7", "list", "--data", data_arg, "--failed"]);
    assert!(ok);
    let failed: Vec<&str> = stdout.lines().collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    let fields: Vec<&str> = failed[0].split('\t').collect();
    assert_eq!(fields[0], "CLI^WARD/B1");
    assert_eq!(fields[1], "failed");
    assert_eq!(fields[3], "ORU^R01");
    assert!(fields[4].starts_with("AE 102 OBX^1^5"), "{}", fields[4]);
    let (ok, stdout, _) = vigil(&["hl7", "show", "--data", data_arg, fields[0]]);
    assert!(ok);
    assert!(stdout.contains("state: failed"), "{stdout}");
    assert!(
        stdout.contains("OBX|1|NM|8867-4^Heart rate^LN||seventy"),
        "{stdout}"
    );
    let (ok, stdout, _) = vigil(&["hl7", "reprocess", "--data", data_arg, fields[0]]);
    assert!(!ok, "still not mappable");
    assert!(stdout.starts_with("AE\n"), "{stdout}");
    let (ok, _, stderr) = vigil(&["hl7", "show", "--data", data_arg, "NO/SUCH"]);
    assert!(!ok && stderr.contains("no message"), "{stderr}");
    let (ok, _, stderr) = vigil(&["hl7", "show", "--data", data_arg, "no-slash"]);
    assert!(!ok && stderr.contains("not a message id"), "{stderr}");
    let (ok, _, stderr) = vigil(&[
        "hl7",
        "list",
        "--data",
        dir.path().join("absent").to_str().unwrap_or_default(),
    ]);
    assert!(!ok && stderr.contains("no data directory"), "{stderr}");
}

/// Enhanced mode over the wire through `vigil hl7 send`: the accept acknowledgement, then the
/// application one (MSH-16 AL); with MSH-15 ER and MSH-16 ER a success brings none and send
/// says so, and the stream stays in step for the next message.
#[test]
fn hl7_send_reads_the_acknowledgements_enhanced_mode_asks_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (server, mllp) = start(&data);
    let to = mllp.to_string();
    let enhanced = dir.path().join("enhanced.hl7");
    let both = oru("CLI", "E1", "74").replace("|E1|P|2.5.1", "|E1|P|2.5.1|||AL|AL");
    let none = oru("CLI", "E2", "75").replace("|E2|P|2.5.1", "|E2|P|2.5.1|||ER|ER");
    let after = oru("CLI", "E3", "76");
    std::fs::write(
        &enhanced,
        format!("{both}\n{none}\n{after}").replace('\r', "\n"),
    )
    .expect("write");
    let (ok, stdout, stderr) = vigil(&[
        "hl7",
        "send",
        enhanced.to_str().unwrap_or_default(),
        "--to",
        &to,
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("MSA|CA|E1"), "{stdout}");
    assert!(stdout.contains("MSA|AA|E1"), "{stdout}");
    assert!(stdout.contains("no acknowledgement"), "{stdout}");
    assert!(
        stdout.contains("MSA|AA|E3"),
        "the stream stays in step: {stdout}"
    );
    assert!(server.terminate(), "clean shutdown");
}

/// Four senders stream ORU^R01 (6 OBX each) until the server is killed with SIGKILL. After a
/// restart every message that got AA is stored exactly once; re-sending every message then
/// stores the rest once and replays the acknowledged ones.
#[test]
fn acknowledged_messages_survive_kill_9_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, mllp) = start(dir.path());
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let sent: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let acknowledged = Arc::clone(&acknowledged);
            let sent = Arc::clone(&sent);
            std::thread::spawn(move || {
                let Ok(mut client) = MllpClient::connect(mllp, Duration::from_secs(10)) else {
                    return;
                };
                let sender = format!("S{s}");
                for n in 0..100_000 {
                    let control = format!("{sender}-{n}");
                    sent.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((sender.clone(), control.clone()));
                    match client.exchange(oru(&sender, &control, "88").as_bytes()) {
                        Ok(ack) => {
                            let (code, echoed) = msa(&ack);
                            assert_eq!((code.as_str(), echoed.as_str()), ("AA", control.as_str()));
                            acknowledged
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(control, sender.clone());
                        }
                        Err(_) => return, // killed
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap_or_else(|p| p.into_inner()).len() < 200
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill_hard();
    for s in senders {
        s.join().expect("sender");
    }
    let acknowledged = acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        acknowledged.len() >= 200,
        "only {} acknowledged",
        acknowledged.len()
    );

    let (server, mllp) = start(dir.path());
    for (control, sender) in &acknowledged {
        let reports = total(
            &server,
            &format!("/DiagnosticReport?identifier=FILL-{sender}-{control}"),
        );
        assert_eq!(
            reports, 1,
            "{control}: an acknowledged message is stored exactly once"
        );
    }
    let stored_before = total(&server, "/DiagnosticReport");
    assert!(stored_before >= acknowledged.len() as u64);
    assert!(stored_before <= sent.len() as u64);
    // Re-send everything: acknowledged ones are replays, the rest are stored now, once.
    let mut client = MllpClient::connect(mllp, Duration::from_secs(20)).expect("connect");
    for (sender, control) in &sent {
        let (code, echoed) = msa(&client
            .exchange(oru(sender, control, "88").as_bytes())
            .expect("ack"));
        assert_eq!((code.as_str(), echoed.as_str()), ("AA", control.as_str()));
    }
    assert_eq!(total(&server, "/DiagnosticReport"), sent.len() as u64);
    assert_eq!(total(&server, "/Observation"), 6 * sent.len() as u64);
    assert_eq!(total(&server, "/Patient"), 4);
    println!(
        "{} of {} messages acknowledged before kill -9; all stored exactly once after restart and re-send",
        acknowledged.len(),
        sent.len()
    );
    assert!(server.terminate());
}

/// `vigil serve --mqtt ... --mqtt-topic ...` against the machine's Mosquitto: a compact
/// payload published with `mosquitto_pub` becomes an Observation of the patient. Skipped when
/// no broker or no `mosquitto_pub` is there (required when `CI=true`).
#[test]
fn serve_consumes_device_observations_over_mqtt() {
    let broker = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:1883".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok();
    let publisher = Command::new("mosquitto_pub").arg("--help").output().is_ok();
    if !broker || !publisher {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: Mosquitto and mosquitto_pub are required"
        );
        eprintln!("skipping: no MQTT broker on 127.0.0.1:1883 or no mosquitto_pub");
        return;
    }
    let unique = format!(
        "vigil-bin-{}-{}",
        std::process::id(),
        vigil_service::now_micros()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let topic_filter = format!("{unique}/+/obs");
    let server = Vigil::start_with(
        dir.path(),
        &[
            "--mqtt",
            "mqtt://127.0.0.1:1883",
            "--mqtt-topic",
            &topic_filter,
            "--mqtt-client-id",
            &unique,
        ],
    );
    let created = http(
        server.address,
        "POST",
        "/Patient",
        Some(r#"{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"BIN1"}]}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    std::thread::sleep(Duration::from_millis(700));
    let payload = r#"{"device":"BED12","patient":{"system":"urn:mrn","value":"BIN1"},"code":{"system":"http://loinc.org","code":"8867-4"},"value":131,"unit":"/min","time":"2026-12-01T03:10:00Z"}"#;
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "1883",
            "-q",
            "1",
            "-t",
            &format!("{unique}/bed12/obs"),
            "-m",
            payload,
        ])
        .status()
        .expect("mosquitto_pub");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = 0;
    while Instant::now() < deadline && found == 0 {
        found = total(&server, "/Observation?subject.identifier=BIN1&code=8867-4");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(found, 1);
    assert!(server.terminate(), "clean shutdown with the feed running");
}

/// `--mllp-max-message-bytes`: a larger frame gets an AR and its connection is closed; the
/// listener serves the next connection. A zero limit is refused at start.
#[test]
fn serve_applies_the_mllp_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, mllp) = start_with(
        dir.path(),
        &[
            "--mllp-max-message-bytes",
            "2000",
            "--mllp-idle-timeout",
            "5",
        ],
    );
    let mut client = MllpClient::connect(mllp, Duration::from_secs(20)).expect("connect");
    let big = format!("{}NTE|1||{}\r", oru("BIG", "L1", "70"), "x".repeat(3000));
    let (code, _) = msa(&client.exchange(big.as_bytes()).expect("ack"));
    assert_eq!(code, "AR");
    assert!(
        client.receive().is_err(),
        "closed after the oversized frame"
    );
    let mut next = MllpClient::connect(mllp, Duration::from_secs(20)).expect("connect");
    let (code, control) = msa(&next
        .exchange(oru("SMALL", "L2", "70").as_bytes())
        .expect("ack"));
    assert_eq!((code.as_str(), control.as_str()), ("AA", "L2"));
    assert!(server.terminate());
    let (ok, _, stderr) = vigil(&[
        "serve",
        "--dev",
        "--listen",
        "127.0.0.1:0",
        "--mllp",
        "127.0.0.1:0",
        "--mllp-max-message-bytes",
        "0",
        "--data",
        dir.path().to_str().unwrap_or_default(),
    ]);
    assert!(!ok && stderr.contains("must be positive"), "{stderr}");
}
