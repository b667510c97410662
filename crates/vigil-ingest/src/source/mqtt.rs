//! The MQTT device feed: subscribe with QoS 1 on a persistent session, hand each payload to
//! the [`DeviceDoor`], acknowledge it to the broker only after the commit.
//!
//! Behaviour, as implemented:
//! - `clean_session = false` and a fixed client id, so the broker keeps the subscription and
//!   the unacknowledged messages while Vigil is down, and redelivers them (the door
//!   recognises redeliveries). With manual acknowledgements, a PUBACK is sent only when the
//!   door has committed the payload or recorded it as a dead letter.
//! - A storage fault (the database busy or failing) is retried in place, after 100 ms and then
//!   twice as long each time up to 5 s, until it commits or the feed stops; the PUBACKs behind
//!   it wait, so order is kept and nothing is acknowledged before its commit. A payload still
//!   failing at shutdown is left unacknowledged, and the broker redelivers it on the next
//!   session. (Without the retry, a fault would hold an in-flight slot for the whole session,
//!   and after `in_flight` faults the broker would stop sending: a silent stall.)
//! - Payloads are processed on blocking threads, at most [`MqttConfig::in_flight`] at once;
//!   PUBACKs go out in the order the messages arrived, as MQTT 3.1.1 requires.
//! - Bad payloads are dead letters (see [`crate::device`]) and acknowledged: they never stop
//!   the feed.
//! - A lost connection (broker restart) is retried every second; the subscription is renewed
//!   on every CONNACK.
//! - Limit: a payload over 16 MiB makes the client library drop the connection before Vigil
//!   sees it, and the broker will redeliver it; keep the broker's `message_size_limit` below
//!   that.

use crate::device::{DeviceDoor, DeviceOutcome};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Feed settings.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// The broker, `mqtt://HOST[:PORT]` (port 1883 by default).
    pub url: String,
    /// The topic filter, e.g. `devices/+/obs`.
    pub topic: String,
    /// The client id of the persistent session.
    pub client_id: String,
    /// Payloads processed at once.
    pub in_flight: usize,
}

/// `mqtt://host[:port]` -> (host, port).
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
        format!("'{url}' is not an mqtt:// URL (TLS brokers are not supported yet)")
    })?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(format!("'{url}' must be mqtt://HOST[:PORT]"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("bad port in '{url}'"))?;
            Ok((host.trim_matches(['[', ']']).to_owned(), port))
        }
        None => Ok((rest.to_owned(), 1883)),
    }
}

/// Runs the feed until `shutdown` completes.
pub async fn run(
    config: MqttConfig,
    door: Arc<DeviceDoor>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let (host, port) = parse_url(&config.url)?;
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(config.in_flight.clamp(1, 1000) as u16)
        .set_max_packet_size(16 * 1024 * 1024, 1024 * 1024);
    let (client, mut events) = AsyncClient::new(options, 1024);
    let (tx, mut rx) = mpsc::channel::<(rumqttc::Publish, tokio::task::JoinHandle<DeviceOutcome>)>(
        config.in_flight.max(1),
    );
    let acker = client.clone();
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let retry_door = door.clone();
    let acks = tokio::spawn(async move {
        while let Some((publish, task)) = rx.recv().await {
            let outcome = task
                .await
                .unwrap_or_else(|e| DeviceOutcome::Transient(e.to_string()));
            let outcome = retry_transient(&retry_door, &publish, outcome, stopping.clone()).await;
            match &outcome {
                DeviceOutcome::DeadLetter(reason) => {
                    tracing::warn!(topic = %publish.topic, %reason, "mqtt: payload dead-lettered")
                }
                DeviceOutcome::Transient(reason) => {
                    tracing::error!(topic = %publish.topic, %reason, "mqtt: payload not stored at shutdown; left for redelivery")
                }
                _ => {}
            }
            if outcome.acknowledge() && acker.ack(&publish).await.is_err() {
                break;
            }
        }
    });
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(topic = %config.topic, "mqtt: connected");
                if let Err(error) = client
                    .subscribe(config.topic.clone(), QoS::AtLeastOnce)
                    .await
                {
                    tracing::error!(%error, "mqtt: subscribe failed");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let door = door.clone();
                let (topic, payload) = (publish.topic.clone(), publish.payload.clone());
                let task = tokio::task::spawn_blocking(move || door.receive(&topic, &payload));
                if tx.send((publish, task)).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "mqtt: connection lost; retrying");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    // Finish what was received, then say goodbye (the session and its unacked messages stay).
    let _ = stopping_tx.send(true);
    drop(tx);
    let _ = acks.await;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(event) = events.poll().await {
            if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// The first wait before a payload that hit a storage fault is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Tries a payload again while its outcome is a storage fault, backing off from
/// [`RETRY_FIRST`] to [`RETRY_MAX`], until it is handled or `stopping` turns true (then the
/// fault is returned and the payload stays unacknowledged).
async fn retry_transient(
    door: &Arc<DeviceDoor>,
    publish: &rumqttc::Publish,
    mut outcome: DeviceOutcome,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> DeviceOutcome {
    let mut wait = RETRY_FIRST;
    while let DeviceOutcome::Transient(reason) = &outcome {
        if *stopping.borrow() {
            break;
        }
        tracing::warn!(topic = %publish.topic, %reason, wait_ms = wait.as_millis() as u64, "mqtt: payload not stored; retrying");
        tokio::select! {
            _ = stopping.changed() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RETRY_MAX);
        let door = door.clone();
        let (topic, payload) = (publish.topic.clone(), publish.payload.clone());
        outcome = tokio::task::spawn_blocking(move || door.receive(&topic, &payload))
            .await
            .unwrap_or_else(|e| DeviceOutcome::Transient(e.to_string()));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883"),
            Ok(("127.0.0.1".into(), 1883))
        );
        assert_eq!(parse_url("mqtt://broker"), Ok(("broker".into(), 1883)));
        assert!(parse_url("mqtts://x").is_err());
        assert!(parse_url("mqtt://x:port").is_err());
        assert!(parse_url("mqtt://").is_err());
    }
}
