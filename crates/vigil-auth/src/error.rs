//! Errors: [`AuthError`] for set-up and administration, [`TokenError`] for a bearer token the
//! server refuses. OAuth protocol errors (RFC 6749 JSON) are built in `endpoints::oauth_error`.

/// Set-up, storage and administration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The configuration is unusable (base URL, token lifetime).
    #[error("auth configuration: {0}")]
    Config(String),
    /// A value given by the administrator is not acceptable (id, scope, URI, password, JWKS).
    #[error("{0}")]
    Invalid(String),
    /// The named user or client does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named user or client already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The auth database failed.
    #[error("auth database: {0}")]
    Database(#[from] rusqlite::Error),
    /// Reading or writing a file in the data directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A key could not be generated, read or used.
    #[error("signing key: {0}")]
    Key(String),
}

/// Why a bearer token was refused by [`crate::AuthServer::verify`]. Every kind answers 401 with
/// a `WWW-Authenticate` header ([`TokenError::www_authenticate`]), except [`TokenError::Internal`]
/// (500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed JWT of ours (bad encoding, missing claims, unknown key id, too long).
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another algorithm than ours (`none`, HS256, RS256, ...).
    #[error("the token's signing algorithm is not accepted")]
    WrongAlgorithm,
    /// The signature does not verify (another key, or a modified header or payload).
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// `aud` is not this server's base URL.
    #[error("the token is for another audience")]
    WrongAudience,
    /// `iss` is not this server's base URL.
    #[error("the token was issued by another server")]
    WrongIssuer,
    /// Revoked (by /auth/revoke, a reused code or refresh token, or a disabled user or client),
    /// or unknown to this server's database.
    #[error("the token has been revoked")]
    Revoked,
    /// The auth database could not be read; the request should fail with 500.
    #[error("the token could not be checked: {0}")]
    Internal(String),
}

impl TokenError {
    /// The value of the `WWW-Authenticate` header for a 401 (RFC 6750 section 3).
    pub fn www_authenticate(&self) -> String {
        format!("Bearer realm=\"vigil\", error=\"invalid_token\", error_description=\"{self}\"")
    }

    /// Whether the fault is the server's (500) rather than the token's (401).
    pub fn is_internal(&self) -> bool {
        matches!(self, TokenError::Internal(_))
    }
}

impl From<AuthError> for TokenError {
    fn from(error: AuthError) -> Self {
        TokenError::Internal(error.to_string())
    }
}
