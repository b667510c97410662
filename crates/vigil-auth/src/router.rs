//! The axum routes, relative to the FHIR base. Each handler reads the request, then does its
//! work (argon2, SQLite) on a blocking thread.

use crate::protocol::{MAX_BODY, OAuthError, Params, is_form, peer};
use crate::server::AuthServer;
use crate::{authorize, manage, token};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

impl AuthServer {
    /// The authorization server's routes, to merge at the FHIR base:
    /// `/.well-known/smart-configuration`, `/.well-known/openid-configuration`,
    /// `/auth/authorize` (GET, POST), `/auth/token`, `/auth/introspect`, `/auth/revoke`,
    /// `/auth/jwks`. None of them needs a bearer token. Start the server with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so failed logins are also limited
    /// per client address.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/smart-configuration", get(smart_configuration))
            .route(
                "/.well-known/openid-configuration",
                get(openid_configuration),
            )
            .route("/auth/authorize", get(authorize_get).post(authorize_post))
            .route("/auth/token", post(token_endpoint))
            .route("/auth/introspect", post(introspect_endpoint))
            .route("/auth/revoke", post(revoke_endpoint))
            .route("/auth/jwks", get(jwks))
            .with_state(self)
    }
}

fn discovery(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn smart_configuration(State(server): State<Arc<AuthServer>>) -> Response {
    discovery(server.smart_configuration())
}

async fn openid_configuration(State(server): State<Arc<AuthServer>>) -> Response {
    discovery(server.openid_configuration())
}

async fn jwks(State(server): State<Arc<AuthServer>>) -> Response {
    let mut response = discovery(server.jwks());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

/// Reads the body (at most [`MAX_BODY`] bytes).
async fn read(request: Request) -> Result<(Parts, Params), Response> {
    let (parts, body): (Parts, Body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok((parts, Params::parse(&bytes))),
        Err(_) => Err(
            OAuthError::invalid_request("the request body is too large or unreadable")
                .into_response(),
        ),
    }
}

/// Runs `work` on a blocking thread.
async fn blocking(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn authorize_get(State(server): State<Arc<AuthServer>>, request: Request) -> Response {
    let params = Params::parse(request.uri().query().unwrap_or_default().as_bytes());
    blocking(move || authorize::start(&server, &params)).await
}

async fn authorize_post(State(server): State<Arc<AuthServer>>, request: Request) -> Response {
    let (parts, params) = match read(request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    if !is_form(&parts) {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let peer = peer(&parts);
    blocking(move || {
        if params.get("decision").is_some() || params.get("consent").is_some() {
            authorize::consent(&server, &params)
        } else if params.get("username").is_some() || params.get("password").is_some() {
            authorize::login(&server, &params, peer)
        } else {
            authorize::start(&server, &params)
        }
    })
    .await
}

/// A form-posted OAuth endpoint (token, introspect, revoke): the body read and checked to be
/// `application/x-www-form-urlencoded`, then `handle` on a blocking thread with the headers,
/// the parameters and the peer address.
async fn form_endpoint(
    server: Arc<AuthServer>,
    request: Request,
    handle: fn(
        &AuthServer,
        &axum::http::HeaderMap,
        &Params,
        Option<std::net::SocketAddr>,
    ) -> Response,
) -> Response {
    let (parts, params) = match read(request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    if !is_form(&parts) {
        return OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
            .into_response();
    }
    let peer = peer(&parts);
    blocking(move || handle(&server, &parts.headers, &params, peer)).await
}

async fn token_endpoint(State(server): State<Arc<AuthServer>>, request: Request) -> Response {
    form_endpoint(server, request, token::token).await
}

async fn introspect_endpoint(State(server): State<Arc<AuthServer>>, request: Request) -> Response {
    form_endpoint(server, request, manage::introspect).await
}

async fn revoke_endpoint(State(server): State<Arc<AuthServer>>, request: Request) -> Response {
    form_endpoint(server, request, manage::revoke).await
}
