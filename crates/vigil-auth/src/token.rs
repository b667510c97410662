//! `/auth/token`: the authorization_code, refresh_token and client_credentials grants.

use crate::client_auth::{CallingClient, claimed_client_id, identify};
use crate::db::revoke_family;
use crate::error::AuthError;
use crate::events::Subject;
use crate::protocol::{OAuthError, Params, json_no_store};
use crate::records::{load_user, split_scopes};
use crate::secrets::{constant_time_eq, digest, pkce_s256};
use crate::server::AuthServer;
use crate::tokens::{
    OFFLINE_REFRESH_LIFETIME, ONLINE_REFRESH_LIFETIME, TokenGrant, issue_access_token,
    issue_id_token, issue_refresh_token, new_family,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

const TOKEN_FIELDS: [&str; 6] = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
];

/// Handles a token request.
pub(crate) fn token(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
    peer: Option<SocketAddr>,
) -> Response {
    let grant_type = params.get("grant_type");
    let result = identify(server, headers, params, peer).and_then(|client| {
        if let Some(name) = params.repeated(&TOKEN_FIELDS) {
            return Err(OAuthError::invalid_request(format!(
                "{name} is given more than once"
            )));
        }
        match grant_type {
            Some("authorization_code") => authorization_code(server, &client, params),
            Some("refresh_token") => refresh(server, &client, params),
            Some("client_credentials") => client_credentials(server, &client, params),
            Some(_) => Err(OAuthError::unsupported_grant_type(
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )),
            None => Err(OAuthError::invalid_request("grant_type is missing")),
        }
        .map(|(body, subject, scopes)| {
            server.events.token_issued(
                &client.record.client_id,
                &subject,
                &scopes,
                grant_type.unwrap_or_default(),
            );
            body
        })
    });
    match result {
        Ok(body) => json_no_store(StatusCode::OK, &body),
        Err(error) => {
            let client_id = claimed_client_id(headers, params);
            server
                .events
                .token_refused(client_id.as_deref(), grant_type, error.code, peer);
            error.into_response()
        }
    }
}

type Issued = (Value, Subject, Vec<String>);

struct CodeRow {
    family: String,
    client_id: String,
    username: String,
    redirect_uri: String,
    scopes: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    patient: Option<String>,
    fhir_user: Option<String>,
    expires_at: i64,
    used: bool,
}

fn authorization_code(
    server: &AuthServer,
    client: &CallingClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let now = server.now();
    // Claim the code (single use) in its own commit, so a reuse is seen even if the rest fails.
    let row = server.database.write(|transaction| {
        let row = transaction
            .query_row(
                "SELECT family, client_id, username, redirect_uri, scopes, code_challenge, nonce,
                        patient, fhir_user, expires_at, used
                 FROM auth_code WHERE code_hash = ?1",
                [digest(code)],
                |row| {
                    Ok(CodeRow {
                        family: row.get(0)?,
                        client_id: row.get(1)?,
                        username: row.get(2)?,
                        redirect_uri: row.get(3)?,
                        scopes: row.get(4)?,
                        code_challenge: row.get(5)?,
                        nonce: row.get(6)?,
                        patient: row.get(7)?,
                        fhir_user: row.get(8)?,
                        expires_at: row.get(9)?,
                        used: row.get(10)?,
                    })
                },
            )
            .optional()?;
        if let Some(row) = &row {
            if row.used {
                // A second use: the code leaked. Revoke what the first use issued (RFC 9700).
                revoke_family(transaction, &row.family)?;
            } else {
                transaction.execute(
                    "UPDATE auth_code SET used = 1 WHERE code_hash = ?1",
                    [digest(code)],
                )?;
            }
        }
        Ok(row)
    })?;
    let row = row.ok_or_else(|| OAuthError::invalid_grant("unknown authorization code"))?;
    if row.used {
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; its tokens are revoked",
        ));
    }
    if row.client_id != client.record.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if params.get("redirect_uri") != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_pkce(row.code_challenge.as_deref(), params.get("code_verifier"))?;
    let user = server
        .database
        .with(|connection| load_user(connection, &row.username))?;
    if user.as_ref().is_none_or(|user| user.disabled) {
        return Err(OAuthError::invalid_grant("the user's account is disabled"));
    }
    let grant = TokenGrant {
        family: row.family,
        client_id: row.client_id,
        subject: Subject::User {
            id: row.username.clone(),
        },
        scopes: split_scopes(&row.scopes),
        patient: row.patient,
        fhir_user: row.fhir_user,
    };
    let refresh_expiry = refresh_lifetime(&grant.scopes).map(|lifetime| now + lifetime);
    let body = respond(
        server,
        &grant,
        &row.username,
        refresh_expiry,
        row.nonce.as_deref(),
    )?;
    Ok((body, grant.subject, grant.scopes))
}

/// PKCE (RFC 7636): a code issued with a challenge needs the verifier; a verifier without a
/// challenge is refused too (a downgrade, RFC 9700 section 2.1.1).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier given but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
            if well_formed && constant_time_eq(&pkce_s256(verifier), challenge) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

fn refresh_lifetime(scopes: &[String]) -> Option<i64> {
    if scopes.iter().any(|scope| scope == "offline_access") {
        Some(OFFLINE_REFRESH_LIFETIME)
    } else if scopes.iter().any(|scope| scope == "online_access") {
        Some(ONLINE_REFRESH_LIFETIME)
    } else {
        None
    }
}

