//! vigil-auth: Vigil's built-in SMART on FHIR authorization server (SMART App Launch 2.x).
//!
//! - [`AuthServer`] owns the state: the auth database (`DATA_DIR/auth.sqlite`), the ES256
//!   signing key (`DATA_DIR/auth-signing-key.p8`), the clock, the failed-login limiter and the
//!   [`AuthEvents`] sink.
//! - [`AuthServer::router`] serves, under the FHIR base URL,
//!   `/.well-known/smart-configuration`, `/auth/authorize` (login and consent pages),
//!   `/auth/token` (authorization_code with PKCE, refresh_token with rotation,
//!   client_credentials with client_secret_basic or private_key_jwt), `/auth/introspect`,
//!   `/auth/revoke` and `/auth/jwks`.
//! - [`AuthServer::verify`] checks a bearer token for the FHIR API and returns a
//!   [`VerifiedToken`] (subject, client, scopes, patient, fhirUser, roles).
//! - [`Admin`] adds, lists, disables and rotates users and clients (the `vigil user` and
//!   `vigil client` commands).
//!
//! Invariants: this crate decides who is calling and what they were granted, never what a scope
//! allows (that is the policy in the door); it knows nothing of FHIR storage; it never logs a
//! password, secret, code or token.

mod admin;
mod assertion;
mod authorize;
mod client_auth;
mod clock;
mod config;
mod db;
mod error;
mod events;
mod html;
mod keys;
mod manage;
mod protocol;
mod rate_limit;
mod records;
mod router;
mod secrets;
mod server;
mod token;
mod tokens;
mod verified_cache;

pub use admin::{
    Admin, ClientCredential, ClientSummary, MIN_PASSWORD_LENGTH, NewClient, NewUser, UserSummary,
};
pub use authorize::CODE_LIFETIME;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthConfig, MAX_TOKEN_LIFETIME};
pub use db::DATABASE_FILE;
pub use error::{AuthError, TokenError};
pub use events::{AuthEvents, LogEvents, LoginFailure, Subject};
pub use html::escape as escape_html;
pub use keys::{PREVIOUS_SIGNING_KEY_FILE, SIGNING_KEY_FILE};
pub use rate_limit::{ADDRESS_THRESHOLD, BASE_LOCKOUT, MAX_LOCKOUT, USER_THRESHOLD};
pub use records::{ClientKind, ROLES};
pub use server::{AuthServer, CAPABILITIES, OAuthUris};
pub use tokens::{OFFLINE_REFRESH_LIFETIME, ONLINE_REFRESH_LIFETIME, VerifiedToken, bearer_token};
