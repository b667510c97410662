//! MLLP framing: `0x0B` message `0x1C 0x0D`, decoded incrementally from bytes in any chunking.
//!
//! [`MllpDecoder`] is a byte-wise state machine, so how TCP splits the stream never changes what
//! comes out. Behaviour, as implemented:
//!
//! - Bytes outside a frame (between `0x1C 0x0D` and the next `0x0B`) are skipped and counted
//!   ([`MllpDecoder::skipped_bytes`]); they are not an error, because senders commonly put a
//!   newline or keep-alive byte between frames.
//! - A frame ends at `0x1C 0x0D`. A `0x1C` followed by anything else also ends the frame (some
//!   senders forget the CR); the next byte is then read as outside a frame.
//! - A `0x0B` inside a frame means the sender started again: the unfinished frame is reported as
//!   [`MllpError::Interrupted`] and the new frame is read.
//! - A frame larger than the maximum is reported once as [`MllpError::TooLarge`] as soon as it
//!   passes the limit, its bytes are dropped, and decoding resynchronises on the next `0x0B`.
//!
//! Errors never stop the decoder; the caller decides whether to answer or close.

use std::collections::VecDeque;
use thiserror::Error;

/// Start of block.
pub const START_BLOCK: u8 = 0x0B;
/// End of block.
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return after the end of block.
pub const CARRIAGE_RETURN: u8 = 0x0D;

/// A frame that could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MllpError {
    /// The frame passed the maximum size; its bytes were dropped.
    #[error("MLLP frame larger than the maximum of {max} bytes")]
    TooLarge {
        /// The maximum message size in bytes.
        max: usize,
    },
    /// A new frame started (`0x0B`) before the previous one ended.
    #[error("MLLP frame interrupted by a new start block after {received} bytes")]
    Interrupted {
        /// How many bytes of the unfinished frame were dropped.
        received: usize,
    },
}

/// What the decoder yields: a complete message (without framing bytes) or why a frame was lost.
pub type Frame = Result<Vec<u8>, MllpError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    Inside,
    AfterEndBlock,
    Oversized,
}

/// The incremental MLLP decoder: [`feed`](Self::feed) bytes, then take results with
/// [`next_frame`](Self::next_frame).
#[derive(Debug)]
pub struct MllpDecoder {
    max: usize,
    state: State,
    frame: Vec<u8>,
    ready: VecDeque<Frame>,
    skipped: u64,
}

impl MllpDecoder {
    /// A decoder that refuses frames larger than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> MllpDecoder {
        MllpDecoder {
            max: max_message_bytes,
            state: State::Outside,
            frame: Vec::new(),
            ready: VecDeque::new(),
            skipped: 0,
        }
    }

    /// Reads more bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.step(byte);
        }
    }

    /// The next complete frame (the message without framing bytes) or framing error, in
    /// stream order.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.ready.pop_front()
    }

    /// Whether the decoder is between frames (nothing partial held): at end of stream, a
    /// decoder that is not idle was cut off mid-frame.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Outside | State::Oversized) && self.frame.is_empty()
    }

    /// How many bytes outside frames were skipped so far.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    fn step(&mut self, byte: u8) {
        match (self.state, byte) {
            (State::Inside, START_BLOCK) => {
                let received = std::mem::take(&mut self.frame).len();
                self.ready
                    .push_back(Err(MllpError::Interrupted { received }));
                self.state = State::Inside;
            }
            (State::Outside | State::Oversized, START_BLOCK) => {
                self.frame.clear();
                self.state = State::Inside;
            }
            (State::Outside, _) => self.skipped += 1,
            (State::Oversized, _) => {}
            (State::Inside, END_BLOCK) => self.state = State::AfterEndBlock,
            (State::Inside, _) => {
                if self.frame.len() >= self.max {
                    self.frame = Vec::new();
                    self.ready
                        .push_back(Err(MllpError::TooLarge { max: self.max }));
                    self.state = State::Oversized;
                } else {
                    self.frame.push(byte);
                }
            }
            (State::AfterEndBlock, _) => {
                self.ready.push_back(Ok(std::mem::take(&mut self.frame)));
                self.state = State::Outside;
                if byte != CARRIAGE_RETURN {
                    self.step(byte);
                }
            }
        }
    }
}

/// Frames one message for the wire.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    encode_into(message, &mut out);
    out
}

/// Appends one framed message to `out`.
pub fn encode_into(message: &[u8], out: &mut Vec<u8>) {
    out.push(START_BLOCK);
    out.extend_from_slice(message);
    out.push(END_BLOCK);
    out.push(CARRIAGE_RETURN);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], max: usize) -> Vec<Frame> {
        let mut decoder = MllpDecoder::new(max);
        decoder.feed(bytes);
        std::iter::from_fn(|| decoder.next_frame()).collect()
    }

    #[test]
    fn frames_and_stray_bytes() {
        let mut decoder = MllpDecoder::new(100);
        decoder.feed(b"\r\n junk\x0bMSH|one\x1c\r\n\x0bMSH|two\x1c\r");
        assert_eq!(decoder.next_frame(), Some(Ok(b"MSH|one".to_vec())));
        assert_eq!(decoder.next_frame(), Some(Ok(b"MSH|two".to_vec())));
        assert_eq!(decoder.next_frame(), None);
        assert_eq!(decoder.skipped_bytes(), 8);
        assert!(decoder.is_idle());
    }

    #[test]
    fn table_of_framing_cases() {
        let ok = |s: &[u8]| Ok(s.to_vec());
        let cases: Vec<(&[u8], Vec<Frame>)> = vec![
            (b"\x0babc\x1c\r", vec![ok(b"abc")]),
            (b"\x0b\x1c\r", vec![ok(b"")]),
            (b"\x0babc\x1c\x0bdef\x1c\r", vec![ok(b"abc"), ok(b"def")]),
            (
                b"\x0babc\x0bdef\x1c\r",
                vec![Err(MllpError::Interrupted { received: 3 }), ok(b"def")],
            ),
            (
                b"\x0babcdefgh\x1c\r\x0bxy\x1c\r",
                vec![Err(MllpError::TooLarge { max: 5 }), ok(b"xy")],
            ),
            (b"\x0babcde\x1c\r", vec![ok(b"abcde")]),
            (b"abc\x1c\r", vec![]),
            (b"\x0babc", vec![]),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_all(input, 5), expected, "{input:?}");
        }
    }

    #[test]
    fn cut_off_frame_is_not_idle() {
        let mut decoder = MllpDecoder::new(10);
        decoder.feed(b"\x0bMSH");
        assert!(!decoder.is_idle());
        decoder.feed(b"\x1c");
        assert!(!decoder.is_idle());
        decoder.feed(b"\r");
        assert!(decoder.is_idle());
    }

    #[test]
    fn encoder_frames() {
        assert_eq!(encode(b"MSH|x"), b"\x0bMSH|x\x1c\r");
    }
}
