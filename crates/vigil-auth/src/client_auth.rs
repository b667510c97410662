//! Who is calling the token, introspection and revocation endpoints: a confidential client
//! with HTTP Basic (`client_secret_basic`) or a JWT assertion (`private_key_jwt`), or a public
//! client naming itself with `client_id`. A confidential client must authenticate; a failure
//! is `invalid_client` with 401.

use crate::assertion::{JWT_BEARER, unverified_issuer, verify_assertion};
use crate::protocol::{OAuthError, Params};
use crate::records::{ClientKind, ClientRecord, load_client};
use crate::secrets::{verify_password, verify_password_dummy};
use crate::server::AuthServer;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::SocketAddr;

/// A client that identified itself (and authenticated, unless public).
pub(crate) struct CallingClient {
    pub(crate) record: ClientRecord,
}

impl CallingClient {
    pub(crate) fn is_public(&self) -> bool {
        self.record.kind == ClientKind::Public
    }
}

/// Identifies and authenticates the client of a token-endpoint style request.
pub(crate) fn identify(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<SocketAddr>,
) -> Result<CallingClient, OAuthError> {
    if let Some(name) = params.repeated(&[
        "client_id",
        "client_assertion",
        "client_assertion_type",
        "client_secret",
    ]) {
        return Err(OAuthError::invalid_request(format!(
            "{name} is given more than once"
        )));
    }
    if params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_client(
            "client_secret_post is not supported: send the secret with HTTP Basic",
        ));
    }
    let basic = basic_credentials(headers)?;
    let assertion_type = params.get("client_assertion_type");
    match (basic, assertion_type) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        )),
        (Some((client_id, secret)), None) => {
            if params.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            by_secret(server, &client_id, &secret, peer)
        }
        (None, Some(kind)) => {
            if kind != JWT_BEARER {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
            let assertion = params
                .get("client_assertion")
                .ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
            by_assertion(server, params.get("client_id"), assertion)
        }
        (None, None) => {
            let client_id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("the client did not identify itself"))?;
            let record = load_enabled(server, client_id)?;
            if record.kind != ClientKind::Public {
                return Err(OAuthError::invalid_client(
                    "this client must authenticate (client_secret_basic or private_key_jwt)",
                ));
            }
            Ok(CallingClient { record })
        }
    }
}

/// The client id a request claims (Basic user, `client_id`, or an assertion's `iss`), for
/// reporting a refusal; not authenticated.
pub(crate) fn claimed_client_id(headers: &HeaderMap, params: &Params) -> Option<String> {
    if let Ok(Some((id, _))) = basic_credentials(headers) {
        return Some(id);
    }
    if let Some(id) = params.get("client_id") {
        return Some(id.to_string());
    }
    params.get("client_assertion").and_then(unverified_issuer)
}

/// `Authorization: Basic` with form-encoded id and secret (RFC 6749 section 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| OAuthError::invalid_client("the Authorization header is unreadable"))?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(OAuthError::invalid_client(
            "the Authorization header is unreadable",
        ));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "only HTTP Basic client authentication is accepted in the Authorization header",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| OAuthError::invalid_client("the Basic credentials are not base64"))?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err(OAuthError::invalid_client(
            "the Basic credentials lack a ':'",
        ));
    };
    let unescape = |text: &str| -> String {
        form_urlencoded::parse(format!("v={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

fn load_enabled(server: &AuthServer, client_id: &str) -> Result<ClientRecord, OAuthError> {
    match server
        .database
        .with(|connection| load_client(connection, client_id))?
    {
        Some(record) if !record.disabled => Ok(record),
        _ => Err(OAuthError::invalid_client("unknown or disabled client")),
    }
}

/// Checks a client secret; failures count against the client (and the address) like failed
/// logins, so a weak secret cannot be guessed at speed.
fn by_secret(
    server: &AuthServer,
    client_id: &str,
    secret: &str,
    peer: Option<SocketAddr>,
) -> Result<CallingClient, OAuthError> {
    // User names cannot hold ':', so this key never collides with a user's.
    let limiter_key = format!("client:{client_id}");
    let address = peer.map(|peer| peer.ip());
    let now = server.now();
    if server.limiter.is_locked(&limiter_key, address, now) {
        return Err(OAuthError::invalid_client(
            "too many failed authentication attempts; try again later",
        ));
    }
    let record = match load_enabled(server, client_id) {
        Ok(record) => record,
        Err(error) => {
            // As long as a real check, so the answer's time does not tell which ids exist.
            verify_password_dummy(secret);
            server.limiter.record_failure(&limiter_key, address, now);
            return Err(error);
        }
    };
    let valid = match (record.kind, record.secret_hash.as_deref()) {
        (ClientKind::Secret, Some(hash)) => verify_password(secret, hash),
        _ => {
            verify_password_dummy(secret);
            false
        }
    };
    if !valid {
        server.limiter.record_failure(&limiter_key, address, now);
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    server.limiter.record_success(&limiter_key);
    Ok(CallingClient { record })
}

fn by_assertion(
    server: &AuthServer,
    named: Option<&str>,
    assertion: &str,
) -> Result<CallingClient, OAuthError> {
    let issuer = unverified_issuer(assertion)
        .ok_or_else(|| OAuthError::invalid_client("the client assertion is unreadable"))?;
    if named.is_some_and(|id| id != issuer) {
        return Err(OAuthError::invalid_client(
            "client_id differs from the assertion's issuer",
        ));
    }
    let record = load_enabled(server, &issuer)?;
    let (ClientKind::Jwks, Some(jwks)) = (record.kind, record.jwks.as_deref()) else {
        return Err(OAuthError::invalid_client(
            "this client is not registered for private_key_jwt",
        ));
    };
    let now = server.now();
    let token_endpoint = server.oauth_uris().token;
    let claims = verify_assertion(&record.client_id, jwks, assertion, &token_endpoint, now)
        .map_err(OAuthError::invalid_client)?;
    let jti = claims.jti.unwrap_or_default();
    let fresh = server.database.write(|transaction| {
        transaction.execute("DELETE FROM auth_assertion WHERE expires_at < ?1", [now])?;
        let inserted = transaction.execute(
            "INSERT OR IGNORE INTO auth_assertion (client_id, jti, expires_at)
             VALUES (?1, ?2, ?3)",
            rusqlite::params![record.client_id, jti, claims.exp],
        )?;
        Ok(inserted == 1)
    })?;
    if !fresh {
        return Err(OAuthError::invalid_client(
            "this client assertion was already used (jti replay)",
        ));
    }
    Ok(CallingClient { record })
}
