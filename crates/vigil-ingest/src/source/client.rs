//! An MLLP client: sends messages over one connection and reads each acknowledgement
//! (`vigil hl7 send`, tests, the benchmark).

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
}
