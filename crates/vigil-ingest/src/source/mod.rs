//! The source stage: where messages come from.
//!
//! - [`listener`]: the MLLP listener (`vigil serve --mllp ADDR`) on tokio, answering each
//!   message with the door's acknowledgement.
//! - [`client`]: an MLLP client (`vigil hl7 send`).

pub mod client;
pub mod listener;
