//! Offline bulk import (`vigil import`): transaction, batch and collection Bundles and NDJSON
//! files loaded through the service door, streaming, in parallel, in batched durable commits.
//!
//! # Pipeline
//!
//! ```text
//! scan (every file once: format, Bundle.type, fullUrl -> type, item count)
//!   -> reader thread (one file at a time, entry by entry / line by line, chunks of raw JSON text)
//!   -> N worker threads (parse, validate, choose the id, rewrite references, extract index rows,
//!      look ahead at the current version and serialize)    -- all CPU work, outside the lock
//!   -> writer (the calling thread: chunks back in input order, one unit of work = one fsync
//!      per batch of `batch_size` resources)
//! ```
//!
//! Memory is bounded: at most `max_in_flight_chunks` chunks of `chunk_size` items exist between
//! the reader and the commit, whatever the file sizes. The only structure that grows with the
//! input is the scan's fullUrl table (a 64-bit hash and a type number per Bundle entry with a
//! `fullUrl`, about 20 bytes each), which lets `urn:uuid:` references point forwards and across
//! files.
//!
//! # Which id a resource gets (what makes a re-run idempotent)
//!
//! 1. `PUT Type/id` entries: that id (update semantics; `ifMatch` honoured).
//! 2. `PUT Type?criteria` entries: conditional update, as in a transaction.
//! 3. A `fullUrl` of `urn:uuid:<uuid>` (or `urn:oid:<oid>`, or an absolute URL ending in
//!    `Type/id`): that uuid / oid / id, so references to the fullUrl resolve to `Type/<uuid>`
//!    in any file of the import, and a re-run updates the same resource in place.
//! 4. Otherwise the resource's own `id`, kept (update semantics).
//! 5. `request.ifNoneExist` is honoured: nothing is written when one resource matches (the
//!    entry counts as unchanged); with no match the resource is created with the id above.
//! 6. A resource without any of these but with an `identifier` (system and value) is a
//!    conditional create on `identifier=system|value`.
//! 7. Anything else gets a new server id (and a re-run creates it again).
//!
//! With update semantics, a resource equal to its current version (apart from `meta.versionId`
//! and `meta.lastUpdated`) writes nothing: running the same import twice leaves the history
//! unchanged. DELETE, GET, HEAD and PATCH entries are reported as errors (import only writes).
//!
//! # Order and references
//!
//! Files are loaded in two phases, each in path order: first Bundles of type `batch` and files
//! whose name starts with `0-` (reference data such as Synthea's provider bundles), then the
//! rest. The second phase starts once everything of the first is committed, so conditional
//! references (`Practitioner?identifier=...`) resolve against it; they are resolved against
//! committed data only, each distinct one once. References equal to a scanned `fullUrl` become
//! `Type/id`; an unknown `urn:uuid:` reference is an error of that entry.
//!
//! Entries are loaded one by one (batch semantics): a transaction Bundle is not all-or-nothing
//! here, so one bad entry is reported (`FILE: entry N`, counted from 0 as in `Bundle.entry[N]`;
//! `FILE:LINE` for NDJSON, counted from 1) and the rest of the file and the other files load.

mod apply;
mod pipeline;
mod plan;
mod scan;
mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_service::{FhirService, RequestContext, ServiceError};

pub use scan::{ImportFile, ImportFormat, ImportPlan};

/// Settings of a bulk import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Worker threads doing the CPU work (at least 1).
    pub workers: usize,
    /// Resources per unit of work (one durable commit each).
    pub batch_size: usize,
    /// Items (entries or lines) handed to a worker at a time.
    pub chunk_size: usize,
    /// Chunks between the reader and the commit at most: bounds the memory.
    pub max_in_flight_chunks: usize,
    /// Longest NDJSON line accepted, in bytes; longer lines are reported and skipped.
    pub max_line_bytes: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        ImportOptions {
            workers,
            batch_size: 1000,
            chunk_size: 100,
            max_in_flight_chunks: 4 * workers + 4,
            max_line_bytes: 64 << 20,
        }
    }
}

/// Where in a file an item was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPosition {
    /// The file as a whole (it could not be opened or is not FHIR JSON).
    File,
    /// A line of an NDJSON file, counted from 1.
    Line(u64),
    /// An entry of a Bundle, counted from 0 (as in `Bundle.entry[N]`).
    Entry(u64),
}

/// One resource (or file) that could not be imported, and why.
#[derive(Debug, Clone)]
pub struct ImportIssue {
    /// The file.
    pub file: PathBuf,
    /// Where in the file.
    pub position: ImportPosition,
    /// The error, with its OperationOutcome issues.
    pub error: ServiceError,
}

