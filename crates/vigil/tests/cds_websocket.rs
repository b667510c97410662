//! The R4 websocket channel over a real socket: bind-with-id, `bound`, then `ping` per
//! notification; and a notification owed while no client is bound arrives once one binds.

#![allow(clippy::unwrap_used)]

mod cds_support;
mod support;

use cds_support::*;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use support::Vigil;
use tokio_tungstenite::tungstenite::Message;

fn websocket_subscription(vigil: &Vigil, criteria: &str) -> String {
    let body = serde_json::json!({
        "resourceType": "Subscription", "status": "requested", "reason": "ward board",
        "criteria": criteria, "channel": {"type": "websocket"},
    });
    let created = vigil.request("POST", "/Subscription", Some(&body.to_string()));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    while vigil
        .request("GET", &format!("/Subscription/{id}"), None)
        .json()["status"]
        != "active"
    {
        assert!(start.elapsed() < Duration::from_secs(10), "never active");
        std::thread::sleep(Duration::from_millis(50));
    }
    id
}

async fn next_text(
    socket: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> String {
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a message within 10 s")
        .expect("an open socket")
        .expect("a frame");
    message.into_text().unwrap().to_string()
}

#[test]
fn bind_with_id_then_a_ping_per_notification_including_one_owed_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start(dir.path());
    let id = websocket_subscription(&vigil, "Observation?code=http://loinc.org|8867-4");
    // A matching change before anyone binds: the notification waits.
    let body = vital("Patient/w", "8867-4", 80.0, "/min", &now_minus_seconds(2));
    assert_eq!(
        vigil.request("POST", "/Observation", Some(&body)).status,
        201
    );

    // Long enough for the delivery's back-off to reach its websocket ceiling (2 s).
    std::thread::sleep(Duration::from_secs(4));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("ws://{}/websocket", vigil.address);
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        socket
            .send(Message::Text("bind not-a-subscription".into()))
            .await
            .unwrap();
        assert!(next_text(&mut socket).await.starts_with("error"));
        socket
            .send(Message::Text(format!("bind {id}").into()))
            .await
            .unwrap();
        assert_eq!(next_text(&mut socket).await, format!("bound {id}"));
        let bound_at = Instant::now();
        assert_eq!(
            next_text(&mut socket).await,
            format!("ping {id}"),
            "the owed notification"
        );
        assert!(
            bound_at.elapsed() < Duration::from_secs(3),
            "{:?}",
            bound_at.elapsed()
        );

        let address = vigil.address;
        let body = vital("Patient/w", "8867-4", 82.0, "/min", &now_minus_seconds(1));
        tokio::task::spawn_blocking(move || {
            support::http(address, "POST", "/Observation", Some(&body))
        })
        .await
        .unwrap();
        assert_eq!(next_text(&mut socket).await, format!("ping {id}"));
    });
}
