//! The MQTT device feed against the real Mosquitto on 127.0.0.1:1883 (unique topics and client
//! ids per test): compact and FHIR payloads, Device.patient, dead letters, redelivery stored
//! once, a persistent session catching up after the consumer was down, and a broker restart.
//! Skipped (with a message) when no broker listens there, unless `CI=true`.

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_ingest::device::DeviceDoor;
use vigil_ingest::source::mqtt::{MqttConfig, run};
use vigil_service::{FhirService, RequestContext, SearchScope, ServiceConfig};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

fn broker_available() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:1883".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: Mosquitto must listen on 127.0.0.1:1883"
        );
        eprintln!("skipping: no MQTT broker on 127.0.0.1:1883");
    }
    up
}

fn unique(name: &str) -> String {
    format!(
        "vigil-test-{name}-{}-{}",
        std::process::id(),
        vigil_service::now_micros()
    )
}

struct Feed {
    runtime: tokio::runtime::Runtime,
    service: FhirService,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
    client_id: String,
    topic: String,
    port: u16,
    _dir: Arc<tempfile::TempDir>,
}

impl Feed {
    fn start(name: &str) -> Feed {
        Feed::start_on(name, 1883)
    }

    fn start_on(name: &str, port: u16) -> Feed {
        Feed::start_with(name, port, SqliteOptions::default())
    }

    fn start_with(name: &str, port: u16, options: SqliteOptions) -> Feed {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let store = Arc::new(SqliteStore::open(dir.path(), options).expect("store"));
        let service = FhirService::open(store, ServiceConfig::default()).expect("service");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let base = unique(name);
        let mut feed = Feed {
            runtime,
            service,
            stop: None,
            task: None,
            client_id: format!("{base}-consumer"),
            topic: format!("{base}/+/obs"),
            port,
            _dir: dir,
        };
        feed.resume();
        feed
    }

    /// (Re)starts the consumer with the same client id (the persistent session).
    fn resume(&mut self) {
        let door = Arc::new(DeviceDoor::new(self.service.clone(), "http://vigil.test"));
        let config = MqttConfig {
            url: format!("mqtt://127.0.0.1:{}", self.port),
            topic: self.topic.clone(),
            client_id: self.client_id.clone(),
            in_flight: 16,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.task = Some(self.runtime.spawn(run(config, door, async move {
            let _ = stopped.await;
        })));
        self.stop = Some(stop);
        // Let it connect and subscribe before the test publishes.
        std::thread::sleep(Duration::from_millis(700));
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = self.runtime.block_on(task).expect("feed task");
            assert_eq!(result, Ok(()));
        }
    }

    fn topic_for(&self, device: &str) -> String {
        self.topic.replace('+', device)
    }

