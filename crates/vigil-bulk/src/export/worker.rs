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
use vigil_service::{FhirService, RequestContext, ServiceError, now_micros};

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
    // The worker reads as a system process: every exported resource still passes the
    // service's authorizer (as `Operation("export")`), under this context.
    let context = RequestContext::system("export", "");
    let stopping = || shared.stop.load(Ordering::SeqCst);
    match export_jobs(service, Some(JobState::InProgress)) {
        Ok(jobs) => {
            for job in jobs {
                if stopping() {
                    return;
                }
                tracing::info!(job = %job.id, "resuming an export interrupted by a shutdown");
                run_export(service, &context, job, &root, options, &shared.stop);
            }
        }
        Err(error) => tracing::error!(%error, "cannot list interrupted exports"),
    }
    while !stopping() {
        let ran = match next_job(service, &root) {
            Ok(Some(job)) => {
                run_export(service, &context, job, &root, options, &shared.stop);
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

/// Export jobs, optionally in one state, oldest first (unreadable records are skipped).
fn export_jobs(
    service: &FhirService,
    state: Option<JobState>,
) -> Result<Vec<ExportJob>, ServiceError> {
    let records = service.jobs(KIND, state.map(JobState::as_str), 1000)?;
    Ok(records.iter().filter_map(ExportJob::from_record).collect())
}
