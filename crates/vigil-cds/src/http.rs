//! The HTTP side of CDS, as an axum [`Router`] the binary merges beside the FHIR API:
//! `GET /websocket` (R4 Subscription websocket channel).

use axum::Router;
use axum::routing::get;
use vigil_service::FhirService;

use crate::subscriptions::websocket::{WebsocketHub, WebsocketState, upgrade};

/// The CDS routes.
pub fn router(service: FhirService, hub: WebsocketHub, base_url: &str) -> Router {
    Router::new()
        .route("/websocket", get(upgrade))
        .with_state(WebsocketState {
            service,
            hub,
            base_url: base_url.to_owned(),
        })
}
