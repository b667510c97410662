//! `/auth/authorize`: the login form, the consent form, and the redirect with a code.
//!
//! A GET (or a POST of the same parameters, `authorize-post`) is validated and answered with
//! the login form, the OAuth request riding along in hidden inputs. The form posts back with
//! `username` and `password`; a failure shows the form again. When the user has not yet
//! granted all the scopes to this client, a consent form follows (a server-side pending
//! record, referenced by an unguessable handle); its `decision` is `allow` or `deny`. Then a
//! 303 to `redirect_uri` with `code` and `state`, or `error=access_denied` and `state`.
//!
//! Problems with `client_id` or `redirect_uri` are shown to the person, never redirected
//! (RFC 6749 section 4.1.2.1); every other problem is redirected as an OAuth error.

use crate::error::AuthError;
use crate::events::LoginFailure;
use crate::html;
use crate::protocol::Params;
use crate::records::{ClientKind, ClientRecord, UserRecord, load_client, load_user, split_scopes};
use crate::secrets::{digest, random_token, verify_password, verify_password_dummy};
use crate::server::AuthServer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// How long an authorization code lives, in seconds.
pub const CODE_LIFETIME: i64 = 60;
/// How long the consent form stays valid, in seconds.
const CONSENT_LIFETIME: i64 = 600;

/// The OAuth parameters carried through the login form.
const OAUTH_FIELDS: [&str; 10] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "launch",
];

/// A validated authorization request, as kept for the consent step.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: String,
    /// Requested scopes the client is registered for.
    scopes: Vec<String>,
    code_challenge: Option<String>,
    nonce: Option<String>,
}

/// Where a request goes after checking.
enum Checked {
    Valid(AuthorizeRequest, ClientRecord),
    Refused(Response),
}

/// Handles a GET, or a POST without login or consent fields.
pub(crate) fn start(server: &AuthServer, params: &Params) -> Response {
    match check_request(server, params) {
        Checked::Valid(request, _) => html::login_page(
            &action(server),
            &request.client_id,
            &params.subset(&OAUTH_FIELDS),
            None,
            "",
        ),
        Checked::Refused(response) => response,
    }
}

/// Handles the login form's POST.
pub(crate) fn login(server: &AuthServer, params: &Params, peer: Option<SocketAddr>) -> Response {
    let (request, client) = match check_request(server, params) {
        Checked::Valid(request, client) => (request, client),
        Checked::Refused(response) => return response,
    };
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let now = server.now();
    let address = peer.map(|peer| peer.ip());
    let show_again = |message: &str| {
        html::login_page(
            &action(server),
            &request.client_id,
            &params.subset(&OAUTH_FIELDS),
            Some(message),
            username,
        )
    };
    if server.limiter.is_locked(username, address, now) {
        server
            .events
            .login_failed(username, &client.client_id, peer, LoginFailure::LockedOut);
        return show_again("Too many failed sign-in attempts. Try again later.");
    }
    let user = match authenticate(server, username, password) {
        Ok(Ok(user)) => user,
        Ok(Err(reason)) => {
            server.limiter.record_failure(username, address, now);
            server
                .events
                .login_failed(username, &client.client_id, peer, reason);
            return show_again("Wrong user name or password.");
        }
        Err(error) => return internal(error),
    };
    server.limiter.record_success(&user.username);
    server
        .events
        .login_succeeded(&user.username, &client.client_id, peer);
    let mut scopes = request.scopes.clone();
    if user.patient_id().is_none() {
        // No patient to put in context: a patient-context launch cannot be granted.
        scopes.retain(|scope| scope != "launch/patient");
    }
    if scopes.is_empty() {
        return redirect_error(
            &request,
            "invalid_scope",
            "no requested scope can be granted",
        );
    }
    let request = AuthorizeRequest { scopes, ..request };
    match already_granted(server, &user.username, &request) {
        Ok(true) => issue_code(server, &request, &user),
        Ok(false) => ask_consent(server, &request, &user),
        Err(error) => internal(error),
    }
}

