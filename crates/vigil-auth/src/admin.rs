//! Administration of users and clients: what `vigil user` and `vigil client` call.
//!
//! Each function opens the auth database of a data directory, changes it in one transaction and
//! returns; a running server reads the change on its next request. Disabling a user or a client,
//! or rotating their password or secret, also revokes every token already issued to them.

use crate::assertion::parse_client_jwks;
use crate::db::{Database, revoke_families_of};
use crate::error::AuthError;
use crate::records::{
    ClientKind, ROLES, check_name, check_redirect_uri, check_reference, check_scopes, split_scopes,
};
use crate::secrets::{hash_password, random_token};
use rusqlite::OptionalExtension;
use std::path::Path;

/// The shortest password or client secret `vigil user`/`vigil client` accept (NIST SP 800-63B's
/// minimum for passwords chosen by a person).
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// How a new client authenticates.
#[derive(Debug, Clone)]
pub enum ClientCredential {
    /// A shared secret (client_secret_basic), stored as an argon2id hash.
    Secret(String),
    /// A public client (PKCE S256 required, no secret).
    Public,
    /// The JSON text of a JWKS with the client's public keys (private_key_jwt, RS384/ES384).
    Jwks(String),
}

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The client_id.
    pub id: String,
    /// How it authenticates.
    pub credential: ClientCredential,
    /// Registered redirect URIs (exact match at /auth/authorize).
    pub redirect_uris: Vec<String>,
    /// The space-separated scopes it may be granted.
    pub scopes: String,
}

/// A client as `vigil client list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    /// The client_id.
    pub id: String,
    /// `public`, `secret` or `jwks`.
    pub kind: ClientKind,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// Whether it has been disabled.
    pub disabled: bool,
}

/// A user to register.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The login name.
    pub username: String,
    /// The password (at least [`MIN_PASSWORD_LENGTH`] characters), stored as an argon2id hash.
    pub password: String,
    /// `Patient/ID` for a patient user.
    pub patient: Option<String>,
    /// `Practitioner/ID` for a practitioner user.
    pub practitioner: Option<String>,
    /// Roles: `clinician`, `auditor`, `admin`.
    pub roles: Vec<String>,
}

/// A user as `vigil user list` shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The login name.
    pub username: String,
    /// `Patient/ID`, if a patient user.
    pub patient: Option<String>,
    /// `Practitioner/ID`, if a practitioner user.
    pub practitioner: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether the account has been disabled.
    pub disabled: bool,
}

/// Administration of the auth database of one data directory.
pub struct Admin {
    database: Database,
}

impl Admin {
    /// Opens (creating if needed) `data_dir/auth.sqlite`.
    pub fn open(data_dir: &Path) -> Result<Self, AuthError> {
        Ok(Self {
            database: Database::open(data_dir)?,
        })
    }

