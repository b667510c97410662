//! The patch interaction: `PATCH [type]/[id]` and conditional `PATCH [type]?criteria`
//! (http.html#patch).
//!
//! The `Content-Type` says which format the body is in: `application/json-patch+json` for a
//! JSON Patch (RFC 6902), `application/fhir+json` for a FHIRPath Patch (a `Parameters`
//! resource). Anything else, or none, is 415. The answer is the update's: 200 with the patched
//! resource (or what `Prefer: return=` asks for), `ETag`, `Last-Modified` and `Location`.

use super::type_level::criteria_of;
use super::{FhirPath, blocking, params};
use crate::negotiate::response_options;
use crate::request::{Context, if_match, parse_json, read_body};
use crate::response::write_response;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use vigil_model::IssueType;
use vigil_service::{PatchDocument, Preconditions, ServiceError, WriteOutcome};

/// The media type of JSON Patch.
const JSON_PATCH: &str = "application/json-patch+json";

pub(crate) async fn patch(
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
    let document = read_patch(&state, &headers, body).await?;
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome =
        blocking(move || service.patch(&context, &resource_type, &id, &document, &preconditions))
            .await?;
    Ok(respond(&outcome, &options, &base))
}

pub(crate) async fn conditional_patch(
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
        "a conditional patch (PATCH [type]?criteria); to patch one resource use PATCH [type]/[id]",
    )?;
    let options = response_options(&params(query), &headers)?;
    let preconditions = Preconditions {
        if_match: if_match(&headers)?,
    };
    let document = read_patch(&state, &headers, body).await?;
    let base = context.base_url.clone();
    let service = state.service.clone();
    let outcome = blocking(move || {
        service.conditional_patch(
            &context,
            &resource_type,
            &criteria,
            &document,
            &preconditions,
        )
    })
    .await?;
    Ok(respond(&outcome, &options, &base))
}

fn respond(
    outcome: &WriteOutcome,
    options: &crate::negotiate::ResponseOptions,
    base: &str,
) -> Response {
    let message = if outcome.unchanged {
        "no change: the patched resource equals the current version"
    } else {
        "patched"
    };
    write_response(
        StatusCode::OK,
        &outcome.version,
        options,
        base,
        message,
        &outcome.warnings,
    )
}

/// Reads and parses the patch document in the format its `Content-Type` names.
async fn read_patch(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<PatchDocument, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json_patch = match media.as_str() {
        JSON_PATCH => true,
        "application/fhir+json" | "application/json+fhir" => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                IssueType::NotSupported,
                format!(
                    "PATCH takes {JSON_PATCH} (JSON Patch) or application/fhir+json (FHIRPath Patch, a Parameters resource), not '{content_type}'"
                ),
            ));
        }
    };
    let body = parse_json(&read_body(state, headers, body).await?)?;
    let document = if json_patch {
        PatchDocument::json_patch(body)
    } else {
        PatchDocument::fhirpath_patch(&body)
    };
    document.map_err(|error| ApiError::from(ServiceError::from(error)))
}
