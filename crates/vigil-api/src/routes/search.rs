//! Search routes: `GET [type]`, `POST [type]/_search`, `GET /` and `POST /_search` (system,
//! with `_type`), and compartment search `GET [compartment]/[id]/[type]`.
//!
//! A POST body is `application/x-www-form-urlencoded`; its parameters join those of the URL.
//! `Prefer: handling=strict` turns ignored (unknown) parameters into a 400.

use super::{FhirPath, blocking, params};
use crate::negotiate::response_options;
use crate::request::{Context, read_body};
use crate::response::json_response;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use vigil_model::IssueType;
use vigil_service::{RequestContext, SearchScope};

pub(crate) async fn type_search(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(
        state,
        context,
        SearchScope::Type(resource_type),
        params(query),
        headers,
    )
    .await
}

pub(crate) async fn type_search_post(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pairs = with_form_body(&state, params(query), &headers, body).await?;
    run(
        state,
        context,
        SearchScope::Type(resource_type),
        pairs,
        headers,
    )
    .await
}

pub(crate) async fn system_search(
    State(state): State<AppState>,
    Context(context): Context,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(
        state,
        context,
        SearchScope::System(Vec::new()),
        params(query),
        headers,
    )
    .await
}

pub(crate) async fn system_search_post(
    State(state): State<AppState>,
    Context(context): Context,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pairs = with_form_body(&state, params(query), &headers, body).await?;
    run(
        state,
        context,
        SearchScope::System(Vec::new()),
        pairs,
        headers,
    )
    .await
}

pub(crate) async fn compartment_search(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((compartment, id, resource_type)): FhirPath<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(
        state,
        context,
        SearchScope::Compartment {
            compartment,
            id,
            resource_type,
        },
        params(query),
        headers,
    )
    .await
}

async fn run(
    state: AppState,
    context: RequestContext,
    scope: SearchScope,
    pairs: Vec<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = response_options(&pairs, &headers)?;
    let strict = prefers_strict(&headers);
    let service = state.service.clone();
    let bundle = blocking(move || service.search(&context, scope, pairs, strict)).await?;
    Ok(json_response(StatusCode::OK, &bundle, options.pretty))
}

/// The URL's parameters followed by those of a form-encoded body.
async fn with_form_body(
    state: &AppState,
    mut pairs: Vec<(String, String)>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = read_body(state, headers, body).await?;
    if bytes.is_empty() {
        return Ok(pairs);
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            format!("a _search body must be application/x-www-form-urlencoded, not '{media}'"),
        ));
    }
    pairs.extend(form_urlencoded::parse(&bytes).into_owned());
    Ok(pairs)
}

/// `Prefer: handling=strict`.
fn prefers_strict(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|part| part.trim() == "handling=strict")
}
