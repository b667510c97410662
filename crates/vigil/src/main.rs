//! The `vigil` binary: command line and wiring only. Each subcommand lives in
//! `commands/<name>.rs`; the FHIR logic is in the library crates.

mod commands;
mod edge;
mod log_writer;
mod runtime;
mod security;
mod tls;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Vigil: a clinical data platform in one binary (FHIR R4 server, integration engine, clinical
/// decision support).
#[derive(Parser)]
#[command(name = "vigil", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `vigil_api=debug` (also the VIGIL_LOG variable).
    #[arg(long, global = true, env = "VIGIL_LOG", default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the FHIR REST API over a data directory.
    Serve(Box<commands::serve::ServeArgs>),
    /// Serve with a few sample patients loaded (a fresh data directory unless --data is given).
    Demo(commands::demo::DemoArgs),
    /// Create or upgrade the database schema of a data directory, then exit.
    Migrate(commands::migrate::MigrateArgs),
    /// Recompute the search index of every resource (after search parameters changed), then exit.
    Reindex(commands::reindex::ReindexArgs),
    /// Evaluate a FHIRPath expression and print the result as one JSON array.
    Fhirpath(commands::fhirpath::FhirpathArgs),
    /// Measure create and read throughput over HTTP on loopback.
    Bench(commands::bench::BenchArgs),
    /// Bulk-load Bundles and NDJSON files into a data directory (offline).
    Import(commands::import::ImportArgs),
    /// Audit trail tools: `vigil audit verify --data DIR`.
    Audit(commands::audit::AuditArgs),
    /// Register, list, disable and rotate OAuth clients (SMART apps, backend services).
    Client(commands::client::ClientArgs),
    /// Register, list, disable and rotate users (patients, practitioners, auditors, admins).
    User(commands::user::UserArgs),
    /// HL7 v2 messages: list, show and reprocess the stored ones; send files over MLLP.
    Hl7(commands::hl7::Hl7Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end: dropping it writes the queued log lines.
    let _log = runtime::init_logging(&cli.log);
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(*args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Reindex(args) => commands::reindex::run(args),
        Command::Fhirpath(args) => commands::fhirpath::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Client(args) => commands::client::run(args),
        Command::User(args) => commands::user::run(args),
        Command::Hl7(args) => commands::hl7::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vigil: {error:#}");
            ExitCode::FAILURE
        }
    }
}
