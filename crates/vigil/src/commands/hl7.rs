//! `vigil hl7`: the HL7 v2 message store (list, show, reprocess) and an MLLP client (send).
//!
//! Output formats:
//! - `list`: one line per message, tab-separated: `ID  STATE  RECEIVED  TYPE  ERROR`, oldest
//!   first. `ID` is `SENDER/CONTROL-ID` (sender `MSH-3.1^MSH-4.1`), with `%`, `/`, tabs, line
//!   breaks and spaces percent-encoded, so it can be passed to `show` and `reprocess` as is.
//!   `--failed` lists only the dead letters (`failed`, AE) and refused messages (`rejected`, AR).
//! - `show`: `id:`, `state:`, `received:`, `error:` lines, a blank line, then the raw message
//!   with segments on separate lines.
//! - `reprocess`: the acknowledgement code, then the ACK (segments on separate lines); exit 0
//!   when accepted, 1 otherwise. A device payload (`mqtt:<topic>/...`) prints one line:
//!   `stored Observation/ID`, `already stored` (exit 0), `dead-letter: REASON` or
//!   `not stored: REASON` (exit 1).
//! - `send`: for each message of each file (a file may hold several, MLLP-framed or one after
//!   another starting with `MSH`), the ACK received, segments on separate lines, followed by
//!   a blank line; exit 1 when any ACK is not AA/CA.

use crate::runtime;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vigil_ingest::door::{Door, state};
use vigil_ingest::source::client::MllpClient;
use vigil_service::InboundMessage;

/// Options of `vigil hl7`.
#[derive(Args, Debug)]
pub struct Hl7Args {
    #[command(subcommand)]
    command: Hl7Command,
}

