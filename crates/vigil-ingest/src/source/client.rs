//! An MLLP client: sends messages over one connection and reads each acknowledgement
//! (`vigil hl7 send`, tests, the benchmark).

use crate::ack::{AckCondition, AckMode, Outcome};
use crate::er7::Message;
use crate::mllp::{MllpDecoder, encode};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A blocking MLLP connection.
pub struct MllpClient {
    stream: TcpStream,
    decoder: MllpDecoder,
}

impl MllpClient {
    /// Connects to `address`, waiting at most `timeout` for each read.
    pub fn connect(address: impl ToSocketAddrs, timeout: Duration) -> std::io::Result<MllpClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(MllpClient {
            stream,
            decoder: MllpDecoder::new(16 * 1024 * 1024),
        })
    }

    /// Sends one message, framed.
    pub fn send(&mut self, message: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(&encode(message))
    }

    /// Sends raw bytes as they are (tests of broken framing).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next acknowledgement (the frame's content).
    pub fn receive(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match self.decoder.next_frame() {
                Some(Ok(frame)) => return Ok(frame),
                Some(Err(error)) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
                }
                None => {}
            }
            let n = self.stream.read(&mut buffer)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the connection was closed before an acknowledgement came",
                ));
            }
            self.decoder.feed(buffer.get(..n).unwrap_or_default());
        }
    }

    /// Sends one message and reads its acknowledgement.
    pub fn exchange(&mut self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        self.send(message)?;
        self.receive()
    }

    /// Sends one message and reads every acknowledgement it asks for, as Vigil answers: one in
    /// original mode (or when the message cannot be parsed); in enhanced mode the accept
    /// acknowledgement when MSH-15 asks for it, then the application acknowledgement when
    /// MSH-16 asks for it for the outcome the first one tells. When the conditions allow that
    /// nothing comes (neither is AL), waiting for it ends after `quiet` and gives what came.
    pub fn exchange_all(
        &mut self,
        message: &[u8],
        quiet: Duration,
    ) -> std::io::Result<Vec<Vec<u8>>> {
        self.send(message)?;
        let mode = Message::parse(message)
            .map(|m| AckMode::of(&m))
            .unwrap_or(AckMode::Original);
        let AckMode::Enhanced {
            accept,
            application,
        } = mode
        else {
            return Ok(vec![self.receive()?]);
        };
        if accept == AckCondition::Never && application == AckCondition::Never {
            return Ok(Vec::new());
        }
        let maybe_none = accept != AckCondition::Always && application != AckCondition::Always;
        let Some(first) = self.receive_within(maybe_none.then_some(quiet))? else {
            return Ok(Vec::new());
        };
        let code = Message::parse(&first)
            .ok()
            .and_then(|m| m.get("MSA-1").ok().flatten().map(str::to_owned))
            .unwrap_or_default();
        let mut frames = vec![first];
        if let Some(outcome) = commit_outcome(&code)
            && application.holds(&outcome)
        {
            frames.push(self.receive()?);
        }
        Ok(frames)
    }

    /// [`Self::receive`], giving up quietly after `wait` when given.
    fn receive_within(&mut self, wait: Option<Duration>) -> std::io::Result<Option<Vec<u8>>> {
        let Some(wait) = wait else {
            return self.receive().map(Some);
        };
        let before = self.stream.read_timeout()?;
        self.stream.set_read_timeout(Some(wait))?;
        let received = self.receive();
        self.stream.set_read_timeout(before)?;
        match received {
            Ok(frame) => Ok(Some(frame)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The outcome an accept acknowledgement's MSA-1 tells (`None` for an application one).
fn commit_outcome(code: &str) -> Option<Outcome> {
    let error =
        || crate::ack::AckError::new(crate::ack::Hl7ErrorCode::ApplicationInternalError, "");
    match code {
        "CA" => Some(Outcome::Accepted),
        "CE" => Some(Outcome::Error(error())),
        "CR" => Some(Outcome::Rejected(error())),
        _ => None,
    }
}
