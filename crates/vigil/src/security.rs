//! Wiring the authorization server into `vigil serve`: the bearer-token verifier the API asks
//! (vigil-auth's verified tokens become the door's identities), and the public base URL.

use std::net::SocketAddr;
use std::sync::Arc;
use vigil_api::{Authenticator, Identity, Refusal};
use vigil_auth::{AuthServer, Subject};
use vigil_service::Principal;

/// The API's authenticator over the authorization server's token verification.
pub struct TokenAuthenticator(pub Arc<AuthServer>);

impl Authenticator for TokenAuthenticator {
    fn authenticate(&self, token: &str) -> Result<Identity, Refusal> {
        match self.0.verify(token) {
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
                reason: error.to_string(),
            }),
        }
    }

    fn refused(&self, peer: Option<SocketAddr>, path: &str, reason: &str) {
        // No token, no query string: the path's resource type and id are not PHI.
        tracing::info!(peer = ?peer, path, reason, "request refused: not authenticated");
    }
}

/// The public base URL: `--base-url`, else `SCHEME://ADDRESS` of the bound listener.
pub fn public_base_url(base_url: Option<&str>, https: bool, local: SocketAddr) -> String {
    match base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("{}://{local}", if https { "https" } else { "http" }),
    }
}
