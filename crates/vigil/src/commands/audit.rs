//! `vigil audit verify --data DIR`: checks the audit trail's hash chain.
//!
//! Exit status: 0 when the trail is intact (the record count and the head's position and hash
//! are printed: keep the hash somewhere outside the database, so a later truncation of both the
//! log and its head can be noticed); 2 naming the first broken record (its position, the
//! AuditEvent id) when any record, the last included, was altered, removed or reordered; 1
//! when the database cannot be read.

use crate::runtime;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `vigil audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Verify the hash chain of the audit trail: exit 0 when intact, 2 naming the first
    /// broken record otherwise.
    Verify(VerifyArgs),
}

/// Options of `vigil audit verify`.
#[derive(Args, Debug)]
struct VerifyArgs {
    /// Directory holding the database.
    #[arg(long, env = "VIGIL_DATA")]
    data: PathBuf,
    /// A head printed by an earlier run (`SEQ:HASH`), kept outside the database: the record at
    /// SEQ must still carry HASH (catches a tail rewritten with recomputed hashes).
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    head: Option<vigil_service::AuditHead>,
}

fn parse_head(text: &str) -> Result<vigil_service::AuditHead, String> {
    let (seq, hash) = text
        .split_once(':')
        .ok_or_else(|| "expected SEQ:HASH".to_owned())?;
    let seq = seq
        .parse::<u64>()
        .map_err(|_| format!("'{seq}' is not a record number"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash must be 64 hexadecimal digits".to_owned());
    }
    Ok(vigil_service::AuditHead {
        seq,
        hash: hash.to_ascii_lowercase(),
    })
}

/// Runs `vigil audit ...`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify(args) => verify(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if !args.data.join(vigil_store::sqlite::DATABASE_FILE).is_file() {
        anyhow::bail!("no Vigil database in {}", args.data.display());
    }
    let (service, _store) = runtime::open_service(&args.data)?;
    let result = service
        .verify_audit_trail(args.head)
        .map_err(|e| anyhow::anyhow!("cannot read the audit trail: {e}"))?;
    match result {
        Ok(summary) => {
            match &summary.head {
                Some(head) => println!(
                    "audit trail intact: {} records; head: record {} hash {} \
                     (keep --head {}:{} outside the database)",
                    summary.count, head.seq, head.hash, head.seq, head.hash
                ),
                None => println!("audit trail intact: 0 records"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!("vigil: {broken}");
            println!("audit trail BROKEN at record {}", broken.seq);
            Ok(ExitCode::from(2))
        }
    }
}
