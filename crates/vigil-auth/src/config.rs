//! Configuration of the authorization server.

use crate::error::AuthError;
use std::path::PathBuf;

/// The longest access-token lifetime the server accepts, in seconds (one hour, per issue 16).
pub const MAX_TOKEN_LIFETIME: u64 = 3600;

/// What the authorization server needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The public FHIR base URL (`vigil serve --base-url`), e.g. `https://ehr.example.org/fhir`.
    /// It is the `iss` and `aud` of every access token and the `aud` an app must send to
    /// `/auth/authorize`; the OAuth endpoints live under it (`{base_url}/auth/token`, ...).
    pub base_url: String,
    /// Lifetime of access tokens in seconds (`--token-lifetime`), 1 to 3600.
    pub token_lifetime: u64,
    /// The data directory: `auth.sqlite` and the signing key live there.
    pub data_dir: PathBuf,
}

impl AuthConfig {
    /// A configuration with the default token lifetime (3600 s).
    pub fn new(base_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_url: base_url.into(),
            token_lifetime: MAX_TOKEN_LIFETIME,
            data_dir: data_dir.into(),
        }
    }

    /// Checks the values and returns the base URL without a trailing slash.
    pub(crate) fn normalized_base_url(&self) -> Result<String, AuthError> {
        let base = self.base_url.trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
            _ => {
                return Err(AuthError::Config(format!(
                    "the base URL must be an absolute http(s) URL, not {:?}",
                    self.base_url
                )));
            }
        }
        if base.contains(['?', '#', ' ']) {
            return Err(AuthError::Config(format!(
                "the base URL must not hold a query, a fragment or spaces: {:?}",
                self.base_url
            )));
        }
        if self.token_lifetime == 0 || self.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(AuthError::Config(format!(
                "the token lifetime must be between 1 and {MAX_TOKEN_LIFETIME} seconds, not {}",
                self.token_lifetime
            )));
        }
        Ok(base.to_string())
    }
}
