//! `vigil reindex`: recompute the search index rows of every current resource with the R4
//! definitions plus the SearchParameter resources stored in the database. Run it with the
//! server stopped (or restart the server afterwards, so it loads the same definitions).

use crate::runtime;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Options of `vigil reindex`.
#[derive(Args, Debug)]
pub struct ReindexArgs {
    /// Directory holding the database.
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    pub data: PathBuf,
    /// Switch the full-text index behind `_content`/`_text` on or off for this database, then
    /// rebuild (on) or drop (off) the full-text rows of every resource. Off by default: it
    /// costs about a sixth of durable create throughput (docs/benchmarks.md).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub full_text: Option<String>,
}

/// Reindexes everything and prints a summary line.
pub fn run(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    if !args.data.exists() {
        anyhow::bail!("no data directory at {}", args.data.display());
    }
    let started = Instant::now();
    let (mut service, store) = runtime::open_service(&args.data)?;
    if let Some(switch) = &args.full_text {
        let context = vigil_service::RequestContext::system("reindex", "http://localhost");
        service
            .set_full_text(&context, switch == "on")
            .map_err(|e| anyhow::anyhow!("cannot change the full-text setting: {e}"))?;
        // The engine follows the database's setting when the service is opened.
        service =
            vigil_service::FhirService::open(store.clone(), runtime::service_config(&args.data))
                .map_err(|e| anyhow::anyhow!("cannot reopen the service: {e}"))?;
    }
    let report = service.reindex(|done| tracing::info!(done, "reindexing"))?;
    let full_text = if service.full_text() { "on" } else { "off" };
    drop(service);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close()?;
    }
    println!(
        "vigil: reindexed {} resources ({} skipped because they changed meanwhile) in {:.1} s; full-text index {full_text}",
        report.reindexed,
        report.skipped,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
