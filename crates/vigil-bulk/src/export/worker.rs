//! The background worker: export jobs run one at a time, oldest first, on a
//! [`vigil_service::feed::WakeLoop`].
//!
//! Each run of the loop clears away jobs clients cancelled, resumes jobs left `in-progress`
//! (the database allows one server process and this loop runs jobs one at a time, so such a job
//! was interrupted: by a shutdown or kill, or by a store error while recording its end), then
//! claims `accepted` jobs with a compare-and-set to `in-progress` and runs them until none is
//! left. The loop runs at start, whenever a kick-off wakes it through the [`ExportWaker`], and
//! otherwise every [`ExportOptions::safety_interval`] (for jobs accepted while no worker was
//! attached to the waker). [`ExportWorker::stop`] (or dropping the worker) interrupts the
//! running job between pages and leaves it `in-progress` for the next start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::ExportOptions;
use super::job::{ExportJob, JobState, KIND};
use super::runner::{RunEnd, job_dir, remove_dir, run_export};
use vigil_service::feed::{StopSignal, WakeLoop, Waker};
use vigil_service::{FhirService, Principal, RequestContext, ServiceError, now_micros};

/// Wakes the export worker when a job is accepted; cheap to clone. It is created before the
/// routes and the worker so either can start first: the routes' kick-off calls
/// [`ExportWaker::wake`], and [`ExportWorker::start`] attaches its loop. Waking with no worker
/// attached does nothing; the job waits for the next worker's start.
#[derive(Clone, Default)]
pub struct ExportWaker {
    worker: Arc<Mutex<Option<Waker>>>,
}

impl ExportWaker {
    /// A waker with no worker attached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the attached worker (if any) to look for jobs as soon as it is idle.
    pub fn wake(&self) {
        if let Some(waker) = self.slot().as_ref() {
            waker.wake();
        }
    }

    fn attach(&self, waker: Waker) {
        *self.slot() = Some(waker);
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        // The slot holds a handle and nothing else: a panic elsewhere cannot leave it half set.
        self.worker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for ExportWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWaker")
            .field("attached", &self.slot().is_some())
            .finish()
    }
}

/// A running export worker; stops (and joins its thread) when dropped.
pub struct ExportWorker {
    looped: WakeLoop,
}

impl ExportWorker {
    /// Starts the worker's loop for `service` and attaches it to `waker` (replacing a worker
    /// attached before). Fails when the service has no export directory.
    pub fn start(
        service: FhirService,
        options: ExportOptions,
        waker: &ExportWaker,
    ) -> Result<ExportWorker, ServiceError> {
        let Some(root) = service.config().export_dir.clone() else {
            return Err(ServiceError::internal(
                "the export worker needs ServiceConfig::export_dir",
            ));
        };
        let interval = options.safety_interval;
        let looped = WakeLoop::start("vigil-export", interval, move |stop| {
            run_pending(&service, &root, &options, stop);
        })
        .map_err(|e| ServiceError::internal(format!("cannot start the export worker: {e}")))?;
        waker.attach(looped.waker());
        Ok(ExportWorker { looped })
    }

    /// Stops the worker: the running job is interrupted between pages and resumed at the
    /// next start.
    pub fn stop(self) {
        self.looped.stop();
    }
}

/// One run of the loop: every pending job, until none is left or the worker stops.
fn run_pending(service: &FhirService, root: &Path, options: &ExportOptions, stop: &StopSignal) {
    match export_jobs(service, Some(JobState::InProgress)) {
        Ok(jobs) => {
            for job in jobs {
                if stop.is_stopped() {
                    return;
                }
                tracing::info!(job = %job.id, "resuming an interrupted export");
                if run_export(service, &job_context(&job), job, root, options, stop)
                    == RunEnd::Interrupted
                {
                    return;
                }
            }
        }
        Err(error) => tracing::error!(%error, "cannot list interrupted exports"),
    }
    while !stop.is_stopped() {
        match next_job(service, root) {
            Ok(Some(job)) => {
                if run_export(service, &job_context(&job), job, root, options, stop)
                    == RunEnd::Interrupted
                {
                    return;
                }
            }
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "export worker cannot read its jobs");
                return;
            }
        }
    }
}

/// Clears cancelled jobs, then claims the oldest accepted one.
fn next_job(service: &FhirService, root: &Path) -> Result<Option<ExportJob>, ServiceError> {
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
/// The requester's grant (client, patient in context, scopes, roles) comes with it.
fn job_context(job: &ExportJob) -> RequestContext {
    // A requester that cannot be read back gets no rights of its own (a client nobody
    // registered), never the system's: under a policy every resource is then refused.
    let principal = Principal::from_agent(&job.requested_by).unwrap_or_else(|| Principal::Client {
        id: "unknown-export-requester".to_owned(),
    });
    let mut context = RequestContext::new(principal, "");
    job.grant.apply(&mut context);
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
        // Jobs written before the requester was kept, or with an unreadable one, get no
        // rights of their own, never the system's.
        for old in [None, Some("someone")] {
            assert_eq!(
                job_context(&job(old)).agent(),
                "client:unknown-export-requester"
            );
        }
    }
}
