//! `vigil migrate`: create or upgrade the schema of a data directory, then exit.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

/// Options of `vigil migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// Directory holding the database.
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    pub data: PathBuf,
}

/// Applies pending migrations (opening the store applies them) and closes the store.
pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data)?;
    let store = SqliteStore::open(&args.data, SqliteOptions::default())?;
    store.close()?;
    println!(
        "vigil: the database in {} is up to date",
        args.data.display()
    );
    Ok(ExitCode::SUCCESS)
}