    fn publish(&self, topic: &str, payload: &[u8]) {
        let topic = topic.to_owned();
        let payload = payload.to_vec();
        let id = format!("{}-pub-{}", self.client_id, vigil_service::now_micros());
        let port = self.port;
        self.runtime.block_on(async move {
            let mut options = MqttOptions::new(id, "127.0.0.1", port);
            options.set_clean_session(true);
            let (client, mut events) = AsyncClient::new(options, 16);
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .expect("publish");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                assert!(Instant::now() < deadline, "no PUBACK from the broker");
                match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
                    Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => panic!("publisher: {error}"),
                    Err(_) => panic!("publisher timed out"),
                }
            }
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(event) = events.poll().await {
                    if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                        break;
                    }
                }
            })
            .await;
        });
    }

    fn search(&self, resource_type: &str, query: &[(&str, &str)]) -> Vec<Value> {
        let context = RequestContext::system("test", "http://vigil.test");
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        pairs.push(("_count".into(), "1000".into()));
        let bundle = self
            .service
            .search(
                &context,
                SearchScope::Type(resource_type.to_owned()),
                pairs,
                false,
            )
            .expect("search");
        bundle["entry"]
            .as_array()
            .map(|e| e.iter().map(|e| e["resource"].clone()).collect())
            .unwrap_or_default()
    }

    /// Waits until `count` resources match (or times out), returns them.
    fn wait_for(&self, resource_type: &str, query: &[(&str, &str)], count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.search(resource_type, query);
            if found.len() >= count || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn dead_letters(&self) -> Vec<vigil_service::InboundMessage> {
        self.service.inbound_messages("failed", 1000).expect("list")
    }

    fn create(&self, resource_type: &str, body: Value) -> String {
        let context = RequestContext::system("test", "http://vigil.test");
        let outcome = self
            .service
            .create(&context, resource_type, body, None)
            .expect("create");
        format!("{resource_type}/{}", outcome.version.id)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn compact(device: &str, mrn: Option<&str>, value: Value) -> Vec<u8> {
    let mut payload = json!({"device": device, "code": {"system": "http://loinc.org", "code": "8867-4"}, "value": value, "unit": "/min", "time": "2026-12-01T03:14:00Z"});
    if let Some(mrn) = mrn {
        payload["patient"] = json!({"system": "urn:mrn", "value": mrn});
    }
    payload.to_string().into_bytes()
}

#[test]
fn compact_and_fhir_payloads_become_observations_and_bad_ones_dead_letters() {
    if !broker_available() {
        return;
    }
    let mut feed = Feed::start("payloads");
    let patient = feed.create(
        "Patient",
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "M1"}]}),
    );
    let device = feed.create("Device", json!({"resourceType": "Device", "identifier": [{"value": "MON-7"}], "patient": {"reference": patient}}));
    let topic = feed.topic_for("mon-7");
    feed.publish(&topic, &compact("MON-7", Some("M1"), json!(72)));
    feed.publish(&topic, &compact("MON-7", None, json!(131.5)));
    let fhir = json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]}, "subject": {"identifier": {"system": "urn:mrn", "value": "M1"}}, "valueQuantity": {"value": 89, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}});
    feed.publish(&topic, fhir.to_string().as_bytes());
    // Bad payloads: not JSON, unknown patient, no patient at all, a non-numeric value.
    feed.publish(&topic, b"{not json");
    feed.publish(&topic, &compact("MON-7", Some("NOBODY"), json!(70)));
    feed.publish(&topic, &compact("UNKNOWN-DEVICE", None, json!(70)));
    feed.publish(&topic, &compact("MON-7", Some("M1"), json!("seventy")));
    // The feed goes on after them.
    feed.publish(&topic, &compact("MON-7", Some("M1"), json!(75)));
    let found = feed.wait_for("Observation", &[("subject", patient.as_str())], 4);
    assert_eq!(found.len(), 4, "{found:#?}");
    let by_value = |v: f64| {
        found
            .iter()
            .find(|o| o["valueQuantity"]["value"].as_f64() == Some(v))
            .cloned()
            .unwrap_or_else(|| panic!("value {v}"))
    };
    let hr = by_value(72.0);
    assert_eq!(hr["effectiveDateTime"], "2026-12-01T03:14:00Z");
    assert_eq!(hr["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(hr["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(hr["device"]["reference"], device.as_str());
    let via_device = by_value(131.5);
    assert_eq!(
        via_device["subject"]["reference"],
        patient.as_str(),
        "Device.patient when the payload names no patient"
    );
    let spo2 = by_value(89.0);
    assert_eq!(spo2["subject"]["reference"], patient.as_str());
    let deadline = Instant::now() + Duration::from_secs(10);
    while feed.dead_letters().len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let dead = feed.dead_letters();
    assert_eq!(dead.len(), 4, "{dead:#?}");
    let reasons: Vec<String> = dead.iter().filter_map(|d| d.error.clone()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("not JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no patient has identifier")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no Device has identifier")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not a number")),
        "{reasons:?}"
    );
    // Once the patient exists, the dead letter can be reprocessed: stored, once.
    let nobody = dead
        .iter()
        .find(|d| d.error.as_deref().is_some_and(|e| e.contains("NOBODY")))
        .expect("NOBODY");
    let door = DeviceDoor::new(feed.service.clone(), "http://vigil.test");
    let later = feed.create("Patient", json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "NOBODY"}]}));
    let outcome = door
        .reprocess(&nobody.sender, &nobody.control_id)
        .expect("reprocess");
    assert!(
        matches!(
            outcome,
            Some(vigil_ingest::device::DeviceOutcome::Stored(_))
        ),
        "{outcome:?}"
    );
    assert_eq!(
        feed.search("Observation", &[("subject", later.as_str())])
            .len(),
        1
    );
    let again = door
        .reprocess(&nobody.sender, &nobody.control_id)
        .expect("reprocess");
    assert_eq!(again, Some(vigil_ingest::device::DeviceOutcome::Duplicate));
    assert_eq!(feed.dead_letters().len(), 3);
    feed.halt();
}

#[test]
fn redeliveries_are_stored_once_and_the_session_catches_up_after_downtime() {
    if !broker_available() {
        return;
    }
    let mut feed = Feed::start("session");
    let patient = feed.create(
        "Patient",
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "S1"}]}),
    );
    let topic = feed.topic_for("dev-1");
    let payload = compact("DEV-1", Some("S1"), json!(80));
    feed.publish(&topic, &payload);
    feed.publish(&topic, &payload); // a redelivery looks like this: same payload again
    assert_eq!(
        feed.wait_for("Observation", &[("subject", patient.as_str())], 1)
            .len(),
        1
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        feed.search("Observation", &[("subject", patient.as_str())])
            .len(),
        1,
        "stored once"
    );
    // The consumer goes away; the broker keeps its session and queues QoS 1 messages.
    feed.halt();
    for v in [81, 82, 83] {
        feed.publish(&topic, &compact("DEV-1", Some("S1"), json!(v)));
    }
    feed.resume();
    let found = feed.wait_for("Observation", &[("subject", patient.as_str())], 4);
    assert_eq!(
        found.len(),
        4,
        "messages published while the consumer was down arrive"
    );
    feed.halt();
}

