//! The threads of an import: one reader, N workers, and the writer on the calling thread,
//! joined by bounded channels.
//!
//! Chunks are numbered by the reader; the writer puts them back in that order before it
//! commits, so the same resource written twice in one import ends as the later one. At most
//! `max_in_flight_chunks` chunks exist between reading and committing (a counter the reader
//! waits on and the writer releases after each commit), which bounds the memory whatever the
//! file sizes, and lets the reader wait at the end of a phase until everything is committed.

use super::plan::{PlannedWrite, Planner, StageClock};
use super::scan::{ImportFormat, ImportPlan, UrlTypes};
use super::stream::{RawItem, Stopped, read_json, read_ndjson};
use super::{
    ImportCounts, ImportIssue, ImportObserver, ImportOptions, ImportPosition, ImportReport,
    ImportTimings,
};
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vigil_service::{FhirService, RequestContext, ServiceError};

/// How long the writer waits for more work before committing a partial batch.
const LINGER: Duration = Duration::from_millis(20);

struct Chunk {
    seq: u64,
    items: Vec<RawItem>,
}

struct DoneItem {
    file: usize,
    position: ImportPosition,
    result: Result<PlannedWrite, ServiceError>,
}

struct Done {
    seq: u64,
    items: Vec<DoneItem>,
}

/// Chunks dispatched by the reader and committed by the writer.
struct Flow {
    state: Mutex<(u64, u64)>,
    changed: Condvar,
    limit: u64,
}

impl Flow {
    fn lock(&self) -> MutexGuard<'_, (u64, u64)> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    /// Waits for room for one more chunk and counts it as dispatched.
    fn dispatch(&self) {
        let mut state = self.lock();
        while state.0 - state.1 >= self.limit {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.0 += 1;
    }
    /// Waits until every dispatched chunk is committed.
    fn drain(&self) {
        let mut state = self.lock();
        while state.0 != state.1 {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
    fn committed(&self, chunks: u64) {
        self.lock().1 += chunks;
        self.changed.notify_all();
    }
}

/// Runs the import of `plan`; `issues` are the scan's, reported first.
pub(crate) fn run(
    service: &FhirService,
    context: &RequestContext,
    plan: &ImportPlan,
    url_types: &UrlTypes,
    options: &ImportOptions,
    observer: &mut dyn ImportObserver,
    issues: Vec<ImportIssue>,
) -> ImportReport {
    let mut writer = WriterState {
        service,
        context,
        plan,
        observer,
        batch_size: options.batch_size.max(1),
        counts: ImportCounts::default(),
        batch: Vec::new(),
        batch_positions: Vec::new(),
        batch_chunks: 0,
        unit_nanos: 0,
        write_time: Duration::ZERO,
        idle: Duration::ZERO,
        units: 0,
        flow: None,
    };
    for issue in &issues {
        writer.counts.errors += 1;
        writer.observer.issue(issue);
    }
    let limit = options.max_in_flight_chunks.max(2);
    let flow = Flow {
        state: Mutex::new((0, 0)),
        changed: Condvar::new(),
        limit: u64::try_from(limit).unwrap_or(u64::MAX),
    };
    let clock = StageClock::default();
    let planner = Planner {
        service,
        context,
        url_types,
        clock: &clock,
        resolved: Mutex::new(HashMap::new()),
    };
    let (work_sender, work_receiver) = sync_channel::<Chunk>(limit);
    let work_receiver = Mutex::new(work_receiver);
    let (done_sender, done_receiver) = sync_channel::<Done>(limit);
    let read_time = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_all(plan, options, &flow, work_sender));
        for _ in 0..options.workers.max(1) {
            let done_sender = done_sender.clone();
            let (planner, work_receiver) = (&planner, &work_receiver);
            scope.spawn(move || work(planner, work_receiver, done_sender));
        }
        drop(done_sender);
        writer.flow = Some(&flow);
        writer.run(&done_receiver);
        // A reader that panicked must not pass for one that reached the end of its input.
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    let nanos = |counter: &std::sync::atomic::AtomicU64| {
        Duration::from_nanos(counter.load(Ordering::Relaxed))
    };
    let unit = Duration::from_nanos(writer.unit_nanos);
    ImportReport {
        counts: writer.counts,
        files: plan.files.len(),
        elapsed: Duration::ZERO,
        timings: ImportTimings {
            scan: Duration::ZERO,
            read: read_time,
            parse: nanos(&clock.parse),
            validate: nanos(&clock.validate),
            references: nanos(&clock.references),
            index: nanos(&clock.index),
            existing: nanos(&clock.existing),
            unit,
            commit: writer.write_time.saturating_sub(unit),
            writer_idle: writer.idle,
            units: writer.units,
        },
    }
}

/// The reader thread: every file in plan order, phase by phase. Returns its busy time.
fn read_all(
    plan: &ImportPlan,
    options: &ImportOptions,
    flow: &Flow,
    sender: SyncSender<Chunk>,
) -> Duration {
    let started = Instant::now();
    let mut chunks = ChunkSender {
        sender,
        flow,
        size: options.chunk_size.max(1),
        items: Vec::new(),
        seq: 0,
        blocked: Duration::ZERO,
    };
    for phase in [0u8, 1] {
        for (index, file) in plan.files.iter().enumerate() {
            if file.phase != phase {
                continue;
            }
            let mut sink = |item: RawItem| chunks.push(item);
            let read = match file.format {
                ImportFormat::Ndjson => {
                    read_ndjson(&file.path, index, options.max_line_bytes, &mut sink)
                }
                _ => read_json(&file.path, index, &mut sink),
            };
            if read.is_err() {
                return started.elapsed().saturating_sub(chunks.blocked);
            }
        }
        if chunks.flush().is_err() {
            break;
        }
        // The next phase's conditional references resolve against this one.
        let waiting = Instant::now();
        flow.drain();
        chunks.blocked += waiting.elapsed();
    }
    started.elapsed().saturating_sub(chunks.blocked)
}

struct ChunkSender<'f> {
    sender: SyncSender<Chunk>,
    flow: &'f Flow,
    size: usize,
    items: Vec<RawItem>,
    seq: u64,
    blocked: Duration,
}

impl ChunkSender<'_> {
    fn push(&mut self, item: RawItem) -> Result<(), Stopped> {
        self.items.push(item);
        if self.items.len() >= self.size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if self.items.is_empty() {
            return Ok(());
        }
        let waiting = Instant::now();
        self.flow.dispatch();
        let chunk = Chunk {
            seq: self.seq,
            items: std::mem::replace(&mut self.items, Vec::with_capacity(self.size)),
        };
        self.seq += 1;
        let sent = self.sender.send(chunk).map_err(|_| Stopped);
        self.blocked += waiting.elapsed();
        sent
    }
}

