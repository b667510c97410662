//! `vigil import`: offline bulk load of Bundles and NDJSON files into a data directory.
//!
//! The work is `vigil_bulk::import::run` (vigil-bulk, `import` module, which documents the id
//! rules and the load order); this file is the command line around it: a progress bar on
//! stderr (hidden when stderr is not a terminal), one line per failed entry or line on stderr,
//! the summary line on stdout, and a non-zero exit status when anything failed.

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vigil_bulk::{
    ImportCounts, ImportIssue, ImportObserver, ImportOptions, ImportPlan, ImportReport,
};
use vigil_service::{FhirService, RequestContext, ServiceConfig};
use vigil_store::sqlite::{BulkLoadReport, SqliteOptions, SqliteStore};

/// Options of `vigil import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Directory holding the database (created if missing).
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    pub data: PathBuf,
    /// Files (`*.json` Bundles or resources, `*.ndjson`/`*.jsonl`) or directories searched
    /// for them.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Resources per durable commit.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// SQLite page cache of the writer, in MiB: index inserts land on random pages, so a
    /// cache that holds the indexes' hot pages saves reads and WAL writes.
    #[arg(long, default_value_t = 64)]
    pub cache_mib: u32,
    /// WAL pages (4 KiB each) between checkpoints during the load (SQLite's default: 1000). A
    /// larger value made a 67k-resource load 25% faster, but on a 1M load the workers' read
    /// snapshots kept the WAL from being reset and it grew past 7 GB: raise it only for loads
    /// that fit in memory. The WAL is checkpointed and truncated when the import ends.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_pages: u32,
    /// Share the data directory with a running server: every batch is an fsync'd commit and
    /// the search indexes are updated in place (slower). Without it the import is a bulk load:
    /// it needs the directory alone (it refuses to start while a server has it open, and a
    /// server cannot open it meanwhile), commits without fsync, drops the search value
    /// indexes and rebuilds them sorted at the end, then fsyncs once; the summary line is
    /// printed only after that. An interrupted bulk load loses its last batches (re-run the
    /// import) and leaves the indexes to be rebuilt by the next open.
    #[arg(long)]
    pub online: bool,
    /// In a bulk load, keep the token search index up to date during the load instead of
    /// rebuilding it at the end. Lookups by identifier during the load (conditional creates,
    /// `ifNoneExist`, conditional references) use an interim index either way; this is for
    /// inputs that look resources up by other token parameters, each of which scans all
    /// token rows without it.
    #[arg(long)]
    pub keep_token_index: bool,
    /// Print where the time went (per stage) to stderr at the end.
    #[arg(long)]
    pub timings: bool,
    /// Base URL the resources are addressed under (for absolute request URLs in Bundles).
    #[arg(long, default_value = "http://localhost:8080")]
    pub base_url: String,
}

/// Imports the inputs and prints the summary; exit status 1 when any item failed.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let (service, store) = open(&args)?;
    let mut options = ImportOptions {
        batch_size: args.batch_size.max(1),
        ..ImportOptions::default()
    };
    if let Some(workers) = args.workers {
        options.workers = workers.max(1);
        options.max_in_flight_chunks = 4 * options.workers + 4;
    }
    let context = RequestContext::internal("import", &args.base_url);
    let mut progress = Progress::new();
    let mut report =
        vigil_bulk::import::run(&service, &context, &args.inputs, &options, &mut progress);
    progress.bar.finish_and_clear();
    drop(service);
    // Durable (indexes rebuilt, fsync'd) before anything is reported as imported.
    let finished = store
        .finish_bulk_load()
        .context("rebuilding the search indexes and syncing the database")?;
    // The rate reported covers the rebuild and the fsync: the data is searchable and durable.
    report.elapsed += finished.index_time + finished.sync_time;
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().context("closing the database")?,
        Err(_) => tracing::warn!("store still shared after the import; relying on its drop"),
    }
    if args.timings {
        eprintln!("{}", timings_text(&report, &finished));
    }
    println!("{report}");
    Ok(if report.counts.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The store with the import's cache size, and the service over it (as `runtime::open_service`).
fn open(args: &ImportArgs) -> anyhow::Result<(FhirService, Arc<SqliteStore>)> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
    let options = SqliteOptions {
        cache_size_kib: args.cache_mib.saturating_mul(1024),
        wal_autocheckpoint_pages: args.checkpoint_pages,
        bulk_load: !args.online,
        bulk_keep_token_index: args.keep_token_index,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&args.data, options)
        .with_context(|| format!("cannot open the database in {}", args.data.display()))?;
    let store = Arc::new(store);
    let service = FhirService::open(store.clone(), ServiceConfig::default())
        .map_err(|e| anyhow::anyhow!("cannot load the search parameters: {e}"))?;
    Ok((service, store))
}

/// The progress bar and the error lines.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new() -> Self {
        // ProgressBar draws on stderr and hides itself when stderr is not a terminal.
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} resources, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar }
    }
}

impl ImportObserver for Progress {
    fn planned(&mut self, plan: &ImportPlan) {
        self.bar.set_length(plan.items());
        self.bar.reset_elapsed();
    }

    fn issue(&mut self, issue: &ImportIssue) {
        self.bar.suspend(|| eprintln!("{issue}"));
    }

    fn progress(&mut self, counts: &ImportCounts) {
        self.bar.set_position(counts.items());
    }
}

fn timings_text(report: &ImportReport, finished: &BulkLoadReport) -> String {
    let t = &report.timings;
    let rows = [
        ("scan (1 thread, before loading)", t.scan),
        ("read + split (reader thread)", t.read),
        ("parse JSON (workers)", t.parse),
        ("validate (workers)", t.validate),
        ("references (workers)", t.references),
        ("index extraction (workers)", t.index),
        ("current version lookup, serialize (workers)", t.existing),
        ("units of work, inside (writer)", t.unit),
        ("BEGIN/COMMIT/fsync (writer)", t.commit),
        ("writer waiting for workers", t.writer_idle),
    ];
    let mut text = format!(
        "timings (thread-seconds; wall {:.2} s, {} commits):",
        report.elapsed.as_secs_f64(),
        t.units
    );
    for (name, duration) in rows {
        text.push_str(&format!("\n  {name:<36} {:>9.2} s", duration.as_secs_f64()));
    }
    if finished.indexes > 0 || !finished.sync_time.is_zero() {
        text.push_str(&format!(
            "\nafter the load (wall, in the total above): {} search indexes rebuilt in {:.2} s, final checkpoint and fsync {:.2} s",
            finished.indexes,
            finished.index_time.as_secs_f64(),
            finished.sync_time.as_secs_f64()
        ));
    }
    text
}
