//! Type-level interactions: create (`POST [type]`), conditional update (`PUT [type]?...`),
//! conditional delete (`DELETE [type]?...`) and type history.

use super::system::history_response;
use super::{FhirPath, binary, blocking, params};
use crate::negotiate::{check_content_type, response_options};
use crate::request::{Context, if_match, parse_json, read_body};
use crate::response::write_response;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use vigil_service::HistoryScope;
use vigil_service::Preconditions;

pub(crate) async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.service.check_type(&resource_type)?;
    let options = response_options(&params(query), &headers)?;
    let body = read_body(&state, &headers, body).await?;
    let resource = binary::request_resource(&resource_type, None, &headers, &body)?;
    let if_none_exist = match headers.get("if-none-exist") {
        None => None,
        Some(value) => Some(conditional_criteria(
            value.to_str().unwrap_or(""),
            &resource_type,
        )?),
    };
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome = blocking(move || {
        service.create(&context, &resource_type, resource, if_none_exist.as_deref())
    })
    .await?;
    let (status, message) = if outcome.created {
        (StatusCode::CREATED, "created")
    } else {
        (
            StatusCode::OK,
            "a matching resource exists; nothing was created",
        )
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

/// The query of an `If-None-Exist` header: `identifier=x`, also accepted as `?identifier=x` or
/// `Patient?identifier=x`.
fn conditional_criteria(header: &str, resource_type: &str) -> Result<String, ApiError> {
    let trimmed = header.trim();
    let query = trimmed.strip_prefix(resource_type).unwrap_or(trimmed);
    let query = query.strip_prefix('?').unwrap_or(query);
    if query.is_empty() {
        return Err(ApiError::bad_request(
            "If-None-Exist needs search criteria such as identifier=system|value",
            "If-None-Exist",
        ));
    }
    Ok(query.to_owned())
}

pub(crate) async fn conditional_update(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.service.check_type(&resource_type)?;
    let criteria = criteria_of(
        query.as_deref(),
        "a conditional update (PUT [type]?criteria); to update one resource use PUT [type]/[id]",
    )?;
    let options = response_options(&params(query), &headers)?;
    check_content_type(&headers)?;
    if headers.contains_key(axum::http::header::IF_NONE_MATCH) {
        // Refused rather than ignored: the criteria already say "create when absent".
        return Err(ApiError::bad_request(
            "If-None-Match is not supported on a conditional update; use If-None-Exist on a create",
            "If-None-Match",
        ));
    }
    let preconditions = Preconditions {
        if_match: if_match(&headers)?,
    };
    let resource = parse_json(&read_body(&state, &headers, body).await?)?;
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome = blocking(move || {
        service.conditional_update(
            &context,
            &resource_type,
            &criteria,
            resource,
            &preconditions,
        )
    })
    .await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(write_response(
        status,
        &outcome.version,
        &options,
        &base,
        "updated",
        &outcome.warnings,
    ))
}

pub(crate) async fn conditional_delete(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.service.check_type(&resource_type)?;
    let criteria = criteria_of(
        query.as_deref(),
        "a conditional delete (DELETE [type]?criteria)",
    )?;
    let preconditions = Preconditions {
        if_match: if_match(&headers)?,
    };
    let service = state.service.clone();
    blocking(move || {
        service.conditional_delete(&context, &resource_type, &criteria, &preconditions)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The search criteria of a conditional interaction: the query minus result parameters such as
/// `_format`.
pub(super) fn criteria_of(query: Option<&str>, what: &str) -> Result<String, ApiError> {
    let criteria: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !matches!(name, "_format" | "_pretty" | "_summary" | "_elements")
        })
        .collect();
    if criteria.is_empty() {
        return Err(ApiError::bad_request(
            format!("{what} needs search criteria"),
            "url",
        ));
    }
    Ok(criteria.join("&"))
}

pub(crate) async fn history(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(resource_type): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    history_response(
        state,
        context,
        HistoryScope::Type(resource_type),
        params(query),
        headers,
    )
    .await
}
