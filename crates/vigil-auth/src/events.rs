//! The events the server reports, for the audit trail. The lead's code implements
//! [`AuthEvents`]; the server calls it after the fact and never passes a password, token, code
//! or secret.

use std::net::SocketAddr;

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A person who logged in at `/auth/authorize` (`id` is the user name).
    User {
        /// The user name.
        id: String,
    },
    /// A backend service (client_credentials grant); `id` is its client_id.
    Client {
        /// The client_id.
        id: String,
    },
}

impl Subject {
    /// The user name or client_id.
    pub fn id(&self) -> &str {
        match self {
            Subject::User { id } | Subject::Client { id } => id,
        }
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Unknown user name or wrong password (not told apart, on purpose).
    BadCredentials,
    /// The account is disabled.
    Disabled,
    /// Too many recent failures for this user or this address.
    LockedOut,
}

/// Receives the server's security events. Every method has an empty default.
pub trait AuthEvents: Send + Sync {
    /// A user logged in at `/auth/authorize`.
    fn login_succeeded(&self, _username: &str, _client_id: &str, _peer: Option<SocketAddr>) {}

    /// A login was refused. `username` is what was typed (it may not exist).
    fn login_failed(
        &self,
        _username: &str,
        _client_id: &str,
        _peer: Option<SocketAddr>,
        _reason: LoginFailure,
    ) {
    }

    /// An access token was issued (`grant_type` is `authorization_code`, `refresh_token` or
    /// `client_credentials`).
    fn token_issued(
        &self,
        _client_id: &str,
        _subject: &Subject,
        _scopes: &[String],
        _grant_type: &str,
    ) {
    }

    /// A token request was refused with the OAuth `error` code.
    fn token_refused(
        &self,
        _client_id: Option<&str>,
        _grant_type: Option<&str>,
        _error: &str,
        _peer: Option<SocketAddr>,
    ) {
    }
}

/// Events that go nowhere but the log (counts and names, never secrets).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogEvents;

impl AuthEvents for LogEvents {
    fn login_failed(
        &self,
        _username: &str,
        client_id: &str,
        peer: Option<SocketAddr>,
        reason: LoginFailure,
    ) {
        tracing::info!(client_id, ?peer, ?reason, "login refused");
    }

    fn token_refused(
        &self,
        client_id: Option<&str>,
        grant_type: Option<&str>,
        error: &str,
        peer: Option<SocketAddr>,
    ) {
        tracing::info!(
            ?client_id,
            ?grant_type,
            error,
            ?peer,
            "token request refused"
        );
    }
}
