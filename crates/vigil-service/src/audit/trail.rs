//! [`AuditTrail`]: the audit hook Vigil runs with.
//!
//! - Writes: one record per version a unit wrote, added to the unit itself, so it commits with
//!   the data or not at all (a write's record is never lost).
//! - Everything else ([`AuditHook::on_event`]: reads, searches, history, `$everything`, export,
//!   refusals, logins, token issues) goes to a bounded queue drained by one background thread
//!   that group-commits up to `max_batch` records per store transaction. The request does not
//!   wait for the disk; in exchange a record of an acknowledged read can be lost if the process
//!   crashes before the next batch commits (at most what the queue held, typically a few
//!   milliseconds' worth). A full queue makes callers wait (back-pressure, at most 200 ms:
//!   a caller inside a unit of work holds the writer the queue drains through) rather than
//!   drop records. [`AuditTrail::shutdown`] (and dropping the last handle) writes what is queued.
//! - A batch that fails to commit is retried with backoff; records are dropped (and counted,
//!   and logged without content) only if the store still refuses them at shutdown.

use super::{AuditHook, AuditRecord, Records, WrittenVersion, balp};
use crate::{FhirService, RequestContext, ServiceError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use vigil_store::{ChangeContext, Store, WriteMethod};

/// Longest a caller waits for room in a full queue before queueing its record anyway.
const BACK_PRESSURE_WAIT: Duration = Duration::from_millis(200);

/// Tuning of the background writer.
#[derive(Debug, Clone, Copy)]
pub struct AuditTrailOptions {
    /// Most records waiting to be written; beyond it callers wait (up to 200 ms, then the record
    /// is queued anyway: see `enqueue`).
    pub queue_capacity: usize,
    /// Most records committed in one store transaction.
    pub max_batch: usize,
    /// How long the writer gathers records after the first one arrives before committing
    /// them (unless a full batch is waiting or a flush is asked for): fewer, larger
    /// transactions and wake-ups, at the price of a longer window a crash can lose.
    pub linger: Duration,
}

impl Default for AuditTrailOptions {
    fn default() -> Self {
        AuditTrailOptions {
            queue_capacity: 65_536,
            max_batch: 2_000,
            linger: Duration::from_millis(20),
        }
    }
}

/// Counters of the background writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditTrailStats {
    /// Records handed to [`AuditHook::on_event`].
    pub queued: u64,
    /// Records durably written by the background writer.
    pub written: u64,
    /// Records given up on (the store refused them until shutdown).
    pub dropped: u64,
    /// Store transactions the writer committed.
    pub batches: u64,
}

/// The audit hook with a background writer (see the module documentation). Cheap to clone;
/// the writer stops (after writing what is queued) when the last handle is dropped or at
/// [`AuditTrail::shutdown`].
#[derive(Clone)]
pub struct AuditTrail {
    owner: Arc<Owner>,
}

/// Owns the writer thread: dropped with the last handle, it stops and joins it.
struct Owner {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    store: Arc<dyn Store>,
    options: AuditTrailOptions,
    queue: Mutex<Queue>,
    /// Signalled when records arrive or the writer is asked to stop.
    arrived: Condvar,
    /// Signalled when records leave the queue (room for callers) or are settled (flushers).
    settled: Condvar,
    written: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
}

/// A queued record, with the content read when the patient is still to be found in it.
struct Pending {
    record: AuditRecord,
    content: Option<Arc<str>>,
}

