//! Bulk Data Access 2.0 `$export`: kick-off, status, cancellation and the output files, over
//! durable jobs run by a background [`ExportWorker`] on a [`vigil_service::feed::WakeLoop`].
//!
//! - Kick-off ([`kickoff`]) checks the parameters, fixes the snapshot
//!   (`transactionTime` and the store's history position at that moment) and stores an
//!   `accepted` job, then wakes the worker through the [`ExportWaker`] shared with it; the API
//!   answers 202 with the status URL `{base}/_export/{job id}`.
//! - The worker (`worker`) runs jobs one at a time (`runner`) when woken: NDJSON files under
//!   `<export dir>/<job id>/<Type>-<n>.ndjson`, each resource's version as of the snapshot,
//!   exactly once.
//! - Status ([`status`]): in progress (with a progress text for
//!   `X-Progress`) or the completion manifest; a failed job is an error; unknown and cancelled
//!   jobs are not found. [`cancel`] marks the job cancelled and removes its
//!   files.
//!
//! Jobs live in the store's `job` table (kind `export`, see `job`), so they survive a
//! restart: `accepted` jobs wait for the worker, `in-progress` ones are resumed.

mod job;
mod params;
mod runner;
mod worker;

mod audit;

pub use job::ExportLevel;
pub use params::OUTPUT_FORMATS;
pub use worker::{ExportWaker, ExportWorker};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use vigil_model::IssueType;

use job::{ExportJob, JobState};
use vigil_service::{
    Access, Action, FhirService, RequestContext, ServiceError, ServiceErrorKind, format_instant,
    now_micros,
};

/// Tuning of the export worker.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Resources read from the store per page.
    pub page_size: usize,
    /// Resources per NDJSON file before a new file (`<Type>-2.ndjson`, ...) is started.
    pub max_resources_per_file: u64,
    /// How often an idle worker looks for jobs without being woken. A kick-off wakes the
    /// worker through its [`ExportWaker`]; this only catches jobs accepted while no worker was
    /// attached to the waker.
    pub safety_interval: Duration,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            page_size: 500,
            max_resources_per_file: 10_000,
            safety_interval: Duration::from_secs(5),
        }
    }
}

/// An accepted export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportKickoff {
    /// The job id.
    pub job_id: String,
    /// Where to poll (`Content-Location`).
    pub status_url: String,
}

/// What a status request finds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportStatus {
    /// Still running (or waiting for the worker); the text is for `X-Progress`.
    InProgress {
        /// Free-text progress.
        progress: String,
    },
    /// Done: the manifest (`transactionTime`, `request`, `requiresAccessToken`, `output`,
    /// `error`).
    Completed {
        /// The manifest JSON.
        manifest: Value,
    },
}

fn export_root(service: &FhirService) -> Result<&Path, ServiceError> {
    service.config().export_dir.as_deref().ok_or_else(|| {
        ServiceError::new(
            ServiceErrorKind::NotSupported,
            IssueType::NotSupported,
            "bulk export is not enabled on this server (no export directory)",
        )
    })
}

