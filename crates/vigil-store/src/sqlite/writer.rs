//! Group commit on one writer connection.
//!
//! SQLite has one writer at a time and `synchronous=FULL` costs an fsync per COMMIT, so durable
//! single-row transactions top out at the disk's fsync rate. The writer therefore gathers the
//! units of work of concurrent callers into one transaction:
//!
//! 1. A caller takes the writer lock (counting itself in `arriving` while it waits), opens the
//!    batch transaction if none is open (`BEGIN IMMEDIATE`), and runs its unit **on its own
//!    thread** inside `SAVEPOINT unit`. Running on the caller's thread is what lets
//!    [`crate::UnitOfWork`] borrow from the caller's stack without `'static` or `unsafe`.
//! 2. A unit returning `Err` (or panicking) is rolled back to its savepoint: nothing it wrote
//!    stays, the rest of the batch is untouched, and only that caller gets the error (a panic is
//!    resumed on the caller's thread after the rollback).
//! 3. The caller then settles the batch: if other callers are queued on the lock it leaves the
//!    batch open for them; if the batch is smaller than the previous one it lingers briefly
//!    for the writers still on their way (from the batch's start, at most `group_commit_wait`
//!    and at most what the last COMMIT took: waiting longer than an fsync never pays);
//!    otherwise, or when the batch reaches `max_batch_units` or `max_batch_latency`, it COMMITs.
//!    Every unit joins a batch that some caller is bound to settle: the last one to join sees no
//!    one arriving (or a bound) and commits.
//! 4. Callers whose units joined a batch wait on a separate completion lock, so waiting does not
//!    contend with the next batch forming, and return `Ok` only after COMMIT has returned (or
//!    the batch's error if the commit failed).
//!
//! If the database rolls the whole transaction back on its own (I/O error, disk full), every
//! unit of the batch gets the error.
//!
//! Change positions (`seq`) are taken inside the open batch as `max(seq) + 1` and batches commit
//! one after another in the order they opened, so position order is commit order; a unit rolled
//! back to its savepoint frees its positions for the next unit before anyone could see them.
//! After each durable COMMIT the writer publishes the newest position to its [`CommitWatch`],
//! waking change-feed consumers.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::StoreError;

/// Limits on how a batch grows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) max_units: usize,
    pub(crate) max_latency: Duration,
    pub(crate) linger: Duration,
}

/// Counters of the writer's work, for benchmarks and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed.
    pub commits: u64,
    /// Units of work committed (sum of batch sizes).
    pub units_committed: u64,
    /// Units of work that returned an error (or panicked) and were rolled back alone.
    pub units_rolled_back: u64,
    /// Batches that failed as a whole (commit error or a transaction the database aborted).
    pub batches_failed: u64,
}

pub(crate) struct Writer {
    state: Mutex<WriterState>,
    /// The newest committed change position, published after every durable COMMIT.
    watch: CommitWatch,
    /// Signalled when a unit joins the open batch or a batch closes; lingering callers wait here.
    joined: Condvar,
    completion: Mutex<Completion>,
    completed: Condvar,
    arriving: AtomicUsize,
    limits: BatchLimits,
    commits: AtomicU64,
    units_committed: AtomicU64,
    units_rolled_back: AtomicU64,
    batches_failed: AtomicU64,
}

struct WriterState {
    conn: Connection,
    batch: Option<OpenBatch>,
    next_batch: u64,
    previous_batch_units: usize,
    /// How long the last COMMIT took: lingering longer than a commit costs does not pay.
    last_commit_cost: Duration,
}

struct OpenBatch {
    id: u64,
    started: Instant,
    /// Units kept in this batch (their callers wait for its commit).
    units: usize,
}

struct Completion {
    /// Every batch with an id up to this one has committed or failed.
    resolved_through: u64,
    /// Failed batches: the error and how many waiting callers have yet to collect it.
    failures: HashMap<u64, (StoreError, usize)>,
}

/// What became of one unit inside the open transaction.
enum UnitOutcome {
    Kept,
    Failed(StoreError),
    Panicked(Box<dyn Any + Send>),
}

