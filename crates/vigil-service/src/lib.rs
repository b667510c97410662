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

mod audit;
mod authz;
pub mod bundle;
mod capability;
mod conditional;
mod context;
mod error;
mod everything;
mod history;
mod interactions;
mod jobs;
mod meta;
mod reindex;
mod search;
mod search_access;
mod unit;

pub use audit::{AuditHook, AuditRecord, InboundMessage, NoAudit, Records, WrittenVersion};
pub use authz::{Access, Action, AllowAll, Authorizer, Content, Denied};
pub use bundle::BundleReturn;
pub use conditional::{Conditional, Decision, Resolution, decide};
pub use context::{Principal, RequestContext};
pub use error::{ServiceError, ServiceErrorKind};
pub use history::{HistoryPage, HistoryParams};
pub use interactions::{
    ConditionalDeleteOutcome, Preconditions, Prepared, ReadResult, WriteOutcome, check_id_syntax,
};
pub use jobs::{SnapshotPage, SnapshotScan};
pub use reindex::ReindexReport;
pub use unit::{Unit, breaks_unit};
pub use vigil_model::instant::{format_instant, now_micros, parse_instant_micros};
pub use vigil_patch::{PatchDocument, PatchError, PatchErrorKind, PatchFormat};
pub use vigil_search::SearchScope;
pub use vigil_store::{HistoryScope, JobRecord, StoredVersion, WriteMethod};

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
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            allow_update_create: true,
            max_page_size: 1000,
            default_page_size: 50,
            export_dir: None,
        }
    }
}

/// The FHIR service: cheap to clone, shared by every caller.
#[derive(Clone)]
pub struct FhirService {
    store: Arc<dyn Store>,
    search: Arc<SearchEngine>,
    config: Arc<ServiceConfig>,
    authorizer: Arc<dyn Authorizer>,
    audit: Arc<dyn AuditHook>,
}

impl FhirService {
    /// A service over a store, indexing and resolving search criteria with `search`.
    pub fn new(store: Arc<dyn Store>, search: Arc<SearchEngine>, config: ServiceConfig) -> Self {
        FhirService {
            store,
            search,
            config: Arc::new(config),
            authorizer: Arc::new(AllowAll),
            audit: Arc::new(NoAudit),
        }
    }

    /// The same service asking `authorizer` for every access (the default is [`AllowAll`]).
    pub fn with_authorizer(self, authorizer: Arc<dyn Authorizer>) -> Self {
        FhirService { authorizer, ..self }
    }

    /// The same service calling `audit` at the end of every unit of work (the default is
    /// [`NoAudit`]).
    pub fn with_audit_hook(self, audit: Arc<dyn AuditHook>) -> Self {
        FhirService { audit, ..self }
    }

    /// The service settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }
}
