//! Fuzz target: any bytes must parse to an HL7 v2 `Message` or a `ParseError` (never a panic).
//! Whatever parses must write back and read back to the same tree, group without losing a
//! segment (or refuse with a `GroupError`) and get an acknowledgement that parses and echoes
//! MSH-10; whatever does not parse must get a best-effort AR that parses. The same bytes are
//! also fed to the MLLP decoder in two chunkings, which must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::ack::{AckError, AckHeader, Outcome, acknowledge, acknowledge_unreadable};
use vigil_ingest::er7::Message;
use vigil_ingest::groups::group;
use vigil_ingest::mllp::MllpDecoder;

const ACK: AckHeader<'static> = AckHeader {
    control_id: "ACK-1",
    timestamp: "20261207200000",
};

fn frames(chunks: &[&[u8]]) -> Vec<vigil_ingest::mllp::Frame> {
    let mut decoder = MllpDecoder::new(64);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        out.extend(std::iter::from_fn(|| decoder.next_frame()));
    }
    out
}

fuzz_target!(|bytes: &[u8]| {
    let half = bytes.len() / 2;
    assert_eq!(frames(&[bytes]), frames(&[&bytes[..half], &bytes[half..]]));
    match Message::parse(bytes) {
        Ok(message) => {
            let again = Message::parse_str(&message.encode());
            assert_eq!(again.as_ref(), Ok(&message));
            let _ = message.get("PID-3[1].4.1");
            let outcome = match group(&message) {
                Ok((_, grouped)) => {
                    assert_eq!(grouped.all_segments().len(), message.segments().len());
                    Outcome::Accepted
                }
                Err(err) if err.is_reject() => Outcome::Rejected(err.ack_error()),
                Err(err) => Outcome::Error(err.ack_error()),
            };
            let ack = acknowledge(&message, &outcome, ACK).message.encode();
            let reread = Message::parse_str(&ack).expect("the ACK parses");
            assert_eq!(reread.get("MSA-2").ok().flatten().unwrap_or_default(), message.header().control_id());
        }
        Err(err) => {
            let ack = acknowledge_unreadable(bytes, &AckError::from_parse_error(&err), ACK).message.encode();
            assert!(Message::parse_str(&ack).is_ok(), "the AR parses");
        }
    }
});