#[derive(Default)]
struct Queue {
    records: VecDeque<Pending>,
    /// Records ever queued.
    queued: u64,
    /// Records written or dropped: everything queued up to here is settled.
    settled: u64,
    stopping: bool,
    /// A flush is waiting: commit what is queued without lingering.
    urgent: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AuditTrail {
    /// Starts the background writer over the service's store.
    pub fn start(service: &FhirService, options: AuditTrailOptions) -> Result<Self, ServiceError> {
        let options = AuditTrailOptions {
            queue_capacity: options.queue_capacity.max(1),
            max_batch: options.max_batch.max(1),
            linger: options.linger,
        };
        let shared = Arc::new(Shared {
            store: Arc::clone(&service.store),
            options,
            queue: Mutex::new(Queue::default()),
            arrived: Condvar::new(),
            settled: Condvar::new(),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("vigil-audit".to_owned())
            .spawn(move || worker.run())
            .map_err(|error| {
                ServiceError::internal(format!("cannot start the audit writer: {error}"))
            })?;
        Ok(AuditTrail {
            owner: Arc::new(Owner {
                shared,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Writes what is queued and stops the writer; later events are written synchronously,
    /// one transaction each, so nothing is lost after shutdown either.
    pub fn shutdown(&self) {
        self.owner.stop();
    }

    /// The writer's counters.
    pub fn stats(&self) -> AuditTrailStats {
        let shared = &self.owner.shared;
        AuditTrailStats {
            queued: lock(&shared.queue).queued,
            written: shared.written.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            batches: shared.batches.load(Ordering::Relaxed),
        }
    }
}

impl Owner {
    fn stop(&self) {
        lock(&self.shared.queue).stopping = true;
        // The writer may be lingering: stopping ends that too.
        self.shared.arrived.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn run(&self) {
        loop {
            let batch: Vec<Pending> = {
                let mut queue = lock(&self.queue);
                while queue.records.is_empty() && !queue.stopping {
                    queue = self
                        .arrived
                        .wait(queue)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                if queue.records.is_empty() {
                    return; // Stopping with nothing left.
                }
                // Gather more before committing: enqueue only wakes us for the first record
                // and for a full batch, flush and stop at once.
                let deadline = std::time::Instant::now() + self.options.linger;
                while queue.records.len() < self.options.max_batch
                    && !queue.stopping
                    && !queue.urgent
                {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    queue = self
                        .arrived
                        .wait_timeout(queue, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
                queue.urgent = false;
                let take = queue.records.len().min(self.options.max_batch);
                queue.records.drain(..take).collect()
            };
            self.settled.notify_all(); // Room in the queue.
            let count = batch.len() as u64;
            self.write_batch(&batch);
            lock(&self.queue).settled += count;
            self.settled.notify_all();
        }
    }

    /// Commits one batch, retrying with backoff; gives up only when stopping.
    fn write_batch(&self, batch: &[Pending]) {
        let records: Vec<vigil_store::AuditRecord> = batch
            .iter()
            .map(|pending| match &pending.content {
                Some(content) => {
                    let patient = patient_of(content);
                    balp::store_record(&pending.record.clone().with_patient(patient.as_deref()))
                }
                None => balp::store_record(&pending.record),
            })
            .collect();
        let mut delay = Duration::from_millis(50);
        loop {
            let result = vigil_store::write_with_context(
                self.store.as_ref(),
                &ChangeContext::system("audit"),
                |tx| {
                    for record in &records {
                        tx.append_audit(record)?;
                    }
                    Ok(())
                },
            );
            match result {
                Ok(()) => {
                    self.written
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                    self.batches.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(error) => {
                    let stopping = lock(&self.queue).stopping;
                    if stopping && delay >= Duration::from_secs(1) {
                        self.dropped
                            .fetch_add(records.len() as u64, Ordering::Relaxed);
                        tracing::error!(%error, records = records.len(), "audit records lost at shutdown: the store refused them");
                        return;
                    }
                    tracing::warn!(%error, records = records.len(), "cannot write audit records; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn enqueue(&self, record: AuditRecord, content: Option<Arc<str>>) {
        let pending = Pending { record, content };
        let mut queue = lock(&self.queue);
        if queue.stopping {
            drop(queue);
            // After shutdown: one synchronous transaction, so the record is not lost.
            self.write_batch(std::slice::from_ref(&pending));
            return;
        }
        // Back-pressure, bounded in time: a refusal is recorded from inside a unit of work,
        // which holds the store's writer that the audit writer needs to drain the queue, so
        // waiting without end could deadlock; past the wait the record is queued anyway.
        let deadline = std::time::Instant::now() + BACK_PRESSURE_WAIT;
        while queue.records.len() >= self.options.queue_capacity && !queue.stopping {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            queue = self
                .settled
                .wait_timeout(queue, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        queue.records.push_back(pending);
        queue.queued += 1;
        let wake = queue.records.len() == 1 || queue.records.len() == self.options.max_batch;
        drop(queue);
        if wake {
            self.arrived.notify_one();
        }
    }

    fn flush(&self) {
        let mut queue = lock(&self.queue);
        let target = queue.queued;
        if queue.settled < target {
            queue.urgent = true;
            self.arrived.notify_one();
        }
        while queue.settled < target {
            queue = self
                .settled
                .wait_timeout(queue, Duration::from_millis(100))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// The patient a resource belongs to, from its `subject` or `patient` reference (the
/// elements most patient-compartment resources use), read without building the whole tree.
fn patient_of(content: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Reference {
        reference: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Subjects {
        subject: Option<Reference>,
        patient: Option<Reference>,
    }
    let subjects: Subjects = serde_json::from_str(content).ok()?;
    [subjects.subject, subjects.patient]
        .into_iter()
        .flatten()
        .filter_map(|r| r.reference)
        .find(|r| r.starts_with("Patient/"))
}

fn action_name(method: WriteMethod) -> &'static str {
    match method {
        WriteMethod::Create => "create",
        WriteMethod::Update => "update",
        WriteMethod::Patch => "patch",
        WriteMethod::Delete => "delete",
    }
}

impl AuditHook for AuditTrail {
    fn on_commit(
        &self,
        context: &RequestContext,
        written: &[WrittenVersion],
        records: &mut Records,
    ) -> Result<(), ServiceError> {
        for version in written {
            let reference = format!(
                "{}/{}/_history/{}",
                version.resource_type, version.id, version.version_id
            );
            records.append_audit(
                AuditRecord::for_context(context, action_name(version.method))
                    .with_entities(vec![reference])
                    .with_patient(version.patient.as_deref()),
            );
        }
        Ok(())
    }

    fn on_event(&self, record: AuditRecord) {
        self.owner.shared.enqueue(record, None);
    }

    fn on_read(&self, record: AuditRecord, content: &Arc<str>) {
        self.owner.shared.enqueue(record, Some(Arc::clone(content)));
    }

    fn flush(&self) {
        self.owner.shared.flush();
    }
}