#[derive(Subcommand, Debug)]
enum Hl7Command {
    /// List the stored inbound messages.
    List {
        /// Directory holding the database.
        #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
        data: PathBuf,
        /// Only dead letters (failed, AE) and refused messages (rejected, AR).
        #[arg(long)]
        failed: bool,
    },
    /// Show one stored message.
    Show {
        /// Directory holding the database.
        #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
        data: PathBuf,
        /// The message id, as `list` prints it.
        id: String,
    },
    /// Process a stored message again (e.g. a dead letter after the cause was fixed).
    Reprocess {
        /// Directory holding the database.
        #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
        data: PathBuf,
        /// The message id, as `list` prints it.
        id: String,
    },
    /// Send HL7 v2 files over MLLP and print each acknowledgement.
    Send {
        /// Files holding one or more messages.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The MLLP listener, e.g. 127.0.0.1:2575.
        #[arg(long)]
        to: String,
        /// Seconds to wait for each acknowledgement.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// Runs `vigil hl7`.
pub fn run(args: Hl7Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Hl7Command::List { data, failed } => list(&data, failed),
        Hl7Command::Show { data, id } => show(&data, &id),
        Hl7Command::Reprocess { data, id } => reprocess(&data, &id),
        Hl7Command::Send { files, to, timeout } => send(&files, &to, timeout),
    }
}

fn open_door(data: &std::path::Path) -> anyhow::Result<Door> {
    if !data.is_dir() {
        bail!("no data directory at {}", data.display());
    }
    let (service, _store) = runtime::open_service(data)?;
    Ok(Door::new(service, "http://localhost"))
}

/// `SENDER/CONTROL-ID` with the separator and blanks percent-encoded.
fn message_id(record: &InboundMessage) -> String {
    format!("{}/{}", encode(&record.sender), encode(&record.control_id))
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '%' | '/' | ' ' | '\t' | '\r' | '\n' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn decode(text: &str) -> anyhow::Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .context("a '%' in the id is not followed by two hex digits")?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .context("a '%' in the id is not followed by two hex digits")?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the id is not UTF-8")
}

fn parse_id(id: &str) -> anyhow::Result<(String, String)> {
    let (sender, control) = id.split_once('/').with_context(|| {
        format!("'{id}' is not a message id (SENDER/CONTROL-ID, as `vigil hl7 list` prints it)")
    })?;
    Ok((decode(sender)?, decode(control)?))
}

fn message_type(raw: &str) -> String {
    vigil_ingest::er7::Message::parse_str(raw)
        .map(|m| {
            let h = m.header();
            format!("{}^{}", h.message_code(), h.trigger_event())
        })
        .unwrap_or_else(|_| "-".to_owned())
}

fn list(data: &std::path::Path, failed: bool) -> anyhow::Result<ExitCode> {
    let door = open_door(data)?;
    let states: &[&str] = if failed {
        &[state::FAILED, state::REJECTED]
    } else {
        &[state::PROCESSED, state::FAILED, state::REJECTED]
    };
    let mut records = Vec::new();
    for s in states {
        records.extend(door.service().inbound_messages(s, usize::MAX >> 1)?);
    }
    records.sort_by(|a, b| {
        (a.received_micros, &a.sender, &a.control_id).cmp(&(
            b.received_micros,
            &b.sender,
            &b.control_id,
        ))
    });
    let mut out = String::new();
    for r in &records {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            message_id(r),
            r.state,
            vigil_service::format_instant(r.received_micros),
            message_type(&r.raw),
            r.error.as_deref().unwrap_or("-")
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn show(data: &std::path::Path, id: &str) -> anyhow::Result<ExitCode> {
    let (sender, control) = parse_id(id)?;
    let door = open_door(data)?;
    let Some(record) = door.service().inbound_message(&sender, &control)? else {
        bail!("no message {id}");
    };
    println!("id: {}", message_id(&record));
    println!("state: {}", record.state);
    println!(
        "received: {}",
        vigil_service::format_instant(record.received_micros)
    );
    println!("type: {}", message_type(&record.raw));
    println!("error: {}", record.error.as_deref().unwrap_or("-"));
    println!();
    println!("{}", segments_on_lines(&record.raw));
    Ok(ExitCode::SUCCESS)
}

fn segments_on_lines(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn reprocess(data: &std::path::Path, id: &str) -> anyhow::Result<ExitCode> {
    let (sender, control) = parse_id(id)?;
    let door = open_door(data)?;
    if door.service().inbound_message(&sender, &control)?.is_none() {
        bail!("no message {id}");
    }
    if sender.starts_with("mqtt:") {
        return reprocess_device(door.service().clone(), &sender, &control);
    }
    let reply = door
        .reprocess(&sender, &control)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", reply.code.as_str());
    if let Some(ack) = &reply.ack {
        println!("{}", segments_on_lines(ack));
    }
    let accepted = matches!(reply.code.as_str(), "AA" | "CA");
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A device payload (sender `mqtt:<topic>`) through the device door again.
fn reprocess_device(
    service: vigil_service::FhirService,
    sender: &str,
    control: &str,
) -> anyhow::Result<ExitCode> {
    use vigil_ingest::device::{DeviceDoor, DeviceOutcome};
    let door = DeviceDoor::new(service, "http://localhost");
    let outcome = door
        .reprocess(sender, control)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("no device payload {sender}/{control}"))?;
    let (line, ok) = match outcome {
        DeviceOutcome::Stored(id) => (format!("stored Observation/{id}"), true),
        DeviceOutcome::Duplicate => ("already stored".to_owned(), true),
        DeviceOutcome::DeadLetter(reason) => (format!("dead-letter: {reason}"), false),
        DeviceOutcome::Transient(reason) => (format!("not stored: {reason}"), false),
    };
    println!("{line}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The messages of a file: MLLP frames when it has any, else one message per `MSH` line.
fn messages_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.contains(&vigil_ingest::mllp::START_BLOCK) {
        let mut decoder = vigil_ingest::mllp::MllpDecoder::new(64 * 1024 * 1024);
        decoder.feed(bytes);
        let mut out = Vec::new();
        while let Some(frame) = decoder.next_frame() {
            if let Ok(frame) = frame {
                out.push(frame);
            }
        }
        return out;
    }
    let text = vigil_ingest::door::decode_text(bytes);
    let mut out: Vec<String> = Vec::new();
    for line in text.split(['\r', '\n']) {
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_start().starts_with("MSH") || out.is_empty() {
            out.push(String::new());
        }
        if let Some(current) = out.last_mut() {
            current.push_str(line.trim_start());
            current.push('\r');
        }
    }
    out.into_iter().map(String::into_bytes).collect()
}

fn send(files: &[PathBuf], to: &str, timeout: u64) -> anyhow::Result<ExitCode> {
    let mut client = MllpClient::connect(to, Duration::from_secs(timeout.max(1)))
        .with_context(|| format!("cannot connect to {to}"))?;
    let mut all_accepted = true;
    for file in files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let messages = messages_of(&bytes);
        if messages.is_empty() {
            bail!("{} holds no HL7 v2 message", file.display());
        }
        for message in messages {
            // Enhanced mode may bring two acknowledgements (accept, then application) or,
            // when MSH-15/MSH-16 ask for none in this case, none.
            let acks = client
                .exchange_all(&message, Duration::from_secs(1))
                .with_context(|| {
                    format!(
                        "no acknowledgement from {to} for a message of {}",
                        file.display()
                    )
                })?;
            if acks.is_empty() {
                println!("(no acknowledgement: MSH-15/MSH-16 ask for none in this case)\n");
            }
            for ack in acks {
                let text = vigil_ingest::door::decode_text(&ack);
                let code = vigil_ingest::er7::Message::parse_str(&text)
                    .ok()
                    .and_then(|m| m.get("MSA-1").ok().flatten().map(str::to_owned))
                    .unwrap_or_default();
                all_accepted &= matches!(code.as_str(), "AA" | "CA");
                println!("{}\n", segments_on_lines(&text));
            }
        }
    }
    Ok(if all_accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The ingest sources `vigil serve` starts.
#[derive(Debug, Default)]
pub struct IngestOptions {
    /// `--mllp ADDR`.
    pub mllp: Option<std::net::SocketAddr>,
    /// `--mllp-idle-timeout`, `--mllp-max-message-bytes`.
    pub listener: vigil_ingest::source::listener::ListenerConfig,
    /// `--mqtt URL --mqtt-topic FILTER`.
    pub mqtt: Option<vigil_ingest::source::mqtt::MqttConfig>,
}

impl IngestOptions {
    /// From `vigil serve`'s options (the MQTT URL checked here, before anything starts).
    pub fn from_serve(args: &crate::commands::serve::ServeArgs) -> anyhow::Result<IngestOptions> {
        let mqtt = match (&args.mqtt, &args.mqtt_topic) {
            (Some(url), Some(topic)) => {
                vigil_ingest::source::mqtt::parse_url(url)
                    .map_err(|e| anyhow::anyhow!("--mqtt: {e}"))?;
                if topic.trim().is_empty() {
                    bail!("--mqtt-topic must not be empty");
                }
                Some(vigil_ingest::source::mqtt::MqttConfig {
                    url: url.clone(),
                    topic: topic.clone(),
                    client_id: args.mqtt_client_id.clone(),
                    in_flight: 64,
                })
            }
            _ => None,
        };
        if args.mllp_idle_timeout == 0 || args.mllp_max_message_bytes == 0 {
            bail!("--mllp-idle-timeout and --mllp-max-message-bytes must be positive");
        }
        let listener = vigil_ingest::source::listener::ListenerConfig {
            idle_timeout: std::time::Duration::from_secs(args.mllp_idle_timeout),
            max_message_bytes: args.mllp_max_message_bytes,
            ..Default::default()
        };
        Ok(IngestOptions {
            mllp: args.mllp,
            listener,
            mqtt,
        })
    }
}

/// The running ingest sources.
pub struct Running {
    mllp: Option<std::net::SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Prints the MLLP address on stdout (after the HTTP line).
    pub fn announce(&self) {
        use std::io::Write;
        if let Some(address) = self.mllp {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "vigil: listening for HL7 v2 over MLLP at {address}");
            let _ = stdout.flush();
        }
    }

    /// Waits for the sources to stop (after `stop` turned true).
    pub async fn finish(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the MLLP listener and the MQTT feed, each stopping when `stop` turns true.
pub async fn start(
    options: IngestOptions,
    service: &vigil_service::FhirService,
    base_url: &str,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let mut running = Running {
        mllp: None,
        tasks: Vec::new(),
    };
    if let Some(address) = options.mllp {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for MLLP on {address}"))?;
        let local = listener.local_addr().context("no local MLLP address")?;
        let door = std::sync::Arc::new(Door::new(service.clone(), base_url));
        let config = options.listener.clone();
        tracing::info!(address = %local, "listening for HL7 v2 over MLLP");
        running.mllp = Some(local);
        running
            .tasks
            .push(tokio::spawn(vigil_ingest::source::listener::serve(
                listener,
                door,
                config,
                stopped(stop.clone()),
            )));
    }
    if let Some(config) = options.mqtt {
        let door = std::sync::Arc::new(vigil_ingest::device::DeviceDoor::new(
            service.clone(),
            base_url,
        ));
        tracing::info!(topic = %config.topic, "consuming device observations over MQTT");
        let feed = vigil_ingest::source::mqtt::run(config, door, stopped(stop.clone()));
        running.tasks.push(tokio::spawn(async move {
            if let Err(error) = feed.await {
                tracing::error!(%error, "mqtt feed stopped");
            }
        }));
    }
    Ok(running)
}
