//! `vigil serve`: the FHIR REST API over a data directory.

use crate::runtime;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vigil_api::ApiConfig;
use vigil_service::feed::{ConsumerOptions, ConsumerRunner, FileSink};
use vigil_store::sqlite::SqliteStore;

/// Options of `vigil serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory holding the database (created if missing).
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    pub data: PathBuf,
    /// Address to listen on. Port 0 picks a free port (the address is printed on stdout).
    #[arg(long, env = "VIGIL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Development mode: no authentication; allowed on loopback only. Until authentication
    /// lands every mode behaves like --dev.
    #[arg(long)]
    pub dev: bool,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "VIGIL_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Public base URL used in Location headers and Bundle links (default: http://{Host}).
    #[arg(long, env = "VIGIL_BASE_URL")]
    pub base_url: Option<String>,
    /// Directory for change-log files: every committed change is appended, as one NDJSON line,
    /// to DIR/NAME.ndjson for each --change-log-consumer NAME (default: one named `changes`).
    #[arg(long, env = "VIGIL_CHANGE_LOG_DIR", value_name = "DIR")]
    pub change_log_dir: Option<PathBuf>,
    /// A change-log consumer (repeatable): its own file and its own position in the store.
    #[arg(
        long = "change-log-consumer",
        value_name = "NAME",
        requires = "change_log_dir"
    )]
    pub change_log_consumers: Vec<String>,
    /// Also listen for HL7 v2 over MLLP on this address (e.g. 127.0.0.1:2575; port 0 picks a
    /// free one, printed on stdout). Loopback only until authentication exists.
    #[arg(long, env = "VIGIL_MLLP", value_name = "ADDR")]
    pub mllp: Option<SocketAddr>,
    /// MLLP: close a connection silent for this many seconds.
    #[arg(
        long,
        env = "VIGIL_MLLP_IDLE_TIMEOUT",
        default_value_t = 300,
        value_name = "SECONDS"
    )]
    pub mllp_idle_timeout: u64,
    /// MLLP: largest message in bytes (a larger frame gets an AR and the connection is closed).
    #[arg(long, env = "VIGIL_MLLP_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub mllp_max_message_bytes: usize,
    /// Also consume device observations from this MQTT broker (mqtt://HOST[:PORT]; QoS 1,
    /// persistent session, acknowledged after commit).
    #[arg(long, env = "VIGIL_MQTT", value_name = "URL", requires = "mqtt_topic")]
    pub mqtt: Option<String>,
    /// The MQTT topic filter to subscribe to, e.g. 'devices/+/obs'.
    #[arg(
        long,
        env = "VIGIL_MQTT_TOPIC",
        value_name = "FILTER",
        requires = "mqtt"
    )]
    pub mqtt_topic: Option<String>,
    /// The MQTT client id of Vigil's persistent session.
    #[arg(long, env = "VIGIL_MQTT_CLIENT_ID", default_value = "vigil-ingest")]
    pub mqtt_client_id: String,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime::check_listen_address(args.listen, args.dev)?;
    let ingest = crate::commands::hl7::IngestOptions::from_serve(&args)?;
    if let Some(mllp) = args.mllp {
        runtime::check_listen_address(mllp, args.dev)?;
    }
    let (service, store) = runtime::open_service(&args.data)?;
    let feeds = match &args.change_log_dir {
        Some(dir) => start_change_logs(&store, dir, &args.change_log_consumers)?,
        None => Vec::new(),
    };
    let api = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        base_url: args.base_url,
    };
    runtime::serve_with_ingest(service, store, args.listen, api, feeds, ingest, announce)?;
    Ok(ExitCode::SUCCESS)
}

/// Starts one file-sink consumer per name (`changes` when none is given), each appending to
/// `dir/NAME.ndjson` from its saved position.
fn start_change_logs(
    store: &Arc<SqliteStore>,
    dir: &Path,
    names: &[String],
) -> anyhow::Result<Vec<ConsumerRunner>> {
    let default = [String::from("changes")];
    let names = if names.is_empty() {
        &default[..]
    } else {
        names
    };
    let options = ConsumerOptions {
        prune_interval: Some(Duration::from_secs(60)),
        ..ConsumerOptions::default()
    };
    let mut runners = Vec::new();
    for name in names {
        let sink = FileSink::open(dir, name)?;
        let path = sink.path().display().to_string();
        let runner = ConsumerRunner::start(store.clone(), sink, options.clone())?;
        tracing::info!(consumer = %runner.name(), file = %path, "change log started");
        runners.push(runner);
    }
    Ok(runners)
}

/// Prints the address the server listens on, as the first line on stdout (scripts and tests
/// read it when they asked for port 0).
pub fn announce(address: SocketAddr) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "vigil: serving FHIR R4 at http://{address}");
    let _ = stdout.flush();
}
