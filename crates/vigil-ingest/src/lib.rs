//! The integration engine's pure core: how HL7 v2 enters Vigil, before any socket or database.
//!
//! The pipeline of issue 17 is source -> decoder -> mapper -> door, one module per stage. This
//! crate holds the stages that need no I/O:
//!
//! - [`mllp`]: the MLLP framing codec (source side): an incremental decoder that yields complete
//!   frames from bytes in any chunking, and the encoder.
//! - [`er7`]: the HL7 v2 ER7 decoder: delimiters from MSH-1/MSH-2, escape sequences,
//!   repetitions, components, subcomponents, a typed message tree with accessors by path
//!   (`PID-3[1].4.1`) and typed errors that say where the input is malformed.
//! - [`groups`]: turns the flat segment list into the segment groups a mapper needs (ADT,
//!   ORU^R01, ORM^O01, OML^O21, SIU^S12-S15, VXU^V04, MDM^T02).
//! - [`ack`]: builds the acknowledgement (ACK with MSA and ERR) for a message, in original or
//!   enhanced mode, also for a message whose header cannot be read.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vigil_ingest::ack::{acknowledge, AckHeader, Outcome};
//! use vigil_ingest::{er7::Message, groups::group, mllp::MllpDecoder};
//!
//! let mut decoder = MllpDecoder::new(1 << 20);
//! decoder.feed(b"\x0bMSH|^~\\&|LAB|H|VIGIL|W|20261201||ORU^R01|42|P|2.5.1\rPID|1||123\rOBR|1\rOBX|1|NM|8867-4^HR^LN||72\x1c\r");
//! while let Some(Ok(frame)) = decoder.next_frame() {
//!     let message = Message::parse(&frame)?;
//!     assert_eq!(message.get("PID-3")?, Some("123"));
//!     let (_structure, groups) = group(&message)?;
//!     assert_eq!(groups.patients[0].orders[0].observations.len(), 1);
//!     let ack = acknowledge(&message, &Outcome::Accepted, AckHeader { control_id: "1", timestamp: "20261201" });
//!     assert_eq!(ack.message.get("MSA-2")?, Some("42"));
//!     let _reply = vigil_ingest::mllp::encode(ack.message.encode().as_bytes());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Nothing here panics on input: every parser is covered by property tests over random and
//! mutated bytes. The MLLP listener, the FHIR mappings and the door wiring come next (see
//! `docs/ingest.md`).

#![deny(missing_docs)]

pub mod ack;
pub mod device;
pub mod door;
pub mod er7;
pub mod groups;
pub mod mapper;
pub mod mllp;
pub mod source;

pub use ack::{AckCode, AckError, AckMode, Acknowledgement, Hl7ErrorCode, Outcome, Severity};
pub use er7::{
    Component, Delimiters, Field, Message, ParseError, ParseErrorKind, Path, PathError, Repetition,
    Segment,
};
pub use groups::{GroupError, Grouped, Structure, group};
pub use mllp::{MllpDecoder, MllpError};