/// A storage fault (another process holding the database's write lock past the busy timeout)
/// does not stall the feed: the payload is retried until the lock is released and stored once,
/// and the payloads behind it follow.
#[test]
fn a_storage_fault_is_retried_until_the_payload_commits() {
    if !broker_available() {
        return;
    }
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(100),
        ..SqliteOptions::default()
    };
    let feed = Feed::start_with("busy", 1883, options);
    let patient = feed.create(
        "Patient",
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "B1"}]}),
    );
    let database = feed._dir.path().join(vigil_store::sqlite::DATABASE_FILE);
    let blocker = rusqlite::Connection::open(&database).expect("second connection");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let topic = feed.topic_for("dev-b");
    for v in [90, 91, 92] {
        feed.publish(&topic, &compact("DEV-B", Some("B1"), json!(v)));
    }
    // Several tries fail while the lock is held (100 ms busy timeout, retries from 100 ms).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        feed.search("Observation", &[("subject", patient.as_str())])
            .is_empty(),
        "nothing can commit while the lock is held"
    );
    blocker.execute_batch("ROLLBACK").expect("release the lock");
    let found = feed.wait_for("Observation", &[("subject", patient.as_str())], 3);
    assert_eq!(found.len(), 3, "every payload stored after the fault");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        feed.search("Observation", &[("subject", patient.as_str())])
            .len(),
        3,
        "each stored once"
    );
    assert!(feed.dead_letters().is_empty(), "a fault is no dead letter");
}

/// A Mosquitto of the test's own (the machine's shared broker is not ours to restart): a
/// free loopback port, persistence in a temporary directory.
struct OwnBroker {
    child: Option<std::process::Child>,
    config: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnBroker {
    fn start() -> Option<OwnBroker> {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let config = dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
            dir.path().display()
        );
        std::fs::write(&config, text).ok()?;
        // Mosquitto started as root drops to its own user, which must be able to write the
        // persistence file here.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).ok()?;
        }
        let mut broker = OwnBroker {
            child: None,
            config,
            port,
            _dir: dir,
        };
        broker.run().then_some(broker)
    }

    fn run(&mut self) -> bool {
        let binary = ["/usr/sbin/mosquitto", "mosquitto"]
            .into_iter()
            .find(|b| std::process::Command::new(b).arg("-h").output().is_ok());
        let Some(binary) = binary else { return false };
        let Ok(child) = std::process::Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        else {
            return false;
        };
        self.child = Some(child);
        let address: std::net::SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGTERM (the broker saves its sessions), wait, start again on the same port.
    fn restart(&mut self) -> bool {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        self.run()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_feed_survives_a_broker_restart() {
    if !broker_available() {
        return;
    }
    let Some(mut broker) = OwnBroker::start() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the mosquitto binary must be installed"
        );
        eprintln!("skipping: cannot start a mosquitto of our own");
        return;
    };
    let mut feed = Feed::start_on("restart", broker.port);
    let patient = feed.create(
        "Patient",
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "R1"}]}),
    );
    let topic = feed.topic_for("dev-2");
    feed.publish(&topic, &compact("DEV-2", Some("R1"), json!(60)));
    assert_eq!(
        feed.wait_for("Observation", &[("subject", patient.as_str())], 1)
            .len(),
        1
    );
    // Restart under a connected consumer: it reconnects (retrying every second).
    assert!(broker.restart(), "the broker came back");
    std::thread::sleep(Duration::from_millis(2500));
    feed.publish(&topic, &compact("DEV-2", Some("R1"), json!(61)));
    assert_eq!(
        feed.wait_for("Observation", &[("subject", patient.as_str())], 2)
            .len(),
        2,
        "stored after the restart"
    );
    // Messages queued for the offline consumer survive a broker restart (persistent session).
    feed.halt();
    feed.publish(&topic, &compact("DEV-2", Some("R1"), json!(62)));
    assert!(broker.restart(), "the broker came back again");
    feed.resume();
    let found = feed.wait_for("Observation", &[("subject", patient.as_str())], 3);
    assert_eq!(
        found.len(),
        3,
        "the queued message arrives after the restart"
    );
    feed.halt();
}
