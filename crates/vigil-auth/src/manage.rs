//! `/auth/introspect` (RFC 7662) and `/auth/revoke` (RFC 7009).
//!
//! Introspection is for confidential clients (resource servers, backend services); it answers
//! `{"active": false}` for anything it does not vouch for. Revocation accepts any client for
//! its own tokens, answers 200 whether or not the token was known, and revoking a refresh token
//! revokes every token of its grant.

use crate::client_auth::identify;
use crate::db::revoke_family;
use crate::error::AuthError;
use crate::protocol::{OAuthError, Params, json_no_store};
use crate::secrets::digest;
use crate::server::AuthServer;
use crate::tokens::{AccessClaims, decode_access_token, load_access_row};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Handles an introspection request.
pub(crate) fn introspect(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<SocketAddr>,
) -> Response {
    let result = identify(server, headers, params, peer).and_then(|client| {
        if client.is_public() {
            return Err(OAuthError::invalid_client(
                "introspection is for confidential clients",
            ));
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        Ok(describe(server, token)?)
    });
    match result {
        Ok(body) => json_no_store(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

fn describe(server: &AuthServer, token: &str) -> Result<Value, AuthError> {
    let now = server.now();
    if let Ok(claims) = decode_access_token(&server.keys, &server.base_url, token) {
        return describe_access(server, claims, now);
    }
    let row: Option<(String, String, String, i64, i64, bool)> =
        server.database.with(|connection| {
            Ok(connection
                .query_row(
                    "SELECT r.client_id, r.username, r.scopes, r.issued_at, r.expires_at,
                            r.used OR f.revoked
                     FROM auth_refresh r JOIN auth_family f ON f.family = r.family
                     WHERE r.token_hash = ?1",
                    [digest(token)],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    },
                )
                .optional()?)
        })?;
    Ok(match row {
        Some((client_id, username, scopes, issued_at, expires_at, false)) if expires_at > now => {
            json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": client_id,
                "sub": username,
                "scope": scopes,
                "iat": issued_at,
                "exp": expires_at,
                "iss": server.base_url,
            })
        }
        _ => json!({ "active": false }),
    })
}

fn describe_access(
    server: &AuthServer,
    claims: AccessClaims,
    now: i64,
) -> Result<Value, AuthError> {
    if claims.exp <= now {
        return Ok(json!({ "active": false }));
    }
    let row = server
        .database
        .with(|connection| load_access_row(connection, &claims.jti))?;
    if row.as_ref().is_none_or(|row| row.revoked) {
        return Ok(json!({ "active": false }));
    }
    let mut body = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "iss": claims.iss,
        "aud": claims.aud,
        "iat": claims.iat,
        "exp": claims.exp,
        "jti": claims.jti,
    });
    if let Some(patient) = claims.patient {
        body["patient"] = json!(patient);
    }
    if let Some(fhir_user) = claims.fhir_user {
        body["fhirUser"] = json!(fhir_user);
    }
    Ok(body)
}

/// Handles a revocation request.
pub(crate) fn revoke(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<SocketAddr>,
) -> Response {
    let result = identify(server, headers, params, peer).and_then(|client| {
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        if let Some(hint) = params.get("token_type_hint")
            && hint != "access_token"
            && hint != "refresh_token"
        {
            return Err(OAuthError::unsupported_token_type(
                "token_type_hint must be access_token or refresh_token",
            ));
        }
        revoke_token(server, &client.record.client_id, token)?;
        Ok(())
    });
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

fn revoke_token(server: &AuthServer, client_id: &str, token: &str) -> Result<(), AuthError> {
    // An expired access token needs no revoking, but decoding ignores exp anyway.
    if let Ok(claims) = decode_access_token(&server.keys, &server.base_url, token) {
        if claims.client_id == client_id {
            server.database.write(|transaction| {
                transaction.execute(
                    "UPDATE auth_access SET revoked = 1 WHERE jti = ?1",
                    [&claims.jti],
                )?;
                Ok(())
            })?;
        }
        return Ok(());
    }
    server.database.write(|transaction| {
        let family: Option<String> = transaction
            .query_row(
                "SELECT family FROM auth_refresh WHERE token_hash = ?1 AND client_id = ?2",
                [digest(token), client_id.to_string()],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(family) = family {
            revoke_family(transaction, &family)?;
        }
        Ok(())
    })
}
