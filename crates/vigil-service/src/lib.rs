//! The one door between callers (REST handlers, transaction and batch entries, `vigil import`
//! and `$export` in vigil-bulk; HL7 ingest, CDS and the web UI next) and the store.
//!
//! - Every call carries a [`RequestContext`]: who ([`Principal`], client, patient in context,
//!   scopes, roles), from where (the peer address), why (purpose of use, break-the-glass
//!   reason), a request id and the base URL.
//! - Every resource read, written or returned is put to one [`Authorizer`] as an [`Access`]
//!   ([`AllowAll`] by default; [`FhirService::with_authorizer`]); a refusal is
//!   [`ServiceErrorKind::Forbidden`], or the resource is left out of a Bundle.
//! - Every write goes through a [`Unit`] of work ([`FhirService::unit`]): create, update,
//!   patch, delete, their conditional forms (one resolver, [`decide`]) and reads in one durable
//!   commit, with the [`AuditHook`]'s [`AuditRecord`]s and [`InboundMessage`]s committed in it.
//! - The service owns the FHIR semantics of the RESTful interactions: validation through
//!   `vigil-model`, id assignment, version numbering, `meta` maintenance, optimistic locking
//!   (`If-Match`), deletion markers, history and searchset bundles, `$everything`.
//!
//! Architecture invariants: nothing outside this crate reaches the store or the search engine;
//! the service knows nothing of HTTP (no status codes, no headers: the API crate maps
//! [`ServiceError`] and [`WriteOutcome`] onto HTTP), and nothing of SQL (it talks to the
//! [`vigil_store::Store`] trait and to `vigil_search::SearchEngine` for index rows and
//! criteria).

#![deny(missing_docs)]

mod audit;
mod authz;
pub mod bundle;
mod capability;
mod care;
mod conditional;
mod confine;
mod context;
mod error;
mod everything;
pub mod feed;
mod history;
mod interactions;
mod jobs;
mod matching;
mod meta;
mod read_cache;
mod reindex;
mod search;
mod search_access;
mod smart;
mod unit;

pub use audit::{
    AuditHead, AuditHook, AuditRecord, AuditTrail, AuditTrailOptions, AuditTrailStats, ChainBreak,
    ChainSummary, InboundMessage, NoAudit, Records, WrittenVersion, outcome_code,
};
pub use authz::{Access, Action, AllowAll, Authorizer, Content, Denied};
pub use bundle::BundleReturn;
pub use conditional::{Conditional, Decision, Resolution, decide, token_criteria};
pub use context::{Principal, RequestContext, TokenCheck, TokenContexts};
pub use error::{ServiceError, ServiceErrorKind};
pub use everything::patient_compartment_types;
pub use history::{HistoryPage, HistoryParams};
pub use interactions::{
    ConditionalDeleteOutcome, Preconditions, Prepared, ReadResult, WriteOutcome, check_id_syntax,
};
pub use jobs::{SnapshotPage, SnapshotScan};
pub use reindex::ReindexReport;
pub use smart::{ResourceScope, ScopeContext, SmartAuthorizer};
pub use unit::{Unit, breaks_unit};
pub use vigil_model::instant::{format_instant, now_micros, parse_instant_micros};
pub use vigil_patch::{PatchDocument, PatchError, PatchErrorKind, PatchFormat};
pub use vigil_search::{CompiledQuery, SearchScope};
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
    /// Most resources (matches) one `$everything` Bundle holds when the client asks for no
    /// pages (no `_count`); beyond it the Bundle says so and links to the rest.
    pub everything_max_resources: usize,
    /// `rest.security` of the CapabilityStatement (the SMART security extension with the
    /// authorization server's `oauth-uris`), when authentication is on.
    pub rest_security: Option<serde_json::Value>,
    /// Bytes of current resource versions kept in memory for reads by id (the read cache,
    /// invalidated by every commit that changes a resource); 0 turns it off. `vigil serve`
    /// sets it from `--read-cache-mib`.
    pub read_cache_bytes: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            allow_update_create: true,
            max_page_size: 1000,
            default_page_size: 50,
            export_dir: None,
            everything_max_resources: 10_000,
            rest_security: None,
            read_cache_bytes: 0,
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
    /// The CapabilityStatement without its base URL, built on first use (it depends only on
    /// the registry and the configuration, fixed for the service's life).
    capability: Arc<std::sync::OnceLock<serde_json::Value>>,
    /// Current versions for reads by id ([`read_cache`]).
    read_cache: Arc<read_cache::ReadCache>,
}

impl FhirService {
    /// A service over a store, indexing and resolving search criteria with `search`.
    pub fn new(store: Arc<dyn Store>, search: Arc<SearchEngine>, config: ServiceConfig) -> Self {
        let read_cache = Arc::new(read_cache::ReadCache::new(config.read_cache_bytes));
        FhirService {
            store,
            search,
            read_cache,
            config: Arc::new(config),
            authorizer: Arc::new(AllowAll),
            audit: Arc::new(NoAudit),
            capability: Arc::default(),
        }
    }

    /// The same service asking `authorizer` for every access (the default is [`AllowAll`]).
    pub fn with_authorizer(self, authorizer: Arc<dyn Authorizer>) -> Self {
        FhirService { authorizer, ..self }
    }

    /// The same service under the SMART on FHIR policy ([`SmartAuthorizer`]): scopes,
    /// roles and v2 restrictions decide every access.
    pub fn with_smart_authorization(self) -> Self {
        let authorizer = Arc::new(SmartAuthorizer::new(
            self.search.clone(),
            self.store.clone(),
        ));
        self.with_authorizer(authorizer)
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

    /// Bytes the read cache holds now, and the most it may hold (0 when it is off).
    pub fn read_cache_usage(&self) -> (usize, usize) {
        (self.read_cache.bytes(), self.read_cache.budget())
    }

    /// The committed inbound message recorded under (sender, control id) (ingest tools).
    pub fn inbound_message(
        &self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, ServiceError> {
        Ok(self.store.inbound_message(sender, control_id)?)
    }

    /// Committed inbound messages in one state, oldest received first, at most `limit`.
    pub fn inbound_messages(
        &self,
        state: &str,
        limit: usize,
    ) -> Result<Vec<InboundMessage>, ServiceError> {
        Ok(self.store.inbound_messages(state, limit)?)
    }
}
