//! [`AuthServer`]: the authorization server's state, the bearer-token check the FHIR API calls
//! on every request, and the discovery documents.

use crate::clock::{Clock, SystemClock};
use crate::config::AuthConfig;
use crate::db::Database;
use crate::error::{AuthError, TokenError};
use crate::events::{AuthEvents, LogEvents, Subject};
use crate::keys::KeyRing;
use crate::rate_limit::LoginLimiter;
use crate::tokens::{VerifiedToken, decode_access_token, load_access_row};
use crate::verified_cache::VerifiedCache;
use serde_json::{Value, json};
use std::sync::Arc;

/// The SMART capabilities this server offers (SMART App Launch 2.x, section "Capabilities").
pub const CAPABILITIES: [&str; 11] = [
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
];

/// Capabilities past the first eleven (kept in two arrays so each stays readable).
const MORE_CAPABILITIES: [&str; 2] = ["context-standalone-patient", "sso-openid-connect"];

/// The scopes listed in the discovery document (clients may be registered for any scope).
const SCOPES_SUPPORTED: [&str; 16] = [
    "openid",
    "fhirUser",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.read",
    "patient/*.rs",
    "patient/*.cruds",
    "user/*.read",
    "user/*.rs",
    "user/*.cruds",
    "system/*.read",
    "system/*.rs",
    "system/*.cruds",
    "patient/Observation.rs",
    "user/AuditEvent.rs",
];

/// The OAuth endpoint URLs, for the CapabilityStatement's SMART security extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUris {
    /// `{base}/auth/authorize`
    pub authorize: String,
    /// `{base}/auth/token`
    pub token: String,
    /// `{base}/auth/revoke`
    pub revoke: String,
    /// `{base}/auth/introspect`
    pub introspect: String,
    /// `{base}/auth/jwks`
    pub jwks: String,
}

/// The built-in SMART on FHIR authorization server.
pub struct AuthServer {
    pub(crate) base_url: String,
    pub(crate) token_lifetime: i64,
    pub(crate) database: Database,
    pub(crate) keys: KeyRing,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: Arc<dyn AuthEvents>,
    pub(crate) limiter: LoginLimiter,
    verified: VerifiedCache,
}

impl AuthServer {
    /// Opens the auth database and the signing key of `config.data_dir` (creating both on
    /// first start).
    pub fn open(config: &AuthConfig) -> Result<Self, AuthError> {
        let base_url = config.normalized_base_url()?;
        let database = Database::open(&config.data_dir)?;
        let keys = KeyRing::load(&config.data_dir)?;
        Ok(Self {
            base_url,
            token_lifetime: i64::try_from(config.token_lifetime).unwrap_or(3600),
            database,
            keys,
            clock: Arc::new(SystemClock),
            events: Arc::new(LogEvents),
            limiter: LoginLimiter::default(),
            verified: VerifiedCache::default(),
        })
    }

    /// Replaces the clock (tests move time forward with [`crate::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends security events to `events` (the audit trail) instead of the log.
    pub fn with_events(mut self, events: Arc<dyn AuthEvents>) -> Self {
        self.events = events;
        self
    }

    /// The FHIR base URL, without a trailing slash: every token's `iss` and `aud`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Checks a bearer token (the part after `Bearer `): signature with our ES256 key only,
    /// `iss` and `aud` = the base URL, not expired, not revoked, its user and client not
    /// disabled. A revocation made by any process counts at once: the token's row is read again
    /// whenever anything was committed to the auth database since it was last read. The
    /// signature is checked once per distinct token text (see `verified_cache`). Blocking;
    /// cheap enough to call on the request thread.
    pub fn verify(&self, bearer_token: &str) -> Result<VerifiedToken, TokenError> {
        let token = bearer_token.trim();
        let now = self.clock.now();
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let claims = decode_access_token(&self.keys, &self.base_url, token)?;
                self.verified.insert(token, &claims, now);
                claims
            }
        };
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        // Read the version before the row: a commit after this point changes it.
        let data_version = self.database.data_version()?;
        let row = match self.verified.row(&claims.jti, data_version) {
            Some(row) => row,
            None => {
                let row = self
                    .database
                    .with(|connection| load_access_row(connection, &claims.jti))?
                    .ok_or(TokenError::Revoked)?;
                self.verified.insert_row(&claims, data_version, &row, now);
                row
            }
        };
        if row.revoked {
            return Err(TokenError::Revoked);
        }
        let subject = match row.username {
            Some(username) => Subject::User { id: username },
            None => Subject::Client {
                id: claims.client_id.clone(),
            },
        };
        Ok(VerifiedToken {
            subject,
            client_id: claims.client_id,
            scopes: crate::records::split_scopes(&claims.scope),
            patient: claims.patient,
            fhir_user: claims.fhir_user,
            roles: row.roles,
            expires_at: claims.exp,
        })
    }

    /// The endpoint URLs.
    pub fn oauth_uris(&self) -> OAuthUris {
        let base = &self.base_url;
        OAuthUris {
            authorize: format!("{base}/auth/authorize"),
            token: format!("{base}/auth/token"),
            revoke: format!("{base}/auth/revoke"),
            introspect: format!("{base}/auth/introspect"),
            jwks: format!("{base}/auth/jwks"),
        }
    }

    /// The `/.well-known/smart-configuration` document.
    pub fn smart_configuration(&self) -> Value {
        let uris = self.oauth_uris();
        let capabilities: Vec<&str> = CAPABILITIES
            .iter()
            .chain(MORE_CAPABILITIES.iter())
            .copied()
            .collect();
        json!({
            "issuer": self.base_url,
            "jwks_uri": uris.jwks,
            "authorization_endpoint": uris.authorize,
            "token_endpoint": uris.token,
            "introspection_endpoint": uris.introspect,
            "revocation_endpoint": uris.revoke,
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": SCOPES_SUPPORTED,
            "code_challenge_methods_supported": ["S256"],
            "capabilities": capabilities,
        })
    }

    /// The `/.well-known/openid-configuration` document (for `sso-openid-connect`).
    pub fn openid_configuration(&self) -> Value {
        let uris = self.oauth_uris();
        json!({
            "issuer": self.base_url,
            "jwks_uri": uris.jwks,
            "authorization_endpoint": uris.authorize,
            "token_endpoint": uris.token,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "fhirUser"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "fhirUser", "nonce"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
        })
    }

    /// The CapabilityStatement `rest.security` element: the SMART `oauth-uris` extension and
    /// the SMART-on-FHIR service code.
    pub fn capability_security(&self) -> Value {
        let uris = self.oauth_uris();
        json!({
            "extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": uris.authorize},
                    {"url": "token", "valueUri": uris.token},
                    {"url": "revoke", "valueUri": uris.revoke},
                    {"url": "introspect", "valueUri": uris.introspect},
                ],
            }],
            "service": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }],
            "description": "SMART App Launch 2.x: standalone launch with PKCE S256, \
                            backend services with client_secret_basic or private_key_jwt",
        })
    }

    /// The public keys that verify our tokens (`/auth/jwks`).
    pub fn jwks(&self) -> Value {
        self.keys.public_jwks()
    }

    /// The current time from the server's clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }
}