    /// Registers a client.
    pub fn add_client(&self, client: &NewClient) -> Result<(), AuthError> {
        check_name("the client id", &client.id)?;
        let scopes = check_scopes(&client.scopes)?;
        for uri in &client.redirect_uris {
            check_redirect_uri(uri)?;
        }
        let (kind, secret_hash, jwks) = match &client.credential {
            ClientCredential::Public => {
                if client.redirect_uris.is_empty() {
                    return Err(AuthError::Invalid(
                        "a public client needs at least one --redirect-uri".into(),
                    ));
                }
                (ClientKind::Public, None, None)
            }
            ClientCredential::Secret(secret) => {
                check_secret(secret)?;
                (ClientKind::Secret, Some(hash_password(secret)?), None)
            }
            ClientCredential::Jwks(text) => {
                parse_client_jwks(text)?;
                (ClientKind::Jwks, None, Some(text.clone()))
            }
        };
        let redirect_uris = serde_json::to_string(&client.redirect_uris)
            .map_err(|error| AuthError::Invalid(error.to_string()))?;
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        self.database.write(|transaction| {
            let exists: Option<i64> = transaction
                .query_row(
                    "SELECT 1 FROM auth_client WHERE client_id = ?1",
                    [&client.id],
                    |row| row.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(AuthError::AlreadyExists(format!("client {}", client.id)));
            }
            transaction.execute(
                "INSERT INTO auth_client
                 (client_id, kind, secret_hash, jwks, redirect_uris, scopes, disabled, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
                rusqlite::params![
                    client.id,
                    kind.as_str(),
                    secret_hash,
                    jwks,
                    redirect_uris,
                    scopes.join(" "),
                    now
                ],
            )?;
            Ok(())
        })
    }

    /// Every client, by id.
    pub fn list_clients(&self) -> Result<Vec<ClientSummary>, AuthError> {
        let ids: Vec<String> = self.database.with(|connection| {
            let mut statement =
                connection.prepare("SELECT client_id FROM auth_client ORDER BY client_id")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let mut clients = Vec::new();
        for id in ids {
            let record = self
                .database
                .with(|connection| crate::records::load_client(connection, &id))?;
            if let Some(record) = record {
                clients.push(ClientSummary {
                    id: record.client_id,
                    kind: record.kind,
                    redirect_uris: record.redirect_uris,
                    scopes: record.scopes,
                    disabled: record.disabled,
                });
            }
        }
        Ok(clients)
    }

    /// Disables a client and revokes every token issued to it.
    pub fn disable_client(&self, id: &str) -> Result<(), AuthError> {
        self.database.write(|transaction| {
            let changed = transaction.execute(
                "UPDATE auth_client SET disabled = 1 WHERE client_id = ?1",
                [id],
            )?;
            if changed == 0 {
                return Err(AuthError::NotFound(format!("client {id}")));
            }
            revoke_families_of(transaction, "client_id", id)
        })
    }

    /// Gives a client a new credential and revokes every token issued to it. A secret client
    /// gets `new_secret`, or a generated one when `None`; a JWKS client needs
    /// [`ClientCredential::Jwks`]. Returns the generated secret, if one was generated.
    pub fn rotate_client(
        &self,
        id: &str,
        credential: Option<ClientCredential>,
    ) -> Result<Option<String>, AuthError> {
        let record = self
            .database
            .with(|connection| crate::records::load_client(connection, id))?
            .ok_or_else(|| AuthError::NotFound(format!("client {id}")))?;
        let (secret_hash, jwks, generated) = match (record.kind, credential) {
            (ClientKind::Public, _) => {
                return Err(AuthError::Invalid(format!(
                    "client {id} is public: it has no secret to rotate"
                )));
            }
            (ClientKind::Secret, None) => {
                let secret = random_token()?;
                (Some(hash_password(&secret)?), None, Some(secret))
            }
            (ClientKind::Secret, Some(ClientCredential::Secret(secret))) => {
                check_secret(&secret)?;
                (Some(hash_password(&secret)?), None, None)
            }
            (ClientKind::Jwks, Some(ClientCredential::Jwks(text))) => {
                parse_client_jwks(&text)?;
                (None, Some(text), None)
            }
            (ClientKind::Secret, Some(_)) => {
                return Err(AuthError::Invalid(format!(
                    "client {id} uses a secret: rotate it with --secret or a generated one"
                )));
            }
            (ClientKind::Jwks, _) => {
                return Err(AuthError::Invalid(format!(
                    "client {id} uses private_key_jwt: rotate it with --jwks FILE"
                )));
            }
        };
        self.database.write(|transaction| {
            transaction.execute(
                "UPDATE auth_client SET secret_hash = ?2, jwks = ?3 WHERE client_id = ?1",
                rusqlite::params![id, secret_hash, jwks],
            )?;
            revoke_families_of(transaction, "client_id", id)
        })?;
        Ok(generated)
    }

    /// Registers a user.
    pub fn add_user(&self, user: &NewUser) -> Result<(), AuthError> {
        check_name("the user name", &user.username)?;
        check_password(&user.password)?;
        if user.patient.is_some() && user.practitioner.is_some() {
            return Err(AuthError::Invalid(
                "a user is either a patient or a practitioner, not both".into(),
            ));
        }
        if let Some(patient) = &user.patient {
            check_reference("Patient", patient)?;
        }
        if let Some(practitioner) = &user.practitioner {
            check_reference("Practitioner", practitioner)?;
        }
        let mut roles: Vec<String> = Vec::new();
        for role in &user.roles {
            if !ROLES.contains(&role.as_str()) {
                return Err(AuthError::Invalid(format!(
                    "unknown role {role:?}: the roles are {}",
                    ROLES.join(", ")
                )));
            }
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        let hash = hash_password(&user.password)?;
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        self.database.write(|transaction| {
            let exists: Option<i64> = transaction
                .query_row(
                    "SELECT 1 FROM auth_user WHERE username = ?1",
                    [&user.username],
                    |row| row.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(AuthError::AlreadyExists(format!("user {}", user.username)));
            }
            transaction.execute(
                "INSERT INTO auth_user
                 (username, password_hash, patient, practitioner, roles, disabled, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                rusqlite::params![
                    user.username,
                    hash,
                    user.patient,
                    user.practitioner,
                    roles.join(" "),
                    now
                ],
            )?;
            Ok(())
        })
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<UserSummary>, AuthError> {
        self.database.with(|connection| {
            let mut statement = connection.prepare(
                "SELECT username, patient, practitioner, roles, disabled
                 FROM auth_user ORDER BY username",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(UserSummary {
                    username: row.get(0)?,
                    patient: row.get(1)?,
                    practitioner: row.get(2)?,
                    roles: split_scopes(&row.get::<_, String>(3)?),
                    disabled: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Disables a user and revokes every token issued to them.
    pub fn disable_user(&self, username: &str) -> Result<(), AuthError> {
        self.database.write(|transaction| {
            let changed = transaction.execute(
                "UPDATE auth_user SET disabled = 1 WHERE username = ?1",
                [username],
            )?;
            if changed == 0 {
                return Err(AuthError::NotFound(format!("user {username}")));
            }
            revoke_families_of(transaction, "username", username)
        })
    }

    /// Sets a new password (`new_password`, or a generated one when `None`), revokes every
    /// token issued to the user, and returns the generated password if one was generated.
    pub fn rotate_user(
        &self,
        username: &str,
        new_password: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        let (password, generated) = match new_password {
            Some(password) => {
                check_password(password)?;
                (password.to_string(), false)
            }
            None => (random_token()?, true),
        };
        let hash = hash_password(&password)?;
        self.database.write(|transaction| {
            let changed = transaction.execute(
                "UPDATE auth_user SET password_hash = ?2 WHERE username = ?1",
                rusqlite::params![username, hash],
            )?;
            if changed == 0 {
                return Err(AuthError::NotFound(format!("user {username}")));
            }
            revoke_families_of(transaction, "username", username)
        })?;
        Ok(generated.then_some(password))
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH || password.len() > 1024 {
        return Err(AuthError::Invalid(format!(
            "the password must be {MIN_PASSWORD_LENGTH} to 1024 characters long"
        )));
    }
    Ok(())
}

fn check_secret(secret: &str) -> Result<(), AuthError> {
    if secret.chars().count() < MIN_PASSWORD_LENGTH
        || secret.len() > 1024
        || secret.chars().any(char::is_control)
    {
        return Err(AuthError::Invalid(format!(
            "a client secret must be {MIN_PASSWORD_LENGTH} to 1024 printable characters"
        )));
    }
    Ok(())
}