/// Accepts an export and wakes the worker attached to `waker`: `request_url` is the kick-off
/// URL as sent, `pairs` its query parameters; `lenient` (`Prefer: handling=lenient`) ignores
/// unknown parameters.
pub fn kickoff(
    service: &FhirService,
    waker: &ExportWaker,
    context: &RequestContext,
    level: ExportLevel,
    request_url: &str,
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<ExportKickoff, ServiceError> {
    let audit = audit::kickoff_record(context, &level, pairs);
    let result = kickoff_unaudited(service, waker, context, level, request_url, pairs, lenient);
    audit::record(service, audit, result.as_ref().map(|k| k.job_id.as_str()));
    result
}

fn kickoff_unaudited(
    service: &FhirService,
    waker: &ExportWaker,
    context: &RequestContext,
    level: ExportLevel,
    request_url: &str,
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<ExportKickoff, ServiceError> {
    export_root(service)?;
    if let ExportLevel::Group(id) = &level {
        service
            .read(context, "Group", id)
            .map_err(|error| match error.kind() {
                ServiceErrorKind::Gone => {
                    ServiceError::not_found(format!("Group/{id} is not known"))
                }
                _ => error,
            })?;
    }
    let mut params = params::export_params(service, context, &level, pairs, lenient)?;
    let asked_types = pairs.iter().any(|(name, _)| name == "_type");
    if asked_types {
        // Types the client named: each must be allowed.
        for resource_type in &params.types {
            service.authorize(
                context,
                &Access::to_type(Action::Operation("export"), resource_type),
            )?;
        }
    } else {
        // No `_type`: the export holds the types the caller may export (one refused type
        // does not refuse the export); none allowed is a refusal.
        params.types = service.allowed_types(context, Action::Operation("export"), params.types)?;
    }
    // Position first, then time: everything in the snapshot was written before the
    // transactionTime reported.
    let as_of_seq = service.history_position()?;
    let now = now_micros();
    let job = ExportJob {
        id: uuid::Uuid::new_v4().to_string(),
        state: JobState::Accepted,
        created_micros: now,
        request_url: request_url.to_owned(),
        level,
        types: params.types,
        since_micros: params.since_micros,
        type_filters: params.type_filters,
        transaction_time_micros: now,
        as_of_seq,
        finished_types: Vec::new(),
        output: Vec::new(),
        progress: "accepted".to_owned(),
        error: None,
        finished_micros: None,
        requested_by: context.agent(),
        grant: job::Grant::of(context),
        request_id: context.request_id.clone(),
    };
    service.insert_job(&job.to_record(now))?;
    tracing::info!(job = %job.id, request_id = %context.request_id, "export accepted");
    waker.wake();
    Ok(ExportKickoff {
        status_url: format!("{}/_export/{}", context.base_url, job.id),
        job_id: job.id,
    })
}

/// A job the caller may see: one they asked for (same principal and client). Anyone else's
/// answers as an unknown job does.
fn visible_job(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
) -> Result<ExportJob, ServiceError> {
    let record = service.job(job_id)?;
    record
        .as_ref()
        .and_then(ExportJob::from_record)
        .filter(|job| job.state != JobState::Cancelled)
        .filter(|job| {
            job.requested_by == context.agent() && job.grant.client_id == context.client_id
        })
        .ok_or_else(|| ServiceError::not_found(format!("no export job '{job_id}'")))
}

/// The status of a job: in progress, or the manifest once complete.
pub fn status(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
) -> Result<ExportStatus, ServiceError> {
    let job = visible_job(service, context, job_id)?;
    match job.state {
        JobState::Accepted | JobState::InProgress | JobState::Cancelled => {
            Ok(ExportStatus::InProgress {
                progress: job.progress,
            })
        }
        JobState::Failed => Err(ServiceError::internal(format!(
            "the export failed: {}",
            job.error.as_deref().unwrap_or("unknown error")
        ))),
        JobState::Completed => {
            let base = &context.base_url;
            let output: Vec<Value> = job
                    .output
                    .iter()
                    .map(|file| json!({"type": file.resource_type, "url": format!("{base}/_export/{}/{}", job.id, file.file), "count": file.count}))
                    .collect();
            Ok(ExportStatus::Completed {
                manifest: json!({
                    "transactionTime": format_instant(job.transaction_time_micros),
                    "request": job.request_url,
                    "requiresAccessToken": false,
                    "output": output,
                    "error": [],
                }),
            })
        }
    }
}

/// Cancels a job (or deletes a finished one) and removes its files; afterwards the job
/// is not found.
pub fn cancel(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
) -> Result<(), ServiceError> {
    let root = export_root(service)?.to_path_buf();
    loop {
        let mut job = visible_job(service, context, job_id)?;
        let done = match job.state {
            JobState::Completed | JobState::Failed => service.delete_job(job_id)?,
            state => {
                job.state = JobState::Cancelled;
                service.update_job(&job.to_record(now_micros()), state.as_str())?
            }
        };
        if done {
            break;
        }
        // The worker moved the job on between our read and write: look again.
    }
    runner::remove_dir(&runner::job_dir(&root, job_id));
    tracing::info!(job = %job_id, request_id = %context.request_id, "export cancelled");
    Ok(())
}

/// The path of one output file of a completed job.
pub fn file(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
    file: &str,
) -> Result<PathBuf, ServiceError> {
    let result = file_unaudited(service, context, job_id, file);
    let record = vigil_service::AuditRecord::for_context(context, "export-file");
    audit::record(service, record, result.as_ref().map(|_| job_id));
    result
}

fn file_unaudited(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
    file: &str,
) -> Result<PathBuf, ServiceError> {
    let root = export_root(service)?;
    let job = visible_job(service, context, job_id)?;
    // Only names the manifest lists are served, so a crafted name cannot leave the job's
    // directory.
    if job.state != JobState::Completed || !job.output.iter().any(|f| f.file == file) {
        return Err(ServiceError::not_found(format!(
            "export job '{job_id}' has no file '{file}'"
        )));
    }
    Ok(runner::job_dir(root, job_id).join(file))
}
