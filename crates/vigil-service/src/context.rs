//! Who is asking, with which rights, from where: passed to every interaction.

use std::net::SocketAddr;

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Development mode: no authentication (allowed on loopback only).
    Developer,
    /// A local system process (CLI import, migrations, the demo loader).
    System(String),
    /// A user authenticated by the authorization server (future SMART on FHIR issue).
    User {
        /// Stable user id.
        id: String,
    },
}

/// The context of one request through the service door.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who is asking.
    pub principal: Principal,
    /// Granted scopes (SMART style, e.g. `user/*.rs`); empty in development mode.
    pub scopes: Vec<String>,
    /// Peer address for network callers.
    pub remote_addr: Option<SocketAddr>,
    /// Correlation id for logs and audit.
    pub request_id: String,
    /// The base URL resources are addressed under (e.g. `http://127.0.0.1:8080`), no trailing
    /// slash: used for `fullUrl`, `Location` and paging links.
    pub base_url: String,
}

impl RequestContext {
    /// A context for local system work (CLI, demo loader) with the given base URL.
    pub fn system(name: &str, base_url: &str) -> Self {
        RequestContext {
            principal: Principal::System(name.to_owned()),
            scopes: Vec::new(),
            remote_addr: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}
