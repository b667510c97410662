//! Access tokens, id tokens and refresh tokens: what is signed, what is stored, and the check of
//! a bearer token ([`crate::AuthServer::verify`]).
//!
//! An access token is an ES256 JWT with `iss` = `aud` = the FHIR base URL, `sub`, `client_id`,
//! `scope`, `patient`, `fhirUser`, `jti`, `iat` and `exp`. Its `jti` is also a row in
//! `auth_access`, so a token is accepted only while that row exists unrevoked: /auth/revoke,
//! a reused code or refresh token, and disabling a user or client take effect on the next
//! request. Refresh tokens are opaque random strings, stored as SHA-256 hashes, rotated on use.

use crate::error::{AuthError, TokenError};
use crate::events::Subject;
use crate::keys::{KeyRing, SigningKey};
use jsonwebtoken::{Algorithm, Header, Validation};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// Lifetime of a refresh token for `offline_access`, in seconds (90 days, not extended by
/// rotation).
pub const OFFLINE_REFRESH_LIFETIME: i64 = 90 * 24 * 3600;
/// Lifetime of a refresh token for `online_access`, in seconds (12 hours).
pub const ONLINE_REFRESH_LIFETIME: i64 = 12 * 3600;
/// Lifetime of an id token, in seconds.
const ID_TOKEN_LIFETIME: i64 = 3600;
/// Longest bearer token the server reads.
const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) aud: String,
    pub(crate) sub: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) patient: Option<String>,
    #[serde(rename = "fhirUser", default, skip_serializing_if = "Option::is_none")]
    pub(crate) fhir_user: Option<String>,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    #[serde(rename = "fhirUser")]
    fhir_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// A bearer token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The user or backend service the token speaks for.
    pub subject: Subject,
    /// The client (app) the token was issued to.
    pub client_id: String,
    /// The granted scopes, as issued.
    pub scopes: Vec<String>,
    /// The Patient id in context (without `Patient/`), for patient-context launches.
    pub patient: Option<String>,
    /// The user's FHIR identity, e.g. `Practitioner/123` or `Patient/123`.
    pub fhir_user: Option<String>,
    /// The user's roles (`clinician`, `auditor`, `admin`), read at verification time.
    pub roles: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive, as
/// RFC 7235 says); `None` for another scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_from_the_header_value() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic YTpi"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("abc"), None);
    }
}

/// What an access token carries, before signing.
#[derive(Debug, Clone)]
pub(crate) struct TokenGrant {
    pub(crate) family: String,
    pub(crate) client_id: String,
    pub(crate) subject: Subject,
    pub(crate) scopes: Vec<String>,
    pub(crate) patient: Option<String>,
    pub(crate) fhir_user: Option<String>,
}

/// Signs an access token and records its `jti`; returns the JWT and its expiry.
pub(crate) fn issue_access_token(
    transaction: &rusqlite::Transaction<'_>,
    key: &SigningKey,
    base_url: &str,
    lifetime: i64,
    now: i64,
    grant: &TokenGrant,
) -> Result<String, AuthError> {
    let jti = crate::secrets::random_token()?;
    let claims = AccessClaims {
        iss: base_url.to_string(),
        aud: base_url.to_string(),
        sub: grant.subject.id().to_string(),
        client_id: grant.client_id.clone(),
        scope: grant.scopes.join(" "),
        patient: grant.patient.clone(),
        fhir_user: grant.fhir_user.clone(),
        jti: jti.clone(),
        iat: now,
        exp: now + lifetime,
    };
    let token = sign(key, &claims)?;
    let username = match &grant.subject {
        Subject::User { id } => Some(id.as_str()),
        Subject::Client { .. } => None,
    };
    // Rows of tokens expired for a day are no longer needed to refuse them (exp does).
    transaction.execute(
        "DELETE FROM auth_access WHERE expires_at < ?1",
        [now - 86_400],
    )?;
    transaction.execute(
        "INSERT INTO auth_access (jti, family, client_id, username, expires_at, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
        rusqlite::params![jti, grant.family, grant.client_id, username, claims.exp],
    )?;
    Ok(token)
}

