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

use crate::{ApiConfig, ApiError, AppState};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
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
    /// The token could not be checked (the verifier's storage failed): answered 503, not
    /// 401, so a client does not throw away a good token.
    pub internal: bool,
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
    if state.config.authenticator.is_none() || is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let asked = Asked::of(&request);
    match verify(&state.config, asked).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(refused) => refused,
    }
}

/// Routes served beside the FHIR API (CDS Hooks, the Subscription websocket) behind the same
/// authentication: without an authenticator (development mode) they pass through; with one, a
/// request without a valid token is 401 and an accepted one carries its [`RequestContext`]
/// (who, scopes, patient, peer, request id) in its extensions, so those handlers act with the
/// caller's rights through the door.
pub fn protect(router: Router, config: &ApiConfig) -> Router {
    let config = Arc::new(config.clone());
    router.layer(middleware::from_fn(
        move |mut request: Request, next: Next| {
            let config = config.clone();
            async move {
                if config.authenticator.is_none() {
                    return next.run(request).await;
                }
                let asked = Asked::of(&request);
                let peer = asked.peer;
                match verify(&config, asked).await {
                    Ok(identity) => {
                        let base = crate::request::base_url_of(&config, request.headers());
                        let mut context = crate::request::from_identity(&identity, &base);
                        crate::request::fill_context(&mut context, request.headers(), peer);
                        let tokens = token_contexts(&config, &base, &context);
                        request.extensions_mut().insert(context);
                        request.extensions_mut().insert(tokens);
                        next.run(request).await
                    }
                    Err(refused) => refused,
                }
            }
        },
    ))
}

/// How a handler behind [`protect`] checks another token the request carries (CDS Hooks
/// `fhirAuthorization`): the same authenticator, and the request's peer and request id.
fn token_contexts(
    config: &Arc<ApiConfig>,
    base: &str,
    request: &vigil_service::RequestContext,
) -> vigil_service::TokenContexts {
    let config = config.clone();
    let base = base.to_owned();
    let (peer, request_id) = (request.remote_addr, request.request_id.clone());
    vigil_service::TokenContexts(Arc::new(move |token: &str| {
        let authenticator = config
            .authenticator
            .as_ref()
            .ok_or_else(|| "authentication is off".to_owned())?;
        let identity = authenticator.authenticate(token).map_err(|refusal| {
            if refusal.internal {
                "the token cannot be checked now".to_owned()
            } else {
                authenticator.refused(peer, "fhirAuthorization", &refusal.reason);
                "the token is invalid, expired or revoked".to_owned()
            }
        })?;
        let mut context = crate::request::from_identity(&identity, &base);
        context.remote_addr = peer;
        context.request_id = request_id.clone();
        Ok(context)
    }))
}

/// What authentication reads of a request (owned, so no borrow of the body crosses an await).
struct Asked {
    token: Option<String>,
    path: String,
    peer: Option<SocketAddr>,
}

impl Asked {
    fn of(request: &Request) -> Self {
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
        Asked {
            token,
            path: request.uri().path().to_owned(),
            peer: request
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        }
    }
}

/// The identity behind the request's bearer token, or the 401 to answer.
async fn verify(config: &ApiConfig, asked: Asked) -> Result<Identity, Response> {
    let Some(authenticator) = config.authenticator.clone() else {
        return Err(unauthorized(config, None));
    };
    let Asked { token, path, peer } = asked;
    let Some(token) = token else {
        authenticator.refused(peer, &path, "no bearer token");
        return Err(unauthorized(config, None));
    };
    // Checked in place: a token seen before costs microseconds (the verifier caches its
    // signature check and its row), less than a hop to the blocking pool.
    match authenticator.authenticate(&token) {
        Ok(identity) => Ok(identity),
        Err(refusal) if refusal.internal => {
            tracing::error!(reason = %refusal.reason, "cannot check an access token");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                IssueType::Transient,
                "the access token cannot be checked now; try again",
            )
            .into_response())
        }
        Err(refusal) => {
            authenticator.refused(peer, &path, &refusal.reason);
            Err(unauthorized(config, Some("invalid_token")))
        }
    }
}

/// 401 with an OperationOutcome and the Bearer challenge.
fn unauthorized(config: &ApiConfig, error: Option<&str>) -> Response {
    let message = match error {
        Some(_) => "the access token is invalid, expired or revoked",
        None => "this request needs an access token (Authorization: Bearer)",
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, IssueType::Login, message).into_response();
    let realm = config.base_url.as_deref().unwrap_or("vigil");
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
