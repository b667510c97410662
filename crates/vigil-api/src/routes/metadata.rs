//! `GET /metadata`: the CapabilityStatement, with an `ETag` (a hash of the statement, stable
//! while the server's configuration is) and `Last-Modified` (the statement's `date`);
//! `If-None-Match` with that ETag answers 304.

use crate::negotiate::response_options;
use crate::request::base_url;
use crate::response::{http_date, json_response};
use crate::{ApiError, AppState};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) async fn capabilities(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = response_options(&super::params(query), &headers)?;
    let statement = state
        .service
        .capability_statement(&base_url(&state, &headers));
    // The tag is computed over the compact form, so `_pretty` does not change it.
    let tag = format!(
        "W/\"{:016x}\"",
        fnv1a(&serde_json::to_vec(&statement).unwrap_or_default())
    );
    let last_modified = statement["date"]
        .as_str()
        .and_then(|date| vigil_service::parse_instant_micros(date))
        .map(http_date);
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == tag || candidate == "*" || Some(candidate) == tag.strip_prefix("W/")
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, &statement, options.pretty)
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    if let Some(value) = last_modified.and_then(|d| HeaderValue::from_str(&d).ok()) {
        out.insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// 64-bit FNV-1a: a fixed hash (unlike `DefaultHasher`, the same in every build), enough to
/// tell two statements apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