thread_local! {
    /// Set while this thread runs a unit of work: a nested `write` would wait for the writer
    /// lock its own thread holds, so it is refused instead.
    static IN_UNIT: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running a unit until dropped (also on unwind).
struct InUnit;

impl InUnit {
    fn enter() -> InUnit {
        IN_UNIT.with(|flag| flag.set(true));
        InUnit
    }
}

impl Drop for InUnit {
    fn drop(&mut self) {
        IN_UNIT.with(|flag| flag.set(false));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Units run under catch_unwind and our own code does not panic, so poisoning would only
    // come from a bug; the state stays meaningful, and a transaction left open is settled below.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The newest committed change position and a condition variable that wakes waiters when it
/// grows.
struct CommitWatch {
    last_seq: Mutex<u64>,
    grew: Condvar,
}

impl CommitWatch {
    fn publish(&self, seq: u64) {
        let mut last = lock(&self.last_seq);
        if seq > *last {
            *last = seq;
            drop(last);
            self.grew.notify_all();
        }
    }

    fn wait_past(&self, after_seq: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now().checked_add(timeout);
        let mut last = lock(&self.last_seq);
        while *last <= after_seq {
            let remaining = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if remaining.is_zero() {
                break;
            }
            last = self
                .grew
                .wait_timeout(last, remaining)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        *last
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection, limits: BatchLimits) -> Result<Self, StoreError> {
        let initial_seq = super::jobs::last_seq(&conn)?;
        Ok(Writer {
            watch: CommitWatch {
                last_seq: Mutex::new(initial_seq),
                grew: Condvar::new(),
            },
            state: Mutex::new(WriterState {
                conn,
                batch: None,
                next_batch: 1,
                previous_batch_units: 0,
                last_commit_cost: Duration::ZERO,
            }),
            joined: Condvar::new(),
            completion: Mutex::new(Completion {
                resolved_through: 0,
                failures: HashMap::new(),
            }),
            completed: Condvar::new(),
            arriving: AtomicUsize::new(0),
            limits,
            commits: AtomicU64::new(0),
            units_committed: AtomicU64::new(0),
            units_rolled_back: AtomicU64::new(0),
            batches_failed: AtomicU64::new(0),
        })
    }

    /// Waits until a change after `after_seq` has committed or `timeout` passed; returns the
    /// newest committed position.
    pub(crate) fn wait_for_commit(&self, after_seq: u64, timeout: Duration) -> u64 {
        self.watch.wait_past(after_seq, timeout)
    }

    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.commits.load(Ordering::Relaxed),
            units_committed: self.units_committed.load(Ordering::Relaxed),
            units_rolled_back: self.units_rolled_back.load(Ordering::Relaxed),
            batches_failed: self.batches_failed.load(Ordering::Relaxed),
        }
    }

    /// Runs `unit` in the current batch and returns once that batch is durably committed.
    pub(crate) fn write<F>(&self, unit: F) -> Result<(), StoreError>
    where
        F: FnOnce(&Connection) -> Result<(), StoreError>,
    {
        if IN_UNIT.with(Cell::get) {
            return Err(StoreError::internal(
                "a unit of work called write: use the Transaction it was given instead",
            ));
        }
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let mut state = lock(&self.state);
        self.arriving.fetch_sub(1, Ordering::SeqCst);
        let batch_id = open_batch(&mut state)?;
        let (outcome, broken) = run_unit(&state.conn, unit);
        if let Some(error) = broken {
            self.abort_batch(&mut state, &error);
            drop(state);
            return match outcome {
                UnitOutcome::Panicked(payload) => resume_unwind(payload),
                _ => Err(error),
            };
        }
        if let UnitOutcome::Kept = outcome {
            if let Some(batch) = state.batch.as_mut() {
                batch.units += 1;
            }
            self.joined.notify_all();
        } else {
            self.units_rolled_back.fetch_add(1, Ordering::Relaxed);
        }
        self.settle(state, batch_id);
        match outcome {
            UnitOutcome::Kept => self.await_batch(batch_id),
            UnitOutcome::Failed(error) => Err(error),
            UnitOutcome::Panicked(payload) => resume_unwind(payload),
        }
    }

    /// Commits the open batch now, lingers for more units, or leaves it to a queued caller.
    fn settle(&self, mut state: MutexGuard<'_, WriterState>, batch_id: u64) {
        loop {
            let Some(batch) = state.batch.as_ref() else {
                return;
            };
            if batch.id != batch_id {
                return; // Someone else closed it.
            }
            let elapsed = batch.started.elapsed();
            let bounded =
                batch.units >= self.limits.max_units || elapsed >= self.limits.max_latency;
            if !bounded && self.arriving.load(Ordering::SeqCst) > 0 {
                return; // A queued caller will join and settle.
            }
            let lingering_pays = batch.units > 0 && batch.units < state.previous_batch_units;
            let linger = self.limits.linger.min(state.last_commit_cost);
            if !bounded && lingering_pays && elapsed < linger {
                let (guard, _) = self
                    .joined
                    .wait_timeout(state, linger - elapsed)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state = guard;
                continue;
            }
            self.finish_batch(&mut state);
            return;
        }
    }

    /// Commits (or, with no units kept, rolls back) the open batch and tells its callers.
    fn finish_batch(&self, state: &mut WriterState) {
        let Some(batch) = state.batch.take() else {
            return;
        };
        // Read inside the batch's own transaction (its pages are hot, no new read snapshot);
        // published only once COMMIT has returned.
        let newest = (batch.units > 0).then(|| super::jobs::last_seq(&state.conn));
        let started = Instant::now();
        let result = if batch.units > 0 {
            execute(&state.conn, "COMMIT")
        } else {
            execute(&state.conn, "ROLLBACK")
        };
        if batch.units > 0 {
            state.last_commit_cost = started.elapsed();
        }
        if result.is_err() && !state.conn.is_autocommit() {
            // COMMIT can fail with the transaction still open (e.g. SQLITE_BUSY); end it.
            let _ = execute(&state.conn, "ROLLBACK");
        }
        match &result {
            Ok(()) if batch.units > 0 => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.units_committed
                    .fetch_add(batch.units as u64, Ordering::Relaxed);
                state.previous_batch_units = batch.units;
                match newest {
                    Some(Ok(seq)) => self.watch.publish(seq),
                    // Waiters keep a timeout and read the log themselves; a missed wake-up
                    // only delays them.
                    Some(Err(error)) => {
                        tracing::warn!(%error, "cannot read the committed position");
                    }
                    None => {}
                }
            }
            Ok(()) => {}
            Err(_) => {
                self.batches_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.resolve(batch.id, result.err(), batch.units);
        self.joined.notify_all();
    }

    /// Rolls the whole batch back after the transaction broke; every kept unit gets `error`.
    fn abort_batch(&self, state: &mut WriterState, error: &StoreError) {
        let Some(batch) = state.batch.take() else {
            return;
        };
        if !state.conn.is_autocommit() {
            let _ = execute(&state.conn, "ROLLBACK");
        }
        self.batches_failed.fetch_add(1, Ordering::Relaxed);
        self.resolve(batch.id, Some(error.clone()), batch.units);
        self.joined.notify_all();
    }

    fn resolve(&self, batch_id: u64, error: Option<StoreError>, waiting: usize) {
        let mut completion = lock(&self.completion);
        completion.resolved_through = completion.resolved_through.max(batch_id);
        if let Some(error) = error
            && waiting > 0
        {
            completion.failures.insert(batch_id, (error, waiting));
        }
        drop(completion);
        self.completed.notify_all();
    }

    /// Waits until `batch_id` is resolved and returns its outcome for one of its units.
    fn await_batch(&self, batch_id: u64) -> Result<(), StoreError> {
        let mut completion = lock(&self.completion);
        while completion.resolved_through < batch_id {
            completion = self
                .completed
                .wait(completion)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let Some((error, waiting)) = completion.failures.get_mut(&batch_id) else {
            return Ok(());
        };
        let error = error.clone();
        *waiting = waiting.saturating_sub(1);
        if *waiting == 0 {
            completion.failures.remove(&batch_id);
        }
        Err(error)
    }

    /// Runs `work` on the writer connection with no transaction open (checkpoint, close).
    pub(crate) fn with_idle_connection<T>(&self, work: impl FnOnce(&Connection) -> T) -> T {
        let mut state = lock(&self.state);
        // Every batch is settled by its callers before they return; this only matters if a
        // caller's thread died mid-batch.
        self.finish_batch(&mut state);
        work(&state.conn)
    }

    /// The writer connection, for closing.
    pub(crate) fn into_connection(self) -> Connection {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.conn
    }
}

fn execute(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Opens the batch transaction if none is open; returns the batch id.
fn open_batch(state: &mut WriterState) -> Result<u64, StoreError> {
    if let Some(batch) = &state.batch {
        return Ok(batch.id);
    }
    execute(&state.conn, "BEGIN IMMEDIATE")?;
    let id = state.next_batch;
    state.next_batch += 1;
    state.batch = Some(OpenBatch {
        id,
        started: Instant::now(),
        units: 0,
    });
    Ok(id)
}

/// Runs one unit inside its savepoint. The second value is set when the batch transaction can
/// no longer be trusted (savepoint handling failed or the database rolled everything back).
fn run_unit<F>(conn: &Connection, unit: F) -> (UnitOutcome, Option<StoreError>)
where
    F: FnOnce(&Connection) -> Result<(), StoreError>,
{
    if let Err(error) = execute(conn, "SAVEPOINT unit") {
        return (UnitOutcome::Failed(error.clone()), Some(error));
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _in_unit = InUnit::enter();
        unit(conn)
    }));
    if conn.is_autocommit() {
        let error = match &result {
            Ok(Err(error)) => error.clone(),
            _ => StoreError::internal("the database rolled back the transaction"),
        };
        let outcome = match result {
            Err(payload) => UnitOutcome::Panicked(payload),
            _ => UnitOutcome::Failed(error.clone()),
        };
        return (outcome, Some(error));
    }
    let (outcome, finish) = match result {
        Ok(Ok(())) => (UnitOutcome::Kept, execute(conn, "RELEASE unit")),
        Ok(Err(error)) => (UnitOutcome::Failed(error), rollback_savepoint(conn)),
        Err(payload) => (UnitOutcome::Panicked(payload), rollback_savepoint(conn)),
    };
    match finish {
        Ok(()) => (outcome, None),
        Err(error) => (outcome, Some(error)),
    }
}

fn rollback_savepoint(conn: &Connection) -> Result<(), StoreError> {
    execute(conn, "ROLLBACK TO unit")?;
    execute(conn, "RELEASE unit")
}