/// Issues the access token (and refresh and id tokens when due) in one commit.
fn respond(
    server: &AuthServer,
    grant: &TokenGrant,
    username: &str,
    refresh_expiry: Option<i64>,
    nonce: Option<&str>,
) -> Result<Value, AuthError> {
    let now = server.now();
    let (access, refresh) = server.database.write(|transaction| {
        let access = issue_access_token(
            transaction,
            &server.keys.current,
            &server.base_url,
            server.token_lifetime,
            now,
            grant,
        )?;
        let refresh = match refresh_expiry {
            Some(expires_at) => Some(issue_refresh_token(
                transaction,
                grant,
                username,
                now,
                expires_at,
            )?),
            None => None,
        };
        Ok((access, refresh))
    })?;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(server.token_lifetime));
    body.insert("scope".into(), json!(grant.scopes.join(" ")));
    if let Some(patient) = &grant.patient {
        body.insert("patient".into(), json!(patient));
    }
    let wants_identity = grant.scopes.iter().any(|scope| scope == "openid")
        && grant.scopes.iter().any(|scope| scope == "fhirUser");
    if let (true, Some(fhir_user)) = (wants_identity, grant.fhir_user.as_deref()) {
        let id_token = issue_id_token(
            &server.keys.current,
            &server.base_url,
            now,
            username,
            &grant.client_id,
            fhir_user,
            nonce,
        )?;
        body.insert("id_token".into(), json!(id_token));
    }
    if let Some(refresh) = refresh {
        body.insert("refresh_token".into(), json!(refresh));
    }
    Ok(Value::Object(body))
}

struct RefreshRow {
    family: String,
    client_id: String,
    username: String,
    scopes: String,
    patient: Option<String>,
    fhir_user: Option<String>,
    expires_at: i64,
    used: bool,
    family_revoked: bool,
}

fn refresh(
    server: &AuthServer,
    client: &CallingClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let now = server.now();
    let row = server.database.write(|transaction| {
        let row = transaction
            .query_row(
                "SELECT r.family, r.client_id, r.username, r.scopes, r.patient, r.fhir_user,
                        r.expires_at, r.used, f.revoked
                 FROM auth_refresh r JOIN auth_family f ON f.family = r.family
                 WHERE r.token_hash = ?1",
                [digest(token)],
                |row| {
                    Ok(RefreshRow {
                        family: row.get(0)?,
                        client_id: row.get(1)?,
                        username: row.get(2)?,
                        scopes: row.get(3)?,
                        patient: row.get(4)?,
                        fhir_user: row.get(5)?,
                        expires_at: row.get(6)?,
                        used: row.get(7)?,
                        family_revoked: row.get(8)?,
                    })
                },
            )
            .optional()?;
        if let Some(row) = &row
            && row.client_id == client.record.client_id
        {
            if row.used && !row.family_revoked {
                // A rotated-out refresh token came back: someone holds a copy.
                revoke_family(transaction, &row.family)?;
            } else {
                transaction.execute(
                    "UPDATE auth_refresh SET used = 1 WHERE token_hash = ?1",
                    [digest(token)],
                )?;
            }
        }
        Ok(row)
    })?;
    let row = row.ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if row.client_id != client.record.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.used || row.family_revoked {
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used or revoked",
        ));
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let user = server
        .database
        .with(|connection| load_user(connection, &row.username))?;
    if user.as_ref().is_none_or(|user| user.disabled) {
        return Err(OAuthError::invalid_grant("the user's account is disabled"));
    }
    let original = split_scopes(&row.scopes);
    let scopes = match params.get("scope") {
        Some(asked) => {
            let asked = split_scopes(asked);
            if let Some(extra) = asked.iter().find(|scope| !original.contains(scope)) {
                return Err(OAuthError::invalid_scope(format!(
                    "{extra} was not part of the original grant"
                )));
            }
            asked
        }
        None => original,
    };
    let grant = TokenGrant {
        family: row.family,
        client_id: row.client_id,
        subject: Subject::User {
            id: row.username.clone(),
        },
        patient: row
            .patient
            .filter(|_| scopes.iter().any(|s| s == "launch/patient")),
        scopes,
        fhir_user: row.fhir_user,
    };
    // Rotation keeps the original expiry: a stolen chain cannot be extended for ever.
    let body = respond(server, &grant, &row.username, Some(row.expires_at), None)?;
    Ok((body, grant.subject, grant.scopes))
}

fn client_credentials(
    server: &AuthServer,
    client: &CallingClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "client_credentials is for confidential clients only",
        ));
    }
    let asked = split_scopes(
        params
            .get("scope")
            .ok_or_else(|| OAuthError::invalid_scope("scope is required"))?,
    );
    let scopes: Vec<String> = asked
        .into_iter()
        .filter(|scope| client.record.scopes.contains(scope))
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes is registered for this client",
        ));
    }
    let now = server.now();
    let client_id = client.record.client_id.clone();
    let access = server.database.write(|transaction| {
        let family = new_family(transaction, &client_id, None, now)?;
        let grant = TokenGrant {
            family,
            client_id: client_id.clone(),
            subject: Subject::Client {
                id: client_id.clone(),
            },
            scopes: scopes.clone(),
            patient: None,
            fhir_user: None,
        };
        issue_access_token(
            transaction,
            &server.keys.current,
            &server.base_url,
            server.token_lifetime,
            now,
            &grant,
        )
    })?;
    let body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": server.token_lifetime,
        "scope": scopes.join(" "),
    });
    Ok((body, Subject::Client { id: client_id }, scopes))
}
