//! Reading a request: query parameters, base URL, the request context (an extractor, built
//! once per request), body (with its size limit), `If-Match`.

use crate::{ApiError, AppState, Identity};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;
use std::net::SocketAddr;
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
    base_url_of(&state.config, headers)
}

/// [`base_url`] from the settings alone.
pub(crate) fn base_url_of(config: &crate::ApiConfig, headers: &HeaderMap) -> String {
    if let Some(base) = &config.base_url {
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

/// The request context of a REST call, as an extractor: who (the [`Identity`] the
/// authentication middleware verified, or the development principal when authentication is
/// off), why (`X-Purpose-Of-Use`, and `X-Break-Glass-Reason` for an emergency access), from where (the TCP peer from axum's
/// `ConnectInfo`, never a forwarded header; absent when the router is driven in-process), a
/// request id (`X-Request-Id` when sent, up to 128 characters, else a new one) and the base
/// URL. Built once per request; handlers take it as an argument.
pub(crate) struct Context(pub(crate) RequestContext);

impl FromRequestParts<AppState> for Context {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let identity = parts.extensions.get::<Identity>();
        let mut context = match (identity, &state.config.authenticator) {
            (Some(identity), _) => from_identity(identity, &base_url(state, headers)),
            (None, None) => RequestContext::new(Principal::Developer, &base_url(state, headers)),
            // The middleware runs before every route that builds a context; reaching here
            // without an identity is a routing mistake, never an open door.
            (None, Some(_)) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    IssueType::Login,
                    "this request needs an access token (Authorization: Bearer)",
                ));
            }
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        fill_context(&mut context, headers, peer);
        Ok(Context(context))
    }
}

/// The parts of a context every request carries: why (`X-Purpose-Of-Use`,
/// `X-Break-Glass-Reason`), the request id (`X-Request-Id` when sent, up to 128 characters)
/// and the TCP peer.
pub(crate) fn fill_context(
    context: &mut RequestContext,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) {
    context.purpose_of_use = short_header(headers, "x-purpose-of-use");
    context.break_glass_reason = short_header(headers, "x-break-glass-reason");
    context.remote_addr = peer;
    if let Some(id) = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
    {
        context.request_id = id.to_owned();
    }
}

/// The request context of a verified identity. A user whose FHIR resource is a Patient is
/// always confined to that patient, whatever the launch asked for.
pub(crate) fn from_identity(identity: &Identity, base_url: &str) -> RequestContext {
    let mut context = RequestContext::new(identity.principal.clone(), base_url);
    context.client_id = identity.client_id.clone();
    context.scopes = identity.scopes.clone();
    context.roles = identity.roles.clone();
    context.fhir_user = identity.fhir_user.clone();
    let own_patient = identity
        .fhir_user
        .as_deref()
        .and_then(|user| user.strip_prefix("Patient/"))
        .map(str::to_owned);
    context.patient = own_patient.or_else(|| identity.patient.clone());
    context
}

/// A header's value when it is short printable text (up to 256 characters).
fn short_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .map(str::to_owned)
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
        if error.is_too_deep() {
            // A size limit (docs/security.md, Limits), not a syntax error.
            return ApiError::too_costly(StatusCode::PAYLOAD_TOO_LARGE, error.to_string(), "body");
        }
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

pub(crate) use vigil_service::bundle::parse_etag;
