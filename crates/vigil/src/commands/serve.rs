//! `vigil serve`: the FHIR REST API over a data directory.

use crate::runtime;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_api::ApiConfig;

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
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime::check_listen_address(args.listen, args.dev)?;
    let (service, store) = runtime::open_service(&args.data)?;
    let api = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        base_url: args.base_url,
    };
    runtime::serve(service, store, args.listen, api, announce)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the address the server listens on, as the first line on stdout (scripts and tests
/// read it when they asked for port 0).
pub fn announce(address: SocketAddr) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "vigil: serving FHIR R4 at http://{address}");
    let _ = stdout.flush();
}