/// Signs an OpenID Connect id token for a user with a FHIR identity.
pub(crate) fn issue_id_token(
    key: &SigningKey,
    base_url: &str,
    now: i64,
    username: &str,
    client_id: &str,
    fhir_user: &str,
    nonce: Option<&str>,
) -> Result<String, AuthError> {
    let claims = IdTokenClaims {
        iss: base_url,
        sub: username,
        aud: client_id,
        iat: now,
        exp: now + ID_TOKEN_LIFETIME,
        fhir_user: format!("{base_url}/{fhir_user}"),
        nonce,
    };
    sign(key, &claims)
}

fn sign<T: Serialize>(key: &SigningKey, claims: &T) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|error| AuthError::Key(format!("signing a token: {error}")))
}

/// Checks the signature, algorithm, issuer and audience of one of our JWTs; `exp` is checked by
/// the caller against its clock.
pub(crate) fn decode_access_token(
    keys: &KeyRing,
    base_url: &str,
    token: &str,
) -> Result<AccessClaims, TokenError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LENGTH {
        return Err(TokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
        // `alg: none` and other unknown algorithms fail to parse as a header.
        jsonwebtoken::errors::ErrorKind::Json(_) => TokenError::WrongAlgorithm,
        _ => TokenError::Malformed,
    })?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenError::WrongAlgorithm);
    }
    let key = keys
        .for_kid(header.kid.as_deref())
        .ok_or(TokenError::BadSignature)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[base_url]);
    validation.set_audience(&[base_url]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                _ => TokenError::Malformed,
            }
        })
}

/// The state of an access token's row: revoked, and whether its user or client is disabled.
#[derive(Debug, Clone)]
pub(crate) struct AccessRow {
    pub(crate) revoked: bool,
    pub(crate) username: Option<String>,
    pub(crate) roles: Vec<String>,
}

pub(crate) fn load_access_row(
    connection: &rusqlite::Connection,
    jti: &str,
) -> Result<Option<AccessRow>, AuthError> {
    let row = connection
        .prepare_cached(
            "SELECT a.revoked OR f.revoked OR c.disabled OR COALESCE(u.disabled, 0),
                    a.username, COALESCE(u.roles, '')
             FROM auth_access a
             JOIN auth_family f ON f.family = a.family
             JOIN auth_client c ON c.client_id = a.client_id
             LEFT JOIN auth_user u ON u.username = a.username
             WHERE a.jti = ?1",
        )?
        .query_row([jti], |row| {
            Ok(AccessRow {
                revoked: row.get(0)?,
                username: row.get(1)?,
                roles: crate::records::split_scopes(&row.get::<_, String>(2)?),
            })
        })
        .optional()?;
    Ok(row)
}

/// Issues a refresh token in `family`, expiring at `expires_at`.
pub(crate) fn issue_refresh_token(
    transaction: &rusqlite::Transaction<'_>,
    grant: &TokenGrant,
    username: &str,
    now: i64,
    expires_at: i64,
) -> Result<String, AuthError> {
    let token = crate::secrets::random_token()?;
    // Retired refresh tokens are kept until their grant expires (to detect reuse), then go.
    transaction.execute(
        "DELETE FROM auth_refresh WHERE expires_at < ?1",
        [now - 86_400],
    )?;
    transaction.execute(
        "INSERT INTO auth_refresh
         (token_hash, family, client_id, username, scopes, patient, fhir_user, issued_at,
          expires_at, used)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
        rusqlite::params![
            crate::secrets::digest(&token),
            grant.family,
            grant.client_id,
            username,
            grant.scopes.join(" "),
            grant.patient,
            grant.fhir_user,
            now,
            expires_at
        ],
    )?;
    Ok(token)
}

/// Starts a grant family: every token issued from one authorization (or one client_credentials
/// request) belongs to it, so one reuse or revocation can revoke them all.
pub(crate) fn new_family(
    transaction: &rusqlite::Transaction<'_>,
    client_id: &str,
    username: Option<&str>,
    now: i64,
) -> Result<String, AuthError> {
    let family = crate::secrets::random_token()?;
    transaction.execute(
        "INSERT INTO auth_family (family, client_id, username, revoked, created_at)
         VALUES (?1, ?2, ?3, 0, ?4)",
        rusqlite::params![family, client_id, username, now],
    )?;
    Ok(family)
}