impl ImportIssue {
    pub(crate) fn new(file: &Path, position: ImportPosition, error: ServiceError) -> Self {
        ImportIssue {
            file: file.to_owned(),
            position,
            error,
        }
    }
}

impl fmt::Display for ImportIssue {
    /// `FILE:LINE: text`, `FILE: entry N: text` or `FILE: text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match self.position {
            ImportPosition::File => write!(f, "{file}: ")?,
            ImportPosition::Line(line) => write!(f, "{file}:{line}: ")?,
            ImportPosition::Entry(entry) => write!(f, "{file}: entry {entry}: ")?,
        }
        let texts: Vec<String> = self
            .error
            .issues()
            .iter()
            .map(|issue| match issue.expression.first() {
                Some(at) => format!("{} (at {at})", issue.diagnostics),
                None => issue.diagnostics.clone(),
            })
            .collect();
        write!(f, "{}", texts.join("; "))
    }
}

/// Counts so far (after each commit) or at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Resources created.
    pub created: u64,
    /// Resources updated (a new version of an existing resource).
    pub updated: u64,
    /// Resources equal to what was stored, or conditional creates that matched: nothing written.
    pub unchanged: u64,
    /// Entries, lines or files that failed.
    pub errors: u64,
}

impl ImportCounts {
    /// Resources imported: created, updated or unchanged.
    pub fn resources(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
    /// Items done, failed ones included (for progress against [`ImportPlan::items`]).
    pub fn items(&self) -> u64 {
        self.resources() + self.errors
    }
}

/// Where the time went, summed over threads (so stages running in parallel can add up to more
/// than the wall time).
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTimings {
    /// The scan before loading (one thread).
    pub scan: Duration,
    /// Reading and splitting files into entries and lines (reader thread).
    pub read: Duration,
    /// Parsing entries and lines into JSON values (workers).
    pub parse: Duration,
    /// Validation against the R4 model (workers).
    pub validate: Duration,
    /// Reference rewriting, conditional references included (workers).
    pub references: Duration,
    /// Search index extraction (workers).
    pub index: Duration,
    /// Looking up the current version, comparing and serializing the next one (workers).
    pub existing: Duration,
    /// Inside units of work, under the writer lock (writer).
    pub unit: Duration,
    /// Units of work minus their inside: BEGIN, COMMIT and its fsync (writer).
    pub commit: Duration,
    /// The writer waiting for the workers.
    pub writer_idle: Duration,
    /// Units of work committed.
    pub units: u64,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Final counts.
    pub counts: ImportCounts,
    /// Files read.
    pub files: usize,
    /// Wall time, the scan included.
    pub elapsed: Duration,
    /// The time per stage.
    pub timings: ImportTimings,
}

impl ImportReport {
    /// Resources per second of wall time.
    pub fn rate(&self) -> f64 {
        self.counts.resources() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for ImportReport {
    /// `imported N resources (C created, U updated, S unchanged, E errors) from F files in T s (R/s)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "imported {} resources ({} created, {} updated, {} unchanged, {} errors) from {} files in {:.1} s ({:.0}/s)",
            c.resources(),
            c.created,
            c.updated,
            c.unchanged,
            c.errors,
            self.files,
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }
}

/// What the caller hears during an import; every method runs on the thread that called
/// [`run`].
pub trait ImportObserver {
    /// The scan is done: the files in load order, with their item counts.
    fn planned(&mut self, plan: &ImportPlan) {
        let _ = plan;
    }
    /// An entry, line or file failed; the import goes on.
    fn issue(&mut self, issue: &ImportIssue);
    /// A batch was committed (or failed).
    fn progress(&mut self, counts: &ImportCounts) {
        let _ = counts;
    }
}

/// Imports `inputs` (files, or directories searched for `*.json`, `*.ndjson` and `*.jsonl`)
/// through `service`'s door as described in the module documentation. Failed entries, lines
/// and files are reported to `observer` and counted, and the rest goes on: there is always a
/// report.
pub fn run(
    service: &FhirService,
    context: &RequestContext,
    inputs: &[PathBuf],
    options: &ImportOptions,
    observer: &mut dyn ImportObserver,
) -> ImportReport {
    let started = std::time::Instant::now();
    let (plan, url_types, issues) = scan::scan(inputs);
    let scan_time = started.elapsed();
    observer.planned(&plan);
    let mut report = pipeline::run(
        service, context, &plan, &url_types, options, observer, issues,
    );
    report.timings.scan = scan_time;
    report.elapsed = started.elapsed();
    report
}
