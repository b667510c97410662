//! The FHIR REST API over HTTP (axum).
//!
//! [`app`] (or [`app_with_exports`], which wakes the export worker) builds the router; it is tested in process with `tower::ServiceExt::oneshot` and
//! served by the `vigil` binary. Routes are split per interaction level under [`routes`]; content
//! negotiation (`_format`, `Accept`, `Content-Type`, `_pretty`, `Prefer`) lives in
//! [`negotiate`]; every error becomes an OperationOutcome with its status in one table in
//! [`error`].
//!
//! Architecture invariant: only this crate knows HTTP. Handlers parse the request, call one
//! `FhirService` method on a blocking thread (a read by id the read cache holds is answered in
//! place, `FhirService::read_cached`), and shape the answer; FHIR rules live in the service.

#![deny(missing_docs)]

mod access_log;
mod auth;
pub mod error;
mod headers;
pub mod limits;
pub mod negotiate;
mod not_modified;
mod request;
mod response;
pub mod routes;

pub use access_log::AccessLog;
pub use auth::{Authenticator, Identity, Refusal, protect};
pub use error::ApiError;
pub use headers::{harden, security_headers};
pub use limits::{HttpLimits, limit};

use axum::Router;
use std::sync::Arc;
use vigil_bulk::ExportWaker;
use vigil_service::FhirService;

/// Settings of the HTTP layer.
#[derive(Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// The public base URL (e.g. `https://fhir.example.org/r4`); when absent, links are built
    /// from the request's `Host` header as `http://{host}`.
    pub base_url: Option<String>,
    /// Verifies bearer tokens; `None` is development mode (no authentication, every caller
    /// is the development principal).
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Which requests get an access-log line ([`AccessLog`]).
    pub access_log: AccessLog,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 16 * 1024 * 1024,
            base_url: None,
            authenticator: None,
            access_log: AccessLog::default(),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("base_url", &self.base_url)
            .field("authentication", &self.authenticator.is_some())
            .field("access_log", &self.access_log)
            .finish()
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The service door.
    pub service: FhirService,
    /// HTTP settings.
    pub config: Arc<ApiConfig>,
    /// Wakes the export worker after a `$export` kick-off.
    pub exports: ExportWaker,
}

/// The FHIR REST router at the server root, with no export worker to wake: accepted `$export`
/// jobs wait for a worker's start or its safety interval. Servers that run an
/// [`vigil_bulk::ExportWorker`] use [`app_with_exports`].
pub fn app(service: FhirService, config: ApiConfig) -> Router {
    app_with_exports(service, config, ExportWaker::new())
}

/// The FHIR REST router at the server root; a `$export` kick-off wakes the worker attached to
/// `exports` (see [`vigil_bulk::ExportWorker::start`]).
pub fn app_with_exports(service: FhirService, config: ApiConfig, exports: ExportWaker) -> Router {
    routes::router(AppState {
        service,
        config: Arc::new(config),
        exports,
    })
}
