//! Who is asking, with which rights, from where and why: passed to every interaction.
//!
//! Built once per request (by the API's extractor for HTTP callers, by
//! [`RequestContext::system`] for local tools), read by the [`crate::Authorizer`] and by audit
//! and change records ([`RequestContext::agent`]).

use std::fmt;
use std::net::SocketAddr;

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// Development mode: no authentication (allowed on loopback only).
    Developer,
    /// A local system process (CLI import, migrations, the demo loader, ingest, CDS).
    System(String),
    /// A user authenticated by the authorization server (SMART on FHIR, later).
    User {
        /// Stable user id.
        id: String,
    },
    /// A client application acting on its own behalf (SMART backend services).
    Client {
        /// The client id.
        id: String,
    },
}

impl fmt::Display for Principal {
    /// The agent name for audit and change records: `dev`, `system:import`, `user:alice`,
    /// `client:ward-board`. Never PHI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Developer => f.write_str("dev"),
            Principal::System(name) => write!(f, "system:{name}"),
            Principal::User { id } => write!(f, "user:{id}"),
            Principal::Client { id } => write!(f, "client:{id}"),
        }
    }
}

impl Principal {
    /// The principal an agent name ([`RequestContext::agent`]) stands for: `dev`,
    /// `system:NAME`, `user:ID`, `client:ID`; `None` for anything else. For work recorded
    /// under a request and resumed later (export jobs).
    pub fn from_agent(agent: &str) -> Option<Principal> {
        if agent == "dev" {
            return Some(Principal::Developer);
        }
        let (kind, name) = agent.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        let name = name.to_owned();
        match kind {
            "system" => Some(Principal::System(name)),
            "user" => Some(Principal::User { id: name }),
            "client" => Some(Principal::Client { id: name }),
            _ => None,
        }
    }
}

/// The context of one request through the service door.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who is asking.
    pub principal: Principal,
    /// The client application the request came through (SMART `client_id`), if known.
    pub client_id: Option<String>,
    /// The patient in context (SMART `patient` launch context), if any.
    pub patient: Option<String>,
    /// The user's FHIR resource (`Practitioner/7`, `Patient/123`), when known.
    pub fhir_user: Option<String>,
    /// Granted scopes (SMART style, e.g. `user/*.rs`); empty in development mode.
    pub scopes: Vec<String>,
    /// Roles of the principal (e.g. `nurse`, `admin`); empty in development mode.
    pub roles: Vec<String>,
    /// The real peer address for network callers (the TCP peer, not a header).
    pub remote_addr: Option<SocketAddr>,
    /// Why: the purpose of use (e.g. `TREAT`), if the caller stated one.
    pub purpose_of_use: Option<String>,
    /// Why, in an emergency: the break-the-glass reason the caller gave, if any.
    pub break_glass_reason: Option<String>,
    /// Correlation id for logs and audit.
    pub request_id: String,
    /// The base URL resources are addressed under (e.g. `http://127.0.0.1:8080`), no trailing
    /// slash: used for `fullUrl`, `Location` and paging links.
    pub base_url: String,
    /// Whether reads and searches are audited: true except for the server's own processing
    /// that discloses nothing ([`RequestContext::internal`]).
    pub audit_reads: bool,
}

impl RequestContext {
    /// A context for `principal` with nothing else known yet (no scopes, roles, reason or
    /// peer), a fresh request id and the given base URL.
    pub fn new(principal: Principal, base_url: &str) -> Self {
        RequestContext {
            principal,
            client_id: None,
            patient: None,
            fhir_user: None,
            scopes: Vec::new(),
            roles: Vec::new(),
            remote_addr: None,
            purpose_of_use: None,
            break_glass_reason: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            audit_reads: true,
        }
    }

    /// A system context whose reads are not audited: the server's own processing that
    /// discloses nothing of what it reads (the NEWS2, rules and medication-safety consumers,
    /// ingest's lookups, import, the demo loader); what it writes is audited like any write.
    /// Never for work whose reads leave the server (Subscription notifications, CDS Hooks
    /// answers).
    pub fn internal(name: &str, base_url: &str) -> Self {
        RequestContext {
            audit_reads: false,
            ..RequestContext::system(name, base_url)
        }
    }

    /// A context for local system work (CLI, demo loader) with the given base URL.
    pub fn system(name: &str, base_url: &str) -> Self {
        RequestContext::new(Principal::System(name.to_owned()), base_url)
    }

    /// Whether this is internal processing whose reads are not audited
    /// ([`RequestContext::internal`]).
    pub fn is_internal(&self) -> bool {
        !self.audit_reads
    }

    /// The agent recorded in audit and change-feed records: `dev`, `system:import`,
    /// `user:alice`, `client:ward-board` (no PHI).
    pub fn agent(&self) -> String {
        self.principal.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_the_principal_only() {
        let cases = [
            (Principal::Developer, "dev"),
            (Principal::System("import".into()), "system:import"),
            (Principal::User { id: "alice".into() }, "user:alice"),
            (Principal::Client { id: "board".into() }, "client:board"),
        ];
        for (principal, agent) in cases {
            let mut context = RequestContext::new(principal, "http://x/");
            context.patient = Some("Patient/1".into());
            assert_eq!(context.agent(), agent);
            assert_eq!(
                Principal::from_agent(agent).as_ref(),
                Some(&context.principal)
            );
            assert_eq!(context.base_url, "http://x");
        }
        for bad in ["", "user:", "nurse:x", "developer"] {
            assert_eq!(Principal::from_agent(bad), None, "{bad}");
        }
    }
}

/// Turns another bearer token presented inside a request (CDS Hooks `fhirAuthorization`) into
/// the [`RequestContext`] it stands for, with the same checks as the request's own token. Put
/// in a request's extensions by the authentication layer; absent without authentication.
#[derive(Clone)]
pub struct TokenContexts(
    /// The check: the token's context, or why it is refused (no secret in the text).
    pub std::sync::Arc<TokenCheck>,
);

/// The check behind [`TokenContexts`].
pub type TokenCheck = dyn Fn(&str) -> Result<RequestContext, String> + Send + Sync;

impl TokenContexts {
    /// The context `token` stands for.
    pub fn context(&self, token: &str) -> Result<RequestContext, String> {
        (self.0)(token)
    }
}

impl std::fmt::Debug for TokenContexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenContexts")
    }
}
