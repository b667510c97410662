//! The MLLP listener over real loopback sockets: chunked frames, pipelined messages, many
//! connections, malformed envelopes, oversized frames, idle timeout, each ACK code.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use vigil_ingest::door::Door;
use vigil_ingest::er7::Message;
use vigil_ingest::source::client::MllpClient;
use vigil_ingest::source::listener::{ListenerConfig, serve};
use vigil_service::{FhirService, ServiceConfig};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

struct Server {
    address: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn server(config: ListenerConfig) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("store"));
    let service = FhirService::open(store, ServiceConfig::default()).expect("service");
    let door = Arc::new(Door::new(service, "http://vigil.test"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(serve(listener, door, config, async move {
        let _ = stopped.await;
    }));
    Server {
        address,
        runtime: Some(runtime),
        stop: Some(stop),
        _dir: dir,
    }
}

fn oru(control_id: &str, value: &str) -> String {
    format!(
        "MSH|^~\\&|LAB|HOSP|VIGIL|HOSP|20261201||ORU^R01|{control_id}|P|2.5.1\rPID|1||MRN-{control_id}^^^HOSP\rOBR|1||F-{control_id}|85353-1^Vitals^LN|||20261201031000\rOBX|1|NM|8867-4^HR^LN||{value}|/min^/min^UCUM\r"
    )
}

fn msa(ack: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(ack);
    let message = Message::parse_str(&text).expect("the ACK parses");
    let get = |p: &str| message.get(p).ok().flatten().unwrap_or_default().to_owned();
    (get("MSA-1"), get("MSA-2"))
}

fn connect(address: SocketAddr) -> MllpClient {
    MllpClient::connect(address, Duration::from_secs(20)).expect("connect")
}

#[test]
fn a_frame_split_into_single_bytes_is_one_message() {
    let server = server(ListenerConfig::default());
    let mut stream = TcpStream::connect(server.address).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let framed = vigil_ingest::mllp::encode(oru("C1", "72").as_bytes());
    for byte in &framed {
        stream.write_all(&[*byte]).expect("write");
        stream.flush().expect("flush");
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut decoder = vigil_ingest::mllp::MllpDecoder::new(1 << 20);
    let mut buffer = [0u8; 4096];
    let ack = loop {
        if let Some(frame) = decoder.next_frame() {
            break frame.expect("frame");
        }
        let n = stream.read(&mut buffer).expect("read");
        assert!(n > 0, "closed before the ACK");
        decoder.feed(&buffer[..n]);
    };
    assert_eq!(msa(&ack), ("AA".to_owned(), "C1".to_owned()));
}

#[test]
fn pipelined_messages_are_answered_in_order() {
    let server = server(ListenerConfig::default());
    let mut client = connect(server.address);
    let mut all = Vec::new();
    for i in 0..20 {
        all.extend(vigil_ingest::mllp::encode(
            oru(&format!("P{i}"), if i == 7 { "seven" } else { "80" }).as_bytes(),
        ));
    }
    // All frames in one write, cut at odd places by the kernel as it likes.
    client.send_raw(&all).expect("send");
    for i in 0..20 {
        let (code, control) = msa(&client.receive().expect("ack"));
        assert_eq!(control, format!("P{i}"));
        assert_eq!(code, if i == 7 { "AE" } else { "AA" }, "P{i}");
    }
}

#[test]
fn many_connections_at_once() {
    let server = server(ListenerConfig::default());
    let address = server.address;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut client = connect(address);
                for i in 0..10 {
                    let id = format!("T{t}-{i}");
                    let (code, control) =
                        msa(&client.exchange(oru(&id, "70").as_bytes()).expect("ack"));
                    assert_eq!((code.as_str(), control.as_str()), ("AA", id.as_str()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender thread");
    }
}

#[test]
fn malformed_envelopes_get_ar_and_the_listener_goes_on() {
    let server = server(ListenerConfig {
        max_message_bytes: 4096,
        ..ListenerConfig::default()
    });
    let mut client = connect(server.address);
    // Not HL7 at all.
    let (code, _) = msa(&client.exchange(b"hello world").expect("ack"));
    assert_eq!(code, "AR");
    // Bad delimiters in MSH.
    let (code, _) = msa(&client.exchange(b"MSH|\rPID|1").expect("ack"));
    assert_eq!(code, "AR");
    // An unsupported message type.
    let (code, control) = msa(&client
        .exchange(b"MSH|^~\\&|A|B|C|D|20261201||QRY^A19|Q1|P|2.5\rQRD|1")
        .expect("ack"));
    assert_eq!((code.as_str(), control.as_str()), ("AR", "Q1"));
    // A frame interrupted by a new start block: AR for the broken one, then the next one.
    client.send_raw(b"\x0bMSH|^~\\&|half").expect("send");
    client.send(oru("AFTER", "60").as_bytes()).expect("send");
    let (code, _) = msa(&client.receive().expect("ack"));
    assert_eq!(code, "AR");
    let (code, control) = msa(&client.receive().expect("ack"));
    assert_eq!((code.as_str(), control.as_str()), ("AA", "AFTER"));
    // Garbage between frames is skipped.
    client.send_raw(b"\r\n  junk ").expect("send");
    let (code, _) = msa(&client.exchange(oru("JUNK", "61").as_bytes()).expect("ack"));
    assert_eq!(code, "AA");
    // Too large: AR, then the connection is closed; the listener still serves others.
    let big = format!(
        "{}{}",
        oru("BIG", "62"),
        "NTE|1||".to_owned() + &"x".repeat(10_000)
    );
    let (code, _) = msa(&client.exchange(big.as_bytes()).expect("ack"));
    assert_eq!(code, "AR");
    assert!(
        client.receive().is_err(),
        "the connection is closed after an oversized frame"
    );
    let mut other = connect(server.address);
    let (code, _) = msa(&other.exchange(oru("OTHER", "63").as_bytes()).expect("ack"));
    assert_eq!(code, "AA");
}

#[test]
fn an_idle_connection_is_closed() {
    let server = server(ListenerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ListenerConfig::default()
    });
    let mut client = connect(server.address);
    let (code, _) = msa(&client.exchange(oru("I1", "70").as_bytes()).expect("ack"));
    assert_eq!(code, "AA");
    std::thread::sleep(Duration::from_millis(800));
    let closed = client.send(oru("I2", "70").as_bytes()).is_err() || client.receive().is_err();
    assert!(closed, "the idle connection was closed");
}

#[test]
fn every_ack_code_over_the_socket() {
    let server = server(ListenerConfig::default());
    let mut client = connect(server.address);
    let cases = [
        (oru("K1", "70"), "AA"),
        (oru("K2", "not-a-number"), "AE"),
        (oru("K3", "70").replace("ORU^R01", "ORU^R30"), "AR"),
        (oru("K4", "70").replace("2.5.1\r", "2.5.1|||AL|NE\r"), "CA"),
        (oru("K5", "x").replace("2.5.1\r", "2.5.1|||AL|NE\r"), "CE"),
        (
            oru("K6", "70")
                .replace("ORU^R01", "XYZ^R01")
                .replace("2.5.1\r", "2.5.1|||AL|NE\r"),
            "CR",
        ),
        (oru("K1", "70"), "AA"),
    ];
    for (message, expected) in cases {
        let (code, _) = msa(&client.exchange(message.as_bytes()).expect("ack"));
        assert_eq!(code, expected, "{message:?}");
    }
}
