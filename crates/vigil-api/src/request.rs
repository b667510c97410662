//! Reading a request: query parameters, base URL, context, body (with its size limit),
//! `If-Match`.

use crate::{ApiError, AppState};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;
use vigil_model::IssueType;
use vigil_service::{Principal, RequestContext};

/// Query parameters in order, percent-decoded.
pub(crate) fn query_params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The first value of a parameter.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The base URL for links: the configured one, or `http://{Host}`.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.config.base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The request context of a REST call. Until the security issue lands, every caller is the
/// development principal.
pub(crate) fn context(state: &AppState, headers: &HeaderMap) -> RequestContext {
    RequestContext {
        principal: Principal::Developer,
        scopes: Vec::new(),
        remote_addr: None,
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 128)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        base_url: base_url(state, headers),
    }
}

/// Reads the body up to the configured limit (413 beyond it).
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if std::error::Error::source(&error)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || error.to_string().contains("length limit")
        {
            too_large(limit)
        } else {
            ApiError::bad_request(format!("could not read the request body: {error}"), "body")
        }
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        IssueType::TooLong,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// Parses a JSON body (syntax only; the service validates the resource).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request has no body; a FHIR resource was expected",
            "body",
        ));
    }
    vigil_model::json::parse(body).map_err(|error| {
        ApiError::bad_request(format!("the body is not valid JSON: {error}"), "body")
    })
}

/// `If-Match: W/"3"` (also `"3"` and `3`) as a version number.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    parse_etag(text).map(Some).ok_or_else(|| {
        ApiError::bad_request(
            format!("If-Match must be a version ETag such as W/\"3\", not '{text}'"),
            "If-Match",
        )
    })
}

/// `W/"3"`, `"3"` or `3` as a version number.
pub(crate) fn parse_etag(text: &str) -> Option<u64> {
    let text = text.strip_prefix("W/").unwrap_or(text);
    text.trim_matches('"').parse().ok()
}
