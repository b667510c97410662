//! Wiring the authorization server into `vigil serve`: the bearer-token verifier the API asks
//! (vigil-auth's verified tokens become the door's identities), its security events and the
//! API's refusals recorded in the audit trail, and the public base URL.

use std::net::SocketAddr;
use std::sync::Arc;
use vigil_api::{Authenticator, Identity, Refusal};
use vigil_auth::{AuthEvents, AuthServer, LoginFailure, Subject};
use vigil_service::{AuditRecord, FhirService, Principal, RequestContext};

/// The API's authenticator over the authorization server's token verification; a refused
/// request is recorded in the audit trail.
pub struct TokenAuthenticator {
    /// The authorization server.
    pub auth: Arc<AuthServer>,
    /// The service whose audit trail records refusals.
    pub service: FhirService,
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(&self, token: &str) -> Result<Identity, Refusal> {
        match self.auth.verify(token) {
            Ok(verified) => Ok(Identity {
                principal: match verified.subject {
                    Subject::User { id } => Principal::User { id },
                    Subject::Client { id } => Principal::Client { id },
                },
                client_id: Some(verified.client_id),
                patient: verified.patient,
                fhir_user: verified.fhir_user,
                scopes: verified.scopes,
                roles: verified.roles,
            }),
            Err(error) => Err(Refusal {
                internal: error.is_internal(),
                reason: error.to_string(),
            }),
        }
    }

    fn refused(&self, peer: Option<SocketAddr>, path: &str, reason: &str) {
        // No token, no query string: the path's resource type and id are not PHI.
        tracing::info!(peer = ?peer, path, reason, "request refused: not authenticated");
        let context = anonymous(peer);
        let record = AuditRecord::for_context(&context, "authenticate")
            .with_entities(vec![path.trim_start_matches('/').to_owned()])
            .denied(reason);
        self.service.audit_event(record);
    }
}

/// The authorization server's security events, as audit records: logins (succeeded or not),
/// tokens issued and token requests refused. Never a password, secret or token.
pub struct AuditedAuthEvents {
    /// The service whose audit trail records them.
    pub service: FhirService,
}

/// A context for an event with no authenticated principal yet.
fn anonymous(peer: Option<SocketAddr>) -> RequestContext {
    let mut context = RequestContext::new(Principal::System("anonymous".into()), "");
    context.remote_addr = peer;
    context
}

fn user(username: &str, client_id: &str, peer: Option<SocketAddr>) -> RequestContext {
    let mut context = RequestContext::new(
        Principal::User {
            id: username.to_owned(),
        },
        "",
    );
    context.client_id = Some(client_id.to_owned());
    context.remote_addr = peer;
    context
}

impl AuthEvents for AuditedAuthEvents {
    fn login_succeeded(&self, username: &str, client_id: &str, peer: Option<SocketAddr>) {
        let context = user(username, client_id, peer);
        self.service
            .audit_event(AuditRecord::for_context(&context, "login"));
    }

    fn login_failed(
        &self,
        username: &str,
        client_id: &str,
        peer: Option<SocketAddr>,
        reason: LoginFailure,
    ) {
        let context = user(username, client_id, peer);
        let reason = match reason {
            LoginFailure::BadCredentials => "bad credentials",
            LoginFailure::Disabled => "account disabled",
            LoginFailure::LockedOut => "locked out after repeated failures",
            _ => "refused",
        };
        self.service
            .audit_event(AuditRecord::for_context(&context, "login").denied(reason));
    }

    fn token_issued(
        &self,
        client_id: &str,
        subject: &Subject,
        scopes: &[String],
        grant_type: &str,
    ) {
        let principal = match subject {
            Subject::User { id } => Principal::User { id: id.clone() },
            Subject::Client { id } => Principal::Client { id: id.clone() },
        };
        let mut context = RequestContext::new(principal, "");
        context.client_id = Some(client_id.to_owned());
        context.scopes = scopes.to_vec();
        let record = AuditRecord::for_context(&context, "token")
            .with_entities(vec![format!("grant:{grant_type}")]);
        self.service.audit_event(record);
    }

    fn token_refused(
        &self,
        client_id: Option<&str>,
        grant_type: Option<&str>,
        error: &str,
        peer: Option<SocketAddr>,
    ) {
        let mut context = anonymous(peer);
        context.client_id = client_id.map(str::to_owned);
        let record = AuditRecord::for_context(&context, "token")
            .with_entities(vec![format!("grant:{}", grant_type.unwrap_or("none"))])
            .denied(error);
        self.service.audit_event(record);
    }
}

/// The public base URL: `--base-url`, else `SCHEME://ADDRESS` of the bound listener.
pub fn public_base_url(base_url: Option<&str>, https: bool, local: SocketAddr) -> String {
    match base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("{}://{local}", if https { "https" } else { "http" }),
    }
}
