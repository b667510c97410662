//! The R4 websocket channel, bind-with-id: a client connects to `/websocket`, sends
//! `bind {subscription id}` (one or more), the server answers `bound {id}` once it has checked
//! that the Subscription exists with a websocket channel, and sends `ping {id}` for each
//! notification. Anything else the client sends gets `error {text}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Sender, channel};
use vigil_service::{FhirService, RequestContext};

use crate::news2_feed::CDS_SYSTEM;

/// The bound websocket clients, shared by the HTTP side and the delivery threads.
#[derive(Clone, Default)]
pub struct WebsocketHub {
    clients: Arc<Mutex<HashMap<String, Vec<Sender<String>>>>>,
}

/// Pings queued for one websocket client before more are coalesced: a client that far
/// behind has pings to read already, and a ping carries nothing but the subscription id.
const QUEUED_PINGS: usize = 64;

impl WebsocketHub {
    /// An empty hub.
    pub fn new() -> Self {
        WebsocketHub::default()
    }

    /// Binds a client's channel to `id`; binding the same client twice is one binding.
    fn bind(&self, id: &str, sender: &Sender<String>) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let bound = clients.entry(id.to_owned()).or_default();
        if !bound.iter().any(|b| b.same_channel(sender)) {
            bound.push(sender.clone());
        }
    }

    /// Sends `ping {id}` to every client bound to `id`; how many got it (closed clients are
    /// dropped; a client with [`QUEUED_PINGS`] pings unsent counts as notified).
    pub fn notify(&self, id: &str) -> usize {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bound) = clients.get_mut(id) else {
            return 0;
        };
        bound.retain(|sender| match sender.try_send(format!("ping {id}")) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => false,
        });
        let sent = bound.len();
        if sent == 0 {
            clients.remove(id);
        }
        sent
    }
}

/// State of the websocket route.
#[derive(Clone)]
pub struct WebsocketState {
    /// The door, to check the Subscriptions clients bind to.
    pub service: FhirService,
    /// The bound clients.
    pub hub: WebsocketHub,
    /// The base URL CDS reads under.
    pub base_url: String,
}

/// `GET /websocket`.
pub async fn upgrade(State(state): State<WebsocketState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(state, socket))
}

async fn session(state: WebsocketState, mut socket: WebSocket) {
    let (sender, mut pings) = channel::<String>(QUEUED_PINGS);
    loop {
        tokio::select! {
            ping = pings.recv() => {
                let Some(ping) = ping else { break };
                if socket.send(Message::Text(ping.into())).await.is_err() {
                    break;
                }
            }
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let answer = match text.trim().strip_prefix("bind ") {
                    Some(id) => {
                        let id = id.trim().to_owned();
                        match check_binding(&state, &id).await {
                            Ok(()) => {
                                state.hub.bind(&id, &sender);
                                format!("bound {id}")
                            }
                            Err(reason) => format!("error {reason}"),
                        }
                    }
                    None => "error expected 'bind {subscription id}'".to_owned(),
                };
                if socket.send(Message::Text(answer.into())).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn check_binding(state: &WebsocketState, id: &str) -> Result<(), String> {
    let service = state.service.clone();
    let context = RequestContext::system(CDS_SYSTEM, &state.base_url);
    let id_owned = id.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        service
            .read(&context, "Subscription", &id_owned)
            .map(|r| r.version.content)
    })
    .await
    .map_err(|_| "internal error".to_owned())?;
    let content = found.map_err(|_| format!("no Subscription {id}"))?;
    let subscription: Value =
        serde_json::from_str(&content).map_err(|_| "unreadable Subscription".to_owned())?;
    if subscription["channel"]["type"] != "websocket" {
        return Err(format!("Subscription {id} has no websocket channel"));
    }
    match subscription["status"].as_str() {
        Some("requested" | "active" | "error") => Ok(()),
        _ => Err(format!("Subscription {id} is off")),
    }
}
