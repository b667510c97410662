//! The route table, one module per interaction level.

mod binary;
mod bundle;
mod instance;
mod metadata;
mod operations;
mod patch;
mod search;
mod system;
mod type_level;

use crate::access_log::{AccessLog, Sampler};
use crate::request::query_params;
use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;
use vigil_model::IssueType;
use vigil_service::ServiceError;

/// The FHIR REST routes at the server root.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metadata", get(metadata::capabilities))
        .route("/", get(search::system_search).post(bundle::process))
        .route("/_search", axum::routing::post(search::system_search_post))
        .route("/_history", get(system::history))
        .route("/$export", get(operations::export_system))
        .route("/Patient/$export", get(operations::export_patients))
        .route("/Group/{id}/$export", get(operations::export_group))
        .route("/Patient/{id}/$everything", get(operations::everything))
        .route(
            "/_export/{job}",
            get(operations::export_status).delete(operations::export_cancel),
        )
        .route("/_export/{job}/{file}", get(operations::export_file))
        .route(
            "/{resource_type}",
            get(search::type_search)
                .post(type_level::create)
                .put(type_level::conditional_update)
                .patch(patch::conditional_patch)
                .delete(type_level::conditional_delete),
        )
        .route(
            "/{resource_type}/_search",
            axum::routing::post(search::type_search_post),
        )
        .route("/{resource_type}/_history", get(type_level::history))
        .route(
            "/{resource_type}/{id}",
            get(instance::read)
                .put(instance::update)
                .patch(patch::patch)
                .delete(instance::delete),
        )
        .route("/{resource_type}/{id}/_history", get(instance::history))
        .route(
            "/{resource_type}/{id}/_history/{version}",
            get(instance::vread),
        )
        .route(
            "/{compartment}/{id}/{resource_type}",
            get(search::compartment_search),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            (state.config.access_log, Arc::new(Sampler::default())),
            log_request,
        ))
        .with_state(state)
}

/// Runs a blocking service call off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(error) => {
            tracing::error!(%error, "service task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                IssueType::Exception,
                "internal error while serving the request",
            ))
        }
    }
}

/// Path parameters whose rejection is an OperationOutcome.
pub(crate) struct FhirPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for FhirPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(FhirPath(value)),
            Err(rejection) => Err(ApiError::bad_request(
                format!("invalid URL path: {}", rejection.body_text()),
                "url",
            )),
        }
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        IssueType::NotFound,
        format!("no FHIR endpoint at '{}'", request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        IssueType::NotSupported,
        format!(
            "{} is not supported on '{}'",
            request.method(),
            request.uri().path()
        ),
    )
}

/// One access-log line per request the policy selects: method, path (never the query, which
/// may hold names or identifiers), status and duration.
async fn log_request(
    State((policy, sampler)): State<(AccessLog, Arc<Sampler>)>,
    request: Request,
    next: Next,
) -> Response {
    if policy == AccessLog::Off {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if sampler.logs(policy, status) {
        tracing::info!(
            target: "vigil::access",
            %method,
            path,
            status,
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    }
    response
}

/// Query parameters of a request.
pub(crate) fn params(raw: Option<String>) -> Vec<(String, String)> {
    query_params(raw.as_deref())
}
