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
}

/// Reindexes everything and prints a summary line.
pub fn run(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    if !args.data.exists() {
        anyhow::bail!("no data directory at {}", args.data.display());
    }
    let started = Instant::now();
    let (service, store) = runtime::open_service(&args.data)?;
    let report = service.reindex(|done| tracing::info!(done, "reindexing"))?;
    drop(service);
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close()?;
    }
    println!(
        "vigil: reindexed {} resources ({} skipped because they changed meanwhile) in {:.1} s",
        report.reindexed,
        report.skipped,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
