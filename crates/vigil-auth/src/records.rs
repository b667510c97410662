//! Users and clients as stored, and the checks on the values an administrator gives.

use crate::error::AuthError;
use rusqlite::{Connection, OptionalExtension};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// No secret: PKCE S256 is required (`client-public`).
    Public,
    /// A shared secret sent with HTTP Basic (`client_secret_basic`).
    Secret,
    /// A JWT assertion signed with a key from its registered JWKS (`private_key_jwt`).
    Jwks,
}

impl ClientKind {
    /// The stored name: `public`, `secret` or `jwks`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Secret => "secret",
            ClientKind::Jwks => "jwks",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(ClientKind::Public),
            "secret" => Some(ClientKind::Secret),
            "jwks" => Some(ClientKind::Jwks),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub(crate) struct ClientRecord {
    pub(crate) client_id: String,
    pub(crate) kind: ClientKind,
    pub(crate) secret_hash: Option<String>,
    pub(crate) jwks: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) disabled: bool,
}

/// A registered user.
#[derive(Debug, Clone)]
pub(crate) struct UserRecord {
    pub(crate) username: String,
    pub(crate) password_hash: String,
    pub(crate) patient: Option<String>,
    pub(crate) practitioner: Option<String>,
    pub(crate) disabled: bool,
}

impl UserRecord {
    /// The user's FHIR identity: their Patient or Practitioner reference.
    pub(crate) fn fhir_user(&self) -> Option<&str> {
        self.patient.as_deref().or(self.practitioner.as_deref())
    }

    /// The id of the user's Patient (without `Patient/`).
    pub(crate) fn patient_id(&self) -> Option<&str> {
        self.patient
            .as_deref()
            .and_then(|reference| reference.strip_prefix("Patient/"))
    }
}

pub(crate) fn load_client(
    connection: &Connection,
    client_id: &str,
) -> Result<Option<ClientRecord>, AuthError> {
    let row = connection
        .prepare_cached(
            "SELECT client_id, kind, secret_hash, jwks, redirect_uris, scopes, disabled
             FROM auth_client WHERE client_id = ?1",
        )?
        .query_row([client_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, bool>(6)?,
            ))
        })
        .optional()?;
    let Some((client_id, kind, secret_hash, jwks, redirect_uris, scopes, disabled)) = row else {
        return Ok(None);
    };
    let kind = ClientKind::parse(&kind)
        .ok_or_else(|| AuthError::Invalid(format!("client {client_id} has kind {kind:?}")))?;
    let redirect_uris: Vec<String> = serde_json::from_str(&redirect_uris)
        .map_err(|error| AuthError::Invalid(format!("client {client_id}: {error}")))?;
    Ok(Some(ClientRecord {
        client_id,
        kind,
        secret_hash,
        jwks,
        redirect_uris,
        scopes: split_scopes(&scopes),
        disabled,
    }))
}

pub(crate) fn load_user(
    connection: &Connection,
    username: &str,
) -> Result<Option<UserRecord>, AuthError> {
    connection
        .prepare_cached(
            "SELECT username, password_hash, patient, practitioner, disabled
             FROM auth_user WHERE username = ?1",
        )?
        .query_row([username], |row| {
            Ok(UserRecord {
                username: row.get(0)?,
                password_hash: row.get(1)?,
                patient: row.get(2)?,
                practitioner: row.get(3)?,
                disabled: row.get(4)?,
            })
        })
        .optional()
        .map_err(AuthError::from)
}

/// Splits a space-separated list, dropping empty items and duplicates (order kept).
pub(crate) fn split_scopes(text: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text
        .split([' ', '\t', '\n'])
        .filter(|scope| !scope.is_empty())
    {
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_string());
        }
    }
    scopes
}

/// Client ids and user names: 1 to 128 of `A-Z a-z 0-9 . _ ~ - @`.
pub(crate) fn check_name(what: &str, value: &str) -> Result<(), AuthError> {
    let valid = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{what} must be 1 to 128 letters, digits or . _ ~ - @"
        )))
    }
}

/// A scope list: at least one scope, each made of RFC 6749 scope-token characters.
pub(crate) fn check_scopes(text: &str) -> Result<Vec<String>, AuthError> {
    let scopes = split_scopes(text);
    if scopes.is_empty() {
        return Err(AuthError::Invalid(
            "--scope must name at least one scope".into(),
        ));
    }
    for scope in &scopes {
        if !scope
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        {
            return Err(AuthError::Invalid(format!(
                "{scope:?} is not a valid scope"
            )));
        }
    }
    Ok(scopes)
}

/// A redirect URI: absolute (`scheme:...`), no fragment, no white space, at most 2000 bytes.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), AuthError> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok || uri.len() > 2000 || uri.contains('#') || uri.chars().any(char::is_whitespace) {
        return Err(AuthError::Invalid(format!(
            "{uri:?} is not an absolute redirect URI without a fragment"
        )));
    }
    Ok(())
}

/// `Patient/ID` or `Practitioner/ID` with a FHIR id (1 to 64 of `A-Z a-z 0-9 - .`).
pub(crate) fn check_reference(expected_type: &str, value: &str) -> Result<(), AuthError> {
    let id = value
        .strip_prefix(expected_type)
        .and_then(|rest| rest.strip_prefix('/'));
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
        {
            Ok(())
        }
        _ => Err(AuthError::Invalid(format!(
            "{value:?} is not a {expected_type}/ID reference"
        ))),
    }
}

/// The roles a user may hold.
pub const ROLES: [&str; 3] = ["clinician", "auditor", "admin"];
