//! Instance-level interactions: read, vread, update, delete and instance history.

use super::system::history_response;
use super::{FhirPath, binary, blocking, params};
use crate::negotiate::{ResponseOptions, ReturnPreference, response_options};
use crate::request::{Context, if_match, read_body};
use crate::response::{read_response, version_headers, write_response};
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_service::HistoryScope;
use vigil_service::Preconditions;

pub(crate) async fn read(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((resource_type, id)): FhirPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = params(query);
    let native = resource_type == "Binary" && binary::native_requested(&params, &headers);
    let options = if native {
        ResponseOptions::default()
    } else {
        response_options(&params, &headers)?
    };
    let base = context.base_url.clone();
    // A cached resource is answered here; otherwise the store is read on a blocking thread.
    let found = match state.service.read_cached(&context, &resource_type, &id) {
        Some(result) => result?,
        None => {
            let service = state.service.clone();
            blocking(move || service.read(&context, &resource_type, &id)).await?
        }
    };
    if crate::not_modified::not_modified(&headers, &found.version) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        version_headers(response.headers_mut(), &base, &found.version, false);
        return Ok(response);
    }
    if native {
        return native_or_resource(&found.version, &params, &headers, &base);
    }
    Ok(read_response(&found.version, &options, &base))
}

/// A Binary's native content, or its resource form when the client accepts JSON but not the
/// content type.
fn native_or_resource(
    version: &vigil_service::StoredVersion,
    params: &[(String, String)],
    headers: &HeaderMap,
    base: &str,
) -> Result<Response, ApiError> {
    match binary::native_response(version, headers, base)? {
        Some(response) => Ok(response),
        None => Ok(read_response(
            version,
            &response_options(params, headers)?,
            base,
        )),
    }
}

pub(crate) async fn vread(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((resource_type, id, version)): FhirPath<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = params(query);
    let native = resource_type == "Binary" && binary::native_requested(&params, &headers);
    let options = if native {
        ResponseOptions::default()
    } else {
        response_options(&params, &headers)?
    };
    let base = context.base_url.clone();
    let service = state.service.clone();
    let found = blocking(move || service.vread(&context, &resource_type, &id, &version)).await?;
    if native {
        return native_or_resource(&found.version, &params, &headers, &base);
    }
    Ok(read_response(&found.version, &options, &base))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((resource_type, id)): FhirPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.service.check_type(&resource_type)?;
    let options = response_options(&params(query), &headers)?;
    let preconditions = Preconditions {
        if_match: if_match(&headers)?,
    };
    let if_absent = if_none_match_any(&headers)?;
    let body = read_body(&state, &headers, body).await?;
    let resource = binary::request_resource(&resource_type, Some(&id), &headers, &body)?;
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome = blocking(move || {
        if if_absent {
            service.update_if_absent(&context, &resource_type, &id, resource, &preconditions)
        } else {
            service.update(&context, &resource_type, &id, resource, &preconditions)
        }
    })
    .await?;
    let (status, message) = if outcome.created {
        (StatusCode::CREATED, "created")
    } else if outcome.unchanged {
        (
            StatusCode::OK,
            "no change: the resource equals the current version",
        )
    } else {
        (StatusCode::OK, "updated")
    };
    Ok(write_response(
        status,
        &outcome.version,
        &options,
        &base,
        message,
        &outcome.warnings,
    ))
}

/// `If-None-Match: *` on a PUT: create only if the resource has no current version. Any other
/// value is refused (400) rather than ignored.
fn if_none_match_any(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::IF_NONE_MATCH) else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok("*") => Ok(true),
        _ => Err(ApiError::bad_request(
            "on an update, If-None-Match must be '*' (create only if absent)",
            "If-None-Match",
        )),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((resource_type, id)): FhirPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = response_options(&params(query), &headers)?;
    let preconditions = Preconditions {
        if_match: if_match(&headers)?,
    };
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome =
        blocking(move || service.delete(&context, &resource_type, &id, &preconditions)).await?;
    if options.prefer == ReturnPreference::OperationOutcome {
        let message = if outcome.unchanged {
            "already deleted"
        } else {
            "deleted"
        };
        return Ok(write_response(
            StatusCode::OK,
            &outcome.version,
            &options,
            &base,
            message,
            &[],
        ));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    version_headers(response.headers_mut(), &base, &outcome.version, false);
    Ok(response)
}

pub(crate) async fn history(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((resource_type, id)): FhirPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    history_response(
        state,
        context,
        HistoryScope::Instance(resource_type, id),
        params(query),
        headers,
    )
    .await
}
