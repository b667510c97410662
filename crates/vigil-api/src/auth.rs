//! Authentication of REST calls: a middleware in front of every FHIR route asks the configured
//! [`Authenticator`] about the bearer token and keeps the [`Identity`] it answers in the
//! request; the request context is built from it ([`crate::request`]). Without an
//! authenticator (development mode, `--dev`) every caller is the development principal.
//!
//! Answers: no token or a token the authenticator refuses (forged, expired, wrong audience,
//! revoked, `alg: none`) is 401 with an OperationOutcome (`login`) and a `WWW-Authenticate:
//! Bearer` challenge (RFC 6750: `error="invalid_token"` when a token was sent). `/metadata`
//! needs no token (clients discover the authorization server there). Neither the token nor
//! why it was refused is logged.

use crate::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use vigil_model::IssueType;
use vigil_service::Principal;

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user or the client (backend service).
    pub principal: Principal,
    /// The client application the token was issued to.
    pub client_id: Option<String>,
    /// The patient in context (a Patient id), from a patient launch.
    pub patient: Option<String>,
    /// The user's FHIR resource (`Patient/123`, `Practitioner/7`), when known.
    pub fhir_user: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The user's roles (`clinician`, `auditor`, `admin`).
    pub roles: Vec<String>,
}

/// Why a token was refused (for the audit trail; never sent to the client beyond the
/// challenge, never logged with the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A short reason (`expired`, `bad signature`, `wrong audience`, ...).
    pub reason: String,
}

/// Verifies bearer tokens (the authorization server's verifier, in the binary).
pub trait Authenticator: Send + Sync {
    /// The identity behind `token`, or why it is refused.
    fn authenticate(&self, token: &str) -> Result<Identity, Refusal>;

    /// Told of every refused request (no token, bad token), for the audit trail. The
    /// default does nothing.
    fn refused(&self, _peer: Option<SocketAddr>, _path: &str, _reason: &str) {}
}

/// Paths answered without a token.
fn is_public(path: &str) -> bool {
    path == "/metadata"
}

/// The middleware: 401 unless the request carries a token the authenticator accepts.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(authenticator) = state.config.authenticator.clone() else {
        return next.run(request).await;
    };
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        authenticator.refused(peer, request.uri().path(), "no bearer token");
        return unauthorized(&state, None);
    };
    let verdict = tokio::task::spawn_blocking(move || authenticator.authenticate(&token)).await;
    match verdict {
        Ok(Ok(identity)) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Ok(Err(refusal)) => {
            if let Some(authenticator) = &state.config.authenticator {
                authenticator.refused(peer, request.uri().path(), &refusal.reason);
            }
            unauthorized(&state, Some("invalid_token"))
        }
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            "internal error while checking the access token",
        )
        .into_response(),
    }
}

/// 401 with an OperationOutcome and the Bearer challenge.
fn unauthorized(state: &AppState, error: Option<&str>) -> Response {
    let message = match error {
        Some(_) => "the access token is invalid, expired or revoked",
        None => "this request needs an access token (Authorization: Bearer)",
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, IssueType::Login, message).into_response();
    let realm = state.config.base_url.as_deref().unwrap_or("vigil");
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"{realm}\", error=\"{error}\""),
        None => format!("Bearer realm=\"{realm}\""),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