/// Handles the consent form's POST.
pub(crate) fn consent(server: &AuthServer, params: &Params) -> Response {
    let Some(handle) = params.get("consent") else {
        return html::error_page(StatusCode::BAD_REQUEST, "The consent form is incomplete.");
    };
    let now = server.now();
    let pending = server.database.write(|transaction| {
        let row: Option<(String, String, i64)> = transaction
            .query_row(
                "DELETE FROM auth_pending WHERE consent_hash = ?1
                 RETURNING username, request, expires_at",
                [digest(handle)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        transaction.execute("DELETE FROM auth_pending WHERE expires_at <= ?1", [now])?;
        Ok(row)
    });
    let (username, request) = match pending {
        Ok(Some((username, request, expires_at))) if expires_at > now => (username, request),
        Ok(_) => {
            return html::error_page(
                StatusCode::BAD_REQUEST,
                "This consent form has expired or was already answered. Start again from the app.",
            );
        }
        Err(error) => return internal(error),
    };
    let Ok(request) = serde_json::from_str::<AuthorizeRequest>(&request) else {
        return internal(AuthError::Invalid("a pending consent is unreadable".into()));
    };
    match params.get("decision") {
        Some("allow") => {}
        Some("deny") => {
            return redirect_error(&request, "access_denied", "the user denied access");
        }
        _ => {
            return html::error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny.");
        }
    }
    let user = match server
        .database
        .with(|connection| load_user(connection, &username))
    {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => return redirect_error(&request, "access_denied", "the account is disabled"),
        Err(error) => return internal(error),
    };
    if let Err(error) = remember_grant(server, &user.username, &request) {
        return internal(error);
    }
    issue_code(server, &request, &user)
}

/// Checks client_id and redirect_uri (answered with a page), then the rest (redirected).
fn check_request(server: &AuthServer, params: &Params) -> Checked {
    if let Some(name) = params.repeated(&OAUTH_FIELDS) {
        return Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            &format!("The parameter {name} is given more than once."),
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Checked::Refused(html::error_page(
            StatusCode::BAD_REQUEST,
            "The request names no client_id.",
        ));
    };
    let client = match server
        .database
        .with(|connection| load_client(connection, client_id))
    {
        Ok(Some(client)) if !client.disabled => client,
        Ok(_) => {
            return Checked::Refused(html::error_page(
                StatusCode::BAD_REQUEST,
                "The application is not registered with this server.",
            ));
        }
        Err(error) => return Checked::Refused(internal(error)),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|known| known == uri) => uri.to_string(),
        _ => {
            return Checked::Refused(html::error_page(
                StatusCode::BAD_REQUEST,
                "The redirect_uri is missing or not registered for this application.",
            ));
        }
    };
    let mut request = AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        state: params.get("state").unwrap_or_default().to_string(),
        scopes: Vec::new(),
        code_challenge: params.get("code_challenge").map(str::to_string),
        nonce: params.get("nonce").map(str::to_string),
    };
    if let Err((code, description)) = check_parameters(server, params, &client, &mut request) {
        return Checked::Refused(redirect_error(&request, code, description));
    }
    Checked::Valid(request, client)
}

fn check_parameters(
    server: &AuthServer,
    params: &Params,
    client: &ClientRecord,
    request: &mut AuthorizeRequest,
) -> Result<(), (&'static str, &'static str)> {
    if params.get("response_type") != Some("code") {
        return Err(("unsupported_response_type", "response_type must be code"));
    }
    if request.state.is_empty() || request.state.len() > 1024 {
        return Err((
            "invalid_request",
            "state is required (at most 1024 characters)",
        ));
    }
    match params.get("aud") {
        Some(aud) if aud.trim_end_matches('/') == server.base_url => {}
        Some(_) => return Err(("invalid_request", "aud is not this FHIR server's base URL")),
        None => return Err(("invalid_request", "aud (the FHIR base URL) is required")),
    }
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !well_formed {
                return Err(("invalid_request", "code_challenge is not an S256 challenge"));
            }
        }
        (Some(_), _) => {
            return Err(("invalid_request", "code_challenge_method must be S256"));
        }
        (None, Some(_)) => return Err(("invalid_request", "code_challenge is missing")),
        (None, None) if client.kind == ClientKind::Public => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge with method S256) is required for public clients",
            ));
        }
        (None, None) => {}
    }
    let requested = split_scopes(params.get("scope").unwrap_or_default());
    if requested.is_empty() {
        return Err(("invalid_scope", "scope is required"));
    }
    request.scopes = requested
        .into_iter()
        .filter(|scope| client.scopes.contains(scope))
        .collect();
    if request.scopes.is_empty() {
        return Err((
            "invalid_scope",
            "none of the requested scopes is registered for this client",
        ));
    }
    Ok(())
}

/// Checks the password; `Ok(Err(..))` is a refused login.
fn authenticate(
    server: &AuthServer,
    username: &str,
    password: &str,
) -> Result<Result<UserRecord, LoginFailure>, AuthError> {
    if username.is_empty() || username.len() > 128 || password.len() > 1024 {
        verify_password_dummy(password);
        return Ok(Err(LoginFailure::BadCredentials));
    }
    let Some(user) = server
        .database
        .with(|connection| load_user(connection, username))?
    else {
        verify_password_dummy(password);
        return Ok(Err(LoginFailure::BadCredentials));
    };
    if !verify_password(password, &user.password_hash) {
        return Ok(Err(LoginFailure::BadCredentials));
    }
    if user.disabled {
        return Ok(Err(LoginFailure::Disabled));
    }
    Ok(Ok(user))
}

