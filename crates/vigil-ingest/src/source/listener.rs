//! The MLLP listener: TCP connections carrying framed HL7 v2 messages, each answered with
//! the door's acknowledgement after its commit.
//!
//! Behaviour, as implemented:
//!
//! - Framing by [`MllpDecoder`] across any TCP chunking; many messages per connection
//!   (pipelined: the sender need not wait), answered in the order received. Messages of one
//!   connection are processed one after the other (an A03 never overtakes its A01); different
//!   connections run in parallel (and share the store's group commit).
//! - Each message goes to [`Door::receive`] on a blocking thread (`spawn_blocking`); the ACK
//!   is written only when that returns, i.e. after the commit.
//! - Idle timeout: a connection that sends nothing for [`ListenerConfig::idle_timeout`] is
//!   closed (after its pending answers are written).
//! - Maximum message size: a frame beyond [`ListenerConfig::max_message_bytes`] is answered
//!   with an AR (ERR 100, empty MSA-2: its content was dropped unread) and the connection is
//!   closed, since the rest of the stream cannot be trusted. A frame cut off by a new start
//!   block is answered with an AR too and the connection goes on with the new frame. Neither
//!   is recorded (there is no message to keep).
//! - At most [`ListenerConfig::max_connections`] connections at once; more wait in the
//!   kernel's accept queue.
//! - A broken connection or frame only ever ends that connection; the accept loop runs until
//!   the shutdown future completes, then stops accepting and lets open connections finish
//!   their current message.

use crate::ack::{AckError, AckHeader, Hl7ErrorCode, acknowledge_unreadable};
use crate::door::Door;
use crate::mllp::{MllpDecoder, MllpError, encode};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

/// Listener settings.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Largest message (frame content) accepted, in bytes.
    pub max_message_bytes: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_message_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
        }
    }
}

/// Serves MLLP on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    door: Arc<Door>,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let door = door.clone();
                let config = config.clone();
                let stop = stop_rx.clone();
                connections.spawn(async move {
                    connection(stream, peer, door, config, stop).await;
                    drop(permit);
                });
            }
            Err(error) => {
                tracing::warn!(%error, "mllp: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    tracing::info!("mllp: listener stopped");
}

/// What the reader hands the worker, in stream order.
enum Work {
    Message(Vec<u8>),
    Broken(MllpError),
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    door: Arc<Door>,
    config: ListenerConfig,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Work>(64);
    let max = config.max_message_bytes;
    let idle = config.idle_timeout;
    let read_side = async move {
        let mut decoder = MllpDecoder::new(max);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = tokio::select! {
                read = tokio::time::timeout(idle, reader.read(&mut buffer)) => read,
                _ = stop.changed() => break,
            };
            let n = match read {
                Err(_) => {
                    tracing::debug!(%peer, "mllp: idle timeout");
                    break;
                }
                Ok(Err(_)) | Ok(Ok(0)) => break,
                Ok(Ok(n)) => n,
            };
            decoder.feed(buffer.get(..n).unwrap_or_default());
            while let Some(frame) = decoder.next_frame() {
                let (work, last) = match frame {
                    Ok(bytes) => (Work::Message(bytes), false),
                    Err(error @ MllpError::TooLarge { .. }) => (Work::Broken(error), true),
                    Err(error) => (Work::Broken(error), false),
                };
                if tx.send(work).await.is_err() || last {
                    return;
                }
            }
        }
    };
    let write_side = async move {
        while let Some(work) = rx.recv().await {
            let (ack, application_ack) = match work {
                Work::Message(bytes) => {
                    let door = door.clone();
                    match tokio::task::spawn_blocking(move || door.receive(&bytes)).await {
                        Ok(reply) => (reply.ack, reply.application_ack),
                        Err(error) => {
                            tracing::error!(%error, "mllp: processing task failed");
                            let ack = broken_ack(
                                "internal error while processing the message",
                                Hl7ErrorCode::ApplicationInternalError,
                            );
                            (Some(ack), None)
                        }
                    }
                }
                Work::Broken(error) => {
                    tracing::warn!(%peer, %error, "mllp: broken frame");
                    let ack = broken_ack(&error.to_string(), Hl7ErrorCode::SegmentSequenceError);
                    (Some(ack), None)
                }
            };
            // The accept (or original-mode) acknowledgement, then the application one.
            for frame in [ack, application_ack].into_iter().flatten() {
                if writer.write_all(&encode(frame.as_bytes())).await.is_err() {
                    return;
                }
            }
        }
        let _ = writer.shutdown().await;
    };
    tokio::join!(read_side, write_side);
}

/// The AR for a frame that never became a message.
fn broken_ack(text: &str, code: Hl7ErrorCode) -> String {
    let micros = vigil_service::now_micros();
    let instant = vigil_service::format_instant(micros);
    let digits: String = instant
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let timestamp = format!("{digits}+0000");
    let control_id = format!("A{micros}");
    let ack = acknowledge_unreadable(
        b"",
        &AckError::new(code, text),
        AckHeader {
            control_id: &control_id,
            timestamp: &timestamp,
        },
    );
    ack.message.encode()
}
