//! Security headers and CORS for browser apps (SMART apps run in the browser on other
//! origins), around every route the server answers, the authorization server's included.
//!
//! - Every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
//!   `X-Frame-Options: DENY` unless the route set its own, and, over TLS,
//!   `Strict-Transport-Security`.
//! - CORS: any origin may call (access is by bearer token, never by cookie, so
//!   `Access-Control-Allow-Origin: *` grants nothing a token does not); a preflight
//!   (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 here, before
//!   authentication, as browsers send it without credentials.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Accept, If-Match, If-None-Match, \
     If-Modified-Since, If-None-Exist, Prefer, X-Request-Id, X-Purpose-Of-Use, X-Break-Glass-Reason";
const EXPOSED_HEADERS: &str =
    "Location, Content-Location, ETag, Last-Modified, X-Request-Id, WWW-Authenticate";

/// `router` with the security headers and CORS of this module; `https` adds HSTS.
pub fn harden(router: Router, https: bool) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        secure(request, next, https)
    }))
}

async fn secure(request: Request, next: Next, https: bool) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in security_headers(https) {
        // A route may set its own framing policy (the authorization pages do).
        if name == header::X_FRAME_OPTIONS && headers.contains_key(&name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The headers every answer carries (CORS exposure, `nosniff`, `no-referrer`, `DENY` framing,
/// and HSTS over TLS): [`harden`] adds them to the router's answers, and the HTTP edge to the
/// answers it writes itself below the router.
pub fn security_headers(https: bool) -> impl Iterator<Item = (HeaderName, &'static str)> {
    [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ]
    .into_iter()
    .chain(https.then_some((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")))
}