fn already_granted(
    server: &AuthServer,
    username: &str,
    request: &AuthorizeRequest,
) -> Result<bool, AuthError> {
    let granted: Option<String> = server.database.with(|connection| {
        Ok(connection
            .query_row(
                "SELECT scopes FROM auth_grant WHERE username = ?1 AND client_id = ?2",
                [username, &request.client_id],
                |row| row.get(0),
            )
            .optional()?)
    })?;
    let granted = split_scopes(granted.as_deref().unwrap_or_default());
    Ok(request.scopes.iter().all(|scope| granted.contains(scope)))
}

fn remember_grant(
    server: &AuthServer,
    username: &str,
    request: &AuthorizeRequest,
) -> Result<(), AuthError> {
    let now = server.now();
    server.database.write(|transaction| {
        let previous: Option<String> = transaction
            .query_row(
                "SELECT scopes FROM auth_grant WHERE username = ?1 AND client_id = ?2",
                [username, &request.client_id],
                |row| row.get(0),
            )
            .optional()?;
        let mut scopes = split_scopes(previous.as_deref().unwrap_or_default());
        for scope in &request.scopes {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        transaction.execute(
            "INSERT INTO auth_grant (username, client_id, scopes, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username, client_id)
             DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
            rusqlite::params![username, request.client_id, scopes.join(" "), now],
        )?;
        Ok(())
    })
}

fn ask_consent(server: &AuthServer, request: &AuthorizeRequest, user: &UserRecord) -> Response {
    let stored = (|| {
        let handle = random_token()?;
        let text = serde_json::to_string(request)
            .map_err(|error| AuthError::Invalid(error.to_string()))?;
        let expires_at = server.now() + CONSENT_LIFETIME;
        server.database.write(|transaction| {
            transaction.execute(
                "DELETE FROM auth_pending WHERE expires_at <= ?1",
                [expires_at - CONSENT_LIFETIME],
            )?;
            transaction.execute(
                "INSERT INTO auth_pending (consent_hash, username, request, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![digest(&handle), user.username, text, expires_at],
            )?;
            Ok(())
        })?;
        Ok::<_, AuthError>(handle)
    })();
    match stored {
        Ok(handle) => html::consent_page(
            &action(server),
            &request.client_id,
            &user.username,
            &handle,
            &request.scopes,
        ),
        Err(error) => internal(error),
    }
}

fn issue_code(server: &AuthServer, request: &AuthorizeRequest, user: &UserRecord) -> Response {
    let now = server.now();
    let launch_patient = request.scopes.iter().any(|scope| scope == "launch/patient");
    let patient = if launch_patient {
        user.patient_id().map(str::to_string)
    } else {
        None
    };
    let issued = server.database.write(|transaction| {
        transaction.execute(
            "DELETE FROM auth_code WHERE expires_at < ?1",
            [now - 86_400],
        )?;
        let family =
            crate::tokens::new_family(transaction, &request.client_id, Some(&user.username), now)?;
        let code = random_token()?;
        transaction.execute(
            "INSERT INTO auth_code
             (code_hash, family, client_id, username, redirect_uri, scopes, code_challenge,
              nonce, patient, fhir_user, expires_at, used)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)",
            rusqlite::params![
                digest(&code),
                family,
                request.client_id,
                user.username,
                request.redirect_uri,
                request.scopes.join(" "),
                request.code_challenge,
                request.nonce,
                patient,
                user.fhir_user(),
                now + CODE_LIFETIME
            ],
        )?;
        Ok(code)
    });
    match issued {
        Ok(code) => redirect(
            &request.redirect_uri,
            &[("code", code.as_str()), ("state", request.state.as_str())],
        ),
        Err(error) => internal(error),
    }
}

fn redirect_error(request: &AuthorizeRequest, code: &str, description: &str) -> Response {
    let mut pairs = vec![("error", code), ("error_description", description)];
    if !request.state.is_empty() {
        pairs.push(("state", request.state.as_str()));
    }
    redirect(&request.redirect_uri, &pairs)
}

/// A 303 to the registered redirect URI with `pairs` added to its query.
fn redirect(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}{query}");
    let Ok(location) = HeaderValue::from_str(&location) else {
        return html::error_page(StatusCode::BAD_REQUEST, "The redirect URI is unusable.");
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn action(server: &AuthServer) -> String {
    format!("{}/auth/authorize", server.base_url)
}

fn internal(error: AuthError) -> Response {
    tracing::error!(%error, "authorize endpoint fault");
    html::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server failed; try again later.",
    )
}
