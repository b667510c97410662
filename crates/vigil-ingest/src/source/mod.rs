//! The source stage: where messages come from.
//!
//! - [`listener`]: the MLLP listener (`vigil serve --mllp ADDR`) on tokio, answering each
//!   message with the door's acknowledgement.
//! - [`client`]: an MLLP client (`vigil hl7 send`).
//! - [`mqtt`]: the MQTT device feed (`vigil serve --mqtt URL --mqtt-topic FILTER`).

pub mod client;
pub mod listener;
pub mod mqtt;