/// A worker thread: plans every item of each chunk it takes.
fn work(planner: &Planner<'_>, receiver: &Mutex<Receiver<Chunk>>, sender: SyncSender<Done>) {
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(chunk) = next else {
            return;
        };
        let items = chunk
            .items
            .into_iter()
            .map(|item| {
                let (file, position) = (item.file, item.position);
                // A panic on some input must cost that item, not the import.
                let result =
                    catch_unwind(AssertUnwindSafe(|| planner.plan(item))).unwrap_or_else(|_| {
                        Err(ServiceError::internal(
                            "processing this resource failed unexpectedly (a bug)",
                        ))
                    });
                DoneItem {
                    file,
                    position,
                    result,
                }
            })
            .collect();
        if sender
            .send(Done {
                seq: chunk.seq,
                items,
            })
            .is_err()
        {
            return;
        }
    }
}

struct WriterState<'a> {
    service: &'a FhirService,
    context: &'a RequestContext,
    plan: &'a ImportPlan,
    observer: &'a mut dyn ImportObserver,
    batch_size: usize,
    counts: ImportCounts,
    batch: Vec<PlannedWrite>,
    batch_positions: Vec<(usize, ImportPosition)>,
    /// Chunks whose items are all in `batch` (or were reported).
    batch_chunks: u64,
    unit_nanos: u64,
    write_time: Duration,
    idle: Duration,
    units: u64,
    flow: Option<&'a Flow>,
}

impl WriterState<'_> {
    fn run(&mut self, receiver: &Receiver<Done>) {
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        loop {
            let waiting = Instant::now();
            let message = if self.batch_chunks > 0 {
                receiver.recv_timeout(LINGER)
            } else {
                receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            self.idle += waiting.elapsed();
            match message {
                Ok(done) => {
                    pending.insert(done.seq, done);
                }
                Err(RecvTimeoutError::Timeout) => self.commit(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.commit();
                    return;
                }
            }
            while let Some(done) = pending.remove(&next) {
                next += 1;
                self.take(done);
                if self.batch.len() >= self.batch_size {
                    self.commit();
                }
            }
        }
    }

    fn take(&mut self, done: Done) {
        self.batch_chunks += 1;
        for item in done.items {
            match item.result {
                Ok(write) => {
                    self.batch.push(write);
                    self.batch_positions.push((item.file, item.position));
                }
                Err(error) => self.report(item.file, item.position, error),
            }
        }
    }

    fn report(&mut self, file: usize, position: ImportPosition, error: ServiceError) {
        self.counts.errors += 1;
        let path = self
            .plan
            .files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default();
        self.observer
            .issue(&ImportIssue::new(&path, position, error));
    }

    fn commit(&mut self) {
        if !self.batch.is_empty() {
            let started = Instant::now();
            let writes = std::mem::take(&mut self.batch);
            let results = super::apply::commit_batch(
                self.service,
                self.context,
                writes,
                &mut self.unit_nanos,
            );
            self.write_time += started.elapsed();
            self.units += 1;
            let positions = std::mem::take(&mut self.batch_positions);
            for ((file, position), result) in positions.into_iter().zip(results) {
                match result {
                    Ok(outcome) if outcome.unchanged => self.counts.unchanged += 1,
                    Ok(outcome) if outcome.created => self.counts.created += 1,
                    Ok(_) => self.counts.updated += 1,
                    Err(error) => self.report(file, position, error),
                }
            }
        }
        if self.batch_chunks > 0 {
            if let Some(flow) = self.flow {
                flow.committed(self.batch_chunks);
            }
            self.batch_chunks = 0;
            self.observer.progress(&self.counts);
        }
    }
}
