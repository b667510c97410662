//! Shared pieces of the HTTP endpoints: form parsing (repeated parameters refused, RFC 6749
//! section 3.1), RFC 6749 JSON errors, `no-store` JSON answers, and the peer address.

use crate::error::AuthError;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The largest request body the endpoints read.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Parsed `application/x-www-form-urlencoded` parameters (or a query string).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 section 3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// The first name among `names` given more than once.
    pub(crate) fn repeated(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find(|name| self.0.iter().filter(|(key, _)| key == *name).count() > 1)
            .map(|name| (*name).to_string())
    }

    /// The given values among `names`, in that order, for hidden inputs.
    pub(crate) fn subset(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .filter_map(|name| {
                self.get(name)
                    .map(|value| ((*name).to_string(), value.to_string()))
            })
            .collect()
    }
}

/// An OAuth error answered as JSON (RFC 6749 section 5.2).
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    pub(crate) fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub(crate) fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    pub(crate) fn unsupported_token_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            description,
        )
    }
}

impl From<AuthError> for OAuthError {
    fn from(error: AuthError) -> Self {
        tracing::error!(%error, "auth server fault");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the authorization server failed; see its log",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = json_no_store(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"vigil\""),
            );
        }
        response
    }
}

/// A JSON answer that no cache may keep (token responses, RFC 6749 section 5.1).
pub(crate) fn json_no_store(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The peer's address, when the server was started with connect info.
pub(crate) fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// Whether the request body is a form (the token, introspection and revocation endpoints
/// accept nothing else).
pub(crate) fn is_form(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
