//! The background worker: one thread that runs export jobs one at a time, oldest first.
//!
//! At start it resumes the jobs left `in-progress` by a previous process (the database
//! allows one server process, so such jobs have no other owner), then polls for `accepted`
//! jobs, claims each with a compare-and-set to `in-progress`, and clears away jobs clients
//! cancelled. [`ExportWorker::stop`] (or dropping the worker) interrupts the running job
//! between pages and leaves it `in-progress` for the next start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::ExportOptions;
use super::job::{ExportJob, JobState, KIND};
use super::runner::{job_dir, remove_dir, run_export};
use vigil_service::{FhirService, Principal, RequestContext, ServiceError, now_micros};

/// A running export worker; stops (and joins its thread) when dropped.
pub struct ExportWorker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    sleeping: Mutex<()>,
    wake: Condvar,
}

impl ExportWorker {
    /// Starts the worker thread for `service`. Fails when the service has no export directory.
    pub fn start(
        service: FhirService,
        options: ExportOptions,
    ) -> Result<ExportWorker, ServiceError> {
        if service.config().export_dir.is_none() {
            return Err(ServiceError::internal(
                "the export worker needs ServiceConfig::export_dir",
            ));
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            sleeping: Mutex::new(()),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-export".to_owned())
            .spawn(move || work(&service, &options, &thread_shared))
            .map_err(|e| ServiceError::internal(format!("cannot start the export worker: {e}")))?;
        Ok(ExportWorker {
            shared,
            thread: Some(thread),
        })
    }

    /// Stops the worker: the running job is interrupted between pages and resumed at the
    /// next start.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the export worker thread panicked");
        }
    }
}

impl Drop for ExportWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn work(service: &FhirService, options: &ExportOptions, shared: &Shared) {
    let Some(root) = service.config().export_dir.clone() else {
        return;
    };
    let stopping = || shared.stop.load(Ordering::SeqCst);
    match export_jobs(service, Some(JobState::InProgress)) {
        Ok(jobs) => {
            for job in jobs {
                if stopping() {
                    return;
                }
                tracing::info!(job = %job.id, "resuming an export interrupted by a shutdown");
                run_export(
                    service,
                    &job_context(&job),
                    job,
                    &root,
                    options,
                    &shared.stop,
                );
            }
        }
        Err(error) => tracing::error!(%error, "cannot list interrupted exports"),
    }
    while !stopping() {
        let ran = match next_job(service, &root) {
            Ok(Some(job)) => {
                run_export(
                    service,
                    &job_context(&job),
                    job,
                    &root,
                    options,
                    &shared.stop,
                );
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::error!(%error, "export worker cannot read its jobs");
                false
            }
        };
        if !ran {
            let guard = shared
                .sleeping
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !stopping() {
                let _ = shared.wake.wait_timeout(guard, options.poll_interval);
            }
        }
    }
}

/// Clears cancelled jobs, then claims the oldest accepted one.
fn next_job(
    service: &FhirService,
    root: &std::path::Path,
) -> Result<Option<ExportJob>, ServiceError> {
    for job in export_jobs(service, Some(JobState::Cancelled))? {
        remove_dir(&job_dir(root, &job.id));
        service.delete_job(&job.id)?;
    }
    for mut job in export_jobs(service, Some(JobState::Accepted))? {
        job.state = JobState::InProgress;
        job.progress = "started".to_owned();
        if service.update_job(&job.to_record(now_micros()), JobState::Accepted.as_str())? {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// The context a job runs under: the requester's principal (every exported resource passes
/// the service's authorizer as `Operation("export")` for them) and the kick-off's request id.
/// Scopes and roles are not kept with the job yet.
fn job_context(job: &ExportJob) -> RequestContext {
    let principal = Principal::from_agent(&job.requested_by)
        .unwrap_or_else(|| Principal::System("export".to_owned()));
    let mut context = RequestContext::new(principal, "");
    if !job.request_id.is_empty() {
        context.request_id = job.request_id.clone();
    }
    context
}

/// Export jobs, optionally in one state, oldest first (unreadable records are skipped).
fn export_jobs(
    service: &FhirService,
    state: Option<JobState>,
) -> Result<Vec<ExportJob>, ServiceError> {
    let records = service.jobs(KIND, state.map(JobState::as_str), 1000)?;
    Ok(records.iter().filter_map(ExportJob::from_record).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_service::JobRecord;

    fn job(requested_by: Option<&str>) -> ExportJob {
        let mut body = serde_json::json!({"request": "http://x/$export", "types": ["Patient"],
            "transactionTime": 1, "asOfSeq": 2, "requestId": "kick-1"});
        if let Some(agent) = requested_by {
            body["requestedBy"] = serde_json::json!(agent);
        }
        let record = JobRecord {
            id: "j".into(),
            kind: KIND.into(),
            state: "accepted".into(),
            created_micros: 0,
            updated_micros: 0,
            body: body.to_string(),
        };
        ExportJob::from_record(&record).expect("a readable job")
    }

    #[test]
    fn a_job_runs_under_its_requester() {
        let context = job_context(&job(Some("user:alice")));
        assert_eq!(context.principal, Principal::User { id: "alice".into() });
        assert_eq!(context.request_id, "kick-1");
        // Jobs written before the requester was kept, or with an unreadable one.
        for old in [None, Some("someone")] {
            assert_eq!(job_context(&job(old)).agent(), "system:export");
        }
    }
}
