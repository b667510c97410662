//! The one door between callers (REST today; HL7 ingest, CDS, the web UI and the CLI later) and
//! the store.
//!
//! Every interaction takes a [`RequestContext`] saying who is asking, with which scopes and from
//! where, so authorization and audit are added here once for every caller. The service owns the
//! FHIR semantics of the RESTful interactions: validation through `vigil-model`, id assignment,
//! version numbering, `meta` maintenance, optimistic locking (`If-Match`), conditional
//! create/update/delete, deletion markers and history bundles.
//!
//! Architecture invariants: the service knows nothing of HTTP (no status codes, no headers: the
//! API crate maps [`ServiceError`] and [`WriteOutcome`] onto HTTP), and nothing of SQL (it talks to
//! the [`vigil_store::Store`] trait and to `vigil_search::SearchEngine` for index rows and criteria).

#![deny(missing_docs)]

mod bundle;
mod capability;

mod context;
mod error;
mod everything;
mod export;
pub mod feed;
mod history;
mod import;
mod interactions;
mod meta;
mod reindex;
mod search;

pub use bundle::BundleReturn;
pub use context::{Principal, RequestContext};
pub use error::{ServiceError, ServiceErrorKind};
pub use export::{
    ExportKickoff, ExportLevel, ExportOptions, ExportStatus, ExportWorker, OUTPUT_FORMATS,
};
pub use history::{HistoryPage, HistoryParams};
pub use import::{
    ImportCounts, ImportFile, ImportFormat, ImportIssue, ImportObserver, ImportOptions, ImportPlan,
    ImportPosition, ImportReport, ImportTimings,
};
pub use interactions::{ConditionalDeleteOutcome, Preconditions, ReadResult, WriteOutcome};
pub use reindex::ReindexReport;
pub use vigil_model::instant::{format_instant, now_micros, parse_instant_micros};
pub use vigil_patch::{PatchDocument, PatchError, PatchErrorKind, PatchFormat};
pub use vigil_search::SearchScope;

use std::sync::Arc;
use vigil_search::SearchEngine;
use vigil_store::Store;

/// Settings of the service layer.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Whether PUT to an id that does not exist creates the resource (FHIR "update as create").
    pub allow_update_create: bool,
    /// Largest `_count` honoured for history and search pages.
    pub max_page_size: usize,
    /// Page size when the client gives no `_count`.
    pub default_page_size: usize,
    /// Where bulk `$export` writes its files (`<dir>/<job id>/<Type>-<n>.ndjson`); `None`
    /// disables `$export`. `vigil serve` sets `<data dir>/export`.
    pub export_dir: Option<std::path::PathBuf>,
    /// Most resources (matches) one `$everything` Bundle holds when the client asks for no
    /// pages (no `_count`); beyond it the Bundle says so and links to the rest.
    pub everything_max_resources: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            allow_update_create: true,
            max_page_size: 1000,
            default_page_size: 50,
            export_dir: None,
            everything_max_resources: 10_000,
        }
    }
}

/// The FHIR service: cheap to clone, shared by every caller.
#[derive(Clone)]
pub struct FhirService {
    store: Arc<dyn Store>,
    search: Arc<SearchEngine>,
    config: Arc<ServiceConfig>,
    /// The CapabilityStatement without its base URL, built on first use (it depends only on
    /// the registry and the configuration, fixed for the service's life).
    capability: Arc<std::sync::OnceLock<serde_json::Value>>,
}

impl FhirService {
    /// A service over a store, indexing and resolving search criteria with `search`.
    pub fn new(store: Arc<dyn Store>, search: Arc<SearchEngine>, config: ServiceConfig) -> Self {
        FhirService {
            store,
            search,
            config: Arc::new(config),
            capability: Arc::default(),
        }
    }

    /// The store behind the service (for operations such as reindex that work below the door).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The search engine (registry, extraction, query compilation).
    pub fn search_engine(&self) -> &Arc<SearchEngine> {
        &self.search
    }

    /// The service settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }
}
