//! `vigil serve`: the FHIR REST API over a data directory.

use crate::runtime;
use anyhow::Context;
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
    /// Development mode: no authentication; allowed on loopback only.
    #[arg(long)]
    pub dev: bool,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS. Required on a non-loopback
    /// address.
    #[arg(
        long,
        env = "VIGIL_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "VIGIL_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "VIGIL_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time a client has to send a request's header section, in seconds: from connecting for
    /// the first request, from its first byte for the next ones (closed without an answer
    /// beyond).
    #[arg(long, env = "VIGIL_HEADER_TIMEOUT_SECS", default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Longest wait for the next piece of a request body, in seconds (408 and close beyond).
    #[arg(long, env = "VIGIL_BODY_TIMEOUT_SECS", default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Time a keep-alive connection may stay without a request, in seconds (closed beyond).
    #[arg(long, env = "VIGIL_IDLE_TIMEOUT_SECS", default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Most HTTP connections open at once; beyond, new connections wait to be accepted.
    #[arg(long, env = "VIGIL_MAX_CONNECTIONS", default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Memory for the read cache, in MiB: current versions of resources kept for reads by id,
    /// invalidated by every commit that changes one (0 turns it off).
    #[arg(
        long,
        env = "VIGIL_READ_CACHE_MIB",
        default_value_t = 64,
        value_name = "MIB"
    )]
    pub read_cache_mib: usize,
    /// Access log: `all` (one line per request), `errors` (status 400 and above), `sample:N`
    /// (errors and one in N of the other requests) or `off`. Never the query string or body.
    #[arg(
        long,
        env = "VIGIL_ACCESS_LOG",
        default_value = "all",
        value_name = "POLICY"
    )]
    pub access_log: vigil_api::AccessLog,
    /// Public base URL of the FHIR API (Location headers, Bundle links, token audience, OAuth
    /// endpoints). Default: http(s)://ADDRESS of --listen (with --dev: http://{Host}).
    #[arg(long, env = "VIGIL_BASE_URL")]
    pub base_url: Option<String>,
    /// Lifetime of access tokens in seconds (at most 3600).
    #[arg(long, env = "VIGIL_TOKEN_LIFETIME", default_value_t = vigil_auth::MAX_TOKEN_LIFETIME)]
    pub token_lifetime: u64,
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
    /// NEWS2 window in minutes: the latest reading of each parameter within this many minutes
    /// of the newest one is scored (clinical decision support, docs/cds.md).
    #[arg(long, env = "VIGIL_NEWS2_WINDOW_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub news2_window_minutes: u64,
    /// Do not run clinical decision support (NEWS2 alerts, rules, Subscriptions).
    #[arg(long)]
    pub no_cds: bool,
    /// Also listen for HL7 v2 over MLLP on this address (e.g. 127.0.0.1:2575; port 0 picks a
    /// free one, printed on stdout). Loopback only: MLLP carries no authentication.
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
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::load_config(cert, key)?),
        _ => None,
    };
    let https = tls.is_some();
    runtime::check_listen_address(args.listen, args.dev, https)?;
    let ingest = crate::commands::hl7::IngestOptions::from_serve(&args)?;
    if let Some(mllp) = args.mllp
        && !mllp.ip().is_loopback()
    {
        anyhow::bail!(
            "MLLP carries no authentication: --mllp must be a loopback address, not {mllp} (reach it through a tunnel or an interface engine on this host)"
        );
    }
    let listener = runtime::bind(args.listen)?;
    let local = listener.local_addr()?;
    let mut config = runtime::service_config(&args.data);
    config.read_cache_bytes = args.read_cache_mib.saturating_mul(1024 * 1024);
    let mut api = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        base_url: args.base_url.clone(),
        authenticator: None,
        access_log: args.access_log,
    };
    let mut routes = None;
    let auth = if args.dev {
        None
    } else {
        // Authentication on: tokens from the built-in authorization server, links and token
        // audiences from the one public base URL (never from the Host header).
        let base = crate::security::public_base_url(args.base_url.as_deref(), https, local);
        std::fs::create_dir_all(&args.data)
            .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
        let mut auth_config = vigil_auth::AuthConfig::new(base.clone(), args.data.clone());
        auth_config.token_lifetime = args.token_lifetime;
        let auth = vigil_auth::AuthServer::open(&auth_config)
            .map_err(|e| anyhow::anyhow!("cannot start the authorization server: {e}"))?;
        config.rest_security = Some(auth.capability_security());
        api.base_url = Some(base);
        Some(auth)
    };
    let (mut service, store) = runtime::open_service_with(&args.data, config)?;
    if auth.is_some() {
        service = service.with_smart_authorization();
    }
    let service = runtime::with_audit(service)?;
    if let Some(auth) = auth {
        // Logins, tokens and refused requests go to the same audit trail.
        let events = crate::security::AuditedAuthEvents {
            service: service.clone(),
        };
        let auth = Arc::new(auth.with_events(Arc::new(events)));
        api.authenticator = Some(Arc::new(crate::security::TokenAuthenticator {
            auth: auth.clone(),
            service: service.clone(),
        }));
        routes = Some(auth.router());
    }
    let mut feeds = match &args.change_log_dir {
        Some(dir) => start_change_logs(&store, dir, &args.change_log_consumers)?,
        None => Vec::new(),
    };
    if !args.no_cds {
        let base_url = api
            .base_url
            .clone()
            .unwrap_or_else(|| crate::security::public_base_url(None, https, local));
        let cds = start_cds(&service, &store, &base_url, args.news2_window_minutes)?;
        feeds.extend(cds.runners);
        // CDS Hooks and the Subscription websocket answer authenticated callers only, with
        // their own rights (see vigil_api::protect).
        let cds_routes = vigil_api::protect(cds.router, &api);
        routes = Some(match routes {
            Some(auth) => auth.merge(cds_routes),
            None => cds_routes,
        });
    }
    let scheme = if https { "https" } else { "http" };
    let edge = runtime::Edge {
        tls,
        routes,
        ingest,
        limits: crate::edge::EdgeLimits {
            header_timeout: Duration::from_secs(args.header_timeout_secs),
            body_timeout: Duration::from_secs(args.body_timeout_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        },
    };
    runtime::serve(service, store, listener, api, feeds, edge, |address| {
        announce_at(scheme, address)
    })?;
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

/// Starts the clinical decision support consumers (docs/cds.md).
pub fn start_cds(
    service: &vigil_service::FhirService,
    store: &Arc<SqliteStore>,
    base_url: &str,
    news2_window_minutes: u64,
) -> anyhow::Result<vigil_cds::Cds> {
    let mut options = vigil_cds::CdsOptions::default();
    options.news2.window = Duration::from_secs(news2_window_minutes * 60);
    options.news2.base_url = base_url.to_owned();
    let cds = vigil_cds::start(service, store.clone(), &options)?;
    tracing::info!(
        consumers = cds.runners.len(),
        "clinical decision support started"
    );
    Ok(cds)
}

/// Prints the address the server listens on, as the first line on stdout (scripts and tests
/// read it when they asked for port 0).
pub fn announce(address: SocketAddr) {
    announce_at("http", address);
}

/// Prints `vigil: serving FHIR R4 at SCHEME://ADDRESS` on stdout.
pub fn announce_at(scheme: &str, address: SocketAddr) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "vigil: serving FHIR R4 at {scheme}://{address}");
    let _ = stdout.flush();
}
