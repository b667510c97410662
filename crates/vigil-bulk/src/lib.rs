//! Bulk work beside the request path, built only on the service door
//! ([`vigil_service::FhirService`] and its unit of work): the offline loader behind
//! `vigil import` ([`import::run`]) and Bulk Data `$export` with its durable job runner
//! ([`export`]).
//!
//! Architecture invariant: nothing here reaches the store or the search engine; every
//! resource read or written goes through the service, which asks its authorizer.

#![deny(missing_docs)]

pub mod export;
pub mod import;

pub use export::{
    ExportKickoff, ExportLevel, ExportOptions, ExportStatus, ExportWaker, ExportWorker,
    OUTPUT_FORMATS,
};
pub use import::{
    ImportCounts, ImportFile, ImportFormat, ImportIssue, ImportObserver, ImportOptions, ImportPlan,
    ImportPosition, ImportReport, ImportTimings,
};
