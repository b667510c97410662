//! The HTTP edge of `vigil serve`, through the real server and raw sockets: timeouts (header,
//! body, idle), the connection cap, OperationOutcome bodies for what is refused below the
//! FHIR layer (414, 431, 400, 501, 415, 413), gzip request bodies, the peer address reaching
//! the audit trail, graceful shutdown with an idle connection open, the same over TLS, and the
//! MLLP listener closing a half-sent frame.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Vigil;

/// One answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    /// The answer is an OperationOutcome whose (first) issue has `code`.
    fn assert_outcome(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/fhir+json")),
            "{self:?}"
        );
        let outcome: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{self:?}");
        assert_eq!(outcome["issue"][0]["code"], code, "{self:?}");
        assert!(outcome["issue"][0]["diagnostics"].is_string(), "{self:?}");
    }
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads one answer (its body by `Content-Length`) from `stream`.
fn read_answer(stream: &mut impl Read) -> std::io::Result<Answer> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {:?}", String::from_utf8_lossy(&raw)),
            ));
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    answer.body = String::from_utf8_lossy(&body).into_owned();
    Ok(answer)
}

/// Sends `raw` on a new connection and reads the one answer.
fn exchange(address: SocketAddr, raw: &[u8]) -> Answer {
    let mut stream = connect(address);
    // The server may answer (and close) before reading all of an oversized request.
    let _ = stream.write_all(raw);
    read_answer(&mut stream).unwrap()
}

/// Waits until the server closes `stream` (a read gives end of file or a reset), within
/// `limit`; returns how long that took.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
        }
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(
        dir.path(),
        &[
            "--no-cds",
            "--idle-timeout-secs",
            "1",
            "--header-timeout-secs",
            "5",
        ],
    );
    let mut stream = connect(server.address);
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        stream.write_all(&get("/metadata")).unwrap();
        assert_eq!(read_answer(&mut stream).unwrap().status, 200);
    }
    let waited = closed_within(&mut stream, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
}

#[test]
fn half_sent_headers_are_cut_off_by_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(
        dir.path(),
        &[
            "--no-cds",
            "--header-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "30",
        ],
    );
    // Half a header section, then silence.
    let mut half = connect(server.address);
    half.write_all(b"GET /metadata HTTP/1.1\r\nHost: localhost\r\nAccept: appl")
        .unwrap();
    let waited = closed_within(&mut half, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    // A connection that never sends anything gets the same time.
    let mut silent = connect(server.address);
    let waited = closed_within(&mut silent, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    // After an answer, the next request's header section gets the header time from its first
    // byte, not the (longer) idle time.
    let mut stream = connect(server.address);
    stream.write_all(&get("/metadata")).unwrap();
    assert_eq!(read_answer(&mut stream).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    stream.write_all(b"GET /metadata HTTP/1.1\r\n").unwrap();
    let waited = closed_within(&mut stream, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    // A request sent whole is still answered.
    assert_eq!(exchange(server.address, &get("/metadata")).status, 200);
}

#[test]
fn a_stalled_body_gets_408_and_the_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds", "--body-timeout-secs", "1"]);
    // Content-Length promises 100 bytes; 10 arrive.
    let mut stream = connect(server.address);
    stream
        .write_all(b"POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: 100\r\n\r\n{\"resource")
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream).unwrap();
    answer.assert_outcome(408, "timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(answer.header("connection"), Some("close"));
    closed_within(&mut stream, Duration::from_secs(5));
    // A chunked body that stops mid-chunk.
    let mut stream = connect(server.address);
    stream
        .write_all(b"POST /Patient/_search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nname=")
        .unwrap();
    read_answer(&mut stream)
        .unwrap()
        .assert_outcome(408, "timeout");
    // A body that keeps coming, slower than the timeout in total but never stalling that
    // long, is read.
    let body = br#"{"resourceType":"Patient","active":true}"#;
    let mut stream = connect(server.address);
    stream
        .write_all(
            format!(
                "POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    for piece in body.chunks(10) {
        std::thread::sleep(Duration::from_millis(400));
        stream.write_all(piece).unwrap();
    }
    assert_eq!(read_answer(&mut stream).unwrap().status, 201);
}

#[test]
fn beyond_the_connection_cap_new_connections_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds", "--max-connections", "2"]);
    let mut first = connect(server.address);
    let mut second = connect(server.address);
    for stream in [&mut first, &mut second] {
        stream.write_all(&get("/metadata")).unwrap();
        assert_eq!(read_answer(stream).unwrap().status, 200);
    }
    // The third connection is queued, not accepted: its request waits.
    let mut third = connect(server.address);
    third.write_all(&get("/metadata")).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waiting = third.read(&mut byte).unwrap_err();
    assert!(
        matches!(waiting.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{waiting}"
    );
    // One closes: the third is served.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(read_answer(&mut third).unwrap().status, 200);
    drop(second);
    drop(third);
    assert_eq!(exchange(server.address, &get("/metadata")).status, 200);
}

#[test]
fn refusals_below_the_fhir_layer_are_operation_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds", "--max-body-bytes", "100000"]);
    let address = server.address;
    // 414: a request target past 8 KiB (below hyper's own limit: our answer).
    let long = format!("/Patient?name={}", "a".repeat(9000));
    let answer = exchange(address, &get(&long));
    answer.assert_outcome(414, "too-long");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    // The same on a path no route serves (the fallback).
    let long = format!("/a/b/c/d/e?q={}", "a".repeat(9000));
    exchange(address, &get(&long)).assert_outcome(414, "too-long");
    // 431: a header section past 64 KiB, and more than 100 header fields (hyper's answers,
    // dressed as OperationOutcomes).
    let big = format!(
        "GET /metadata HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let answer = exchange(address, big.as_bytes());
    answer.assert_outcome(431, "too-long");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /metadata HTTP/1.1\r\nHost: localhost\r\n{many}\r\n");
    exchange(address, many.as_bytes()).assert_outcome(431, "too-long");
    let some: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
    let some = format!("GET /metadata HTTP/1.1\r\nHost: localhost\r\n{some}\r\n");
    assert_eq!(exchange(address, some.as_bytes()).status, 200);
    // 400: a header line without a colon, a control character in a value, a Content-Length
    // that is not a number, two that disagree, and a Transfer-Encoding not ending in chunked.
    for raw in [
        "GET /metadata HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n",
        "GET /metadata HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\u{1}b\r\n\r\n",
        "POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Length: ten\r\n\r\n",
        "POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "POST /Patient HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET /metadata HTTP/9.9\r\nHost: localhost\r\n\r\n",
    ] {
        let answer = exchange(address, raw.as_bytes());
        assert_eq!(answer.header("connection"), Some("close"), "{raw:?}");
        answer.assert_outcome(400, "invalid");
    }
    // 501: a transfer coding other than chunked before chunked.
    exchange(
        address,
        b"POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    .assert_outcome(501, "not-supported");
    // 415: a content coding other than gzip and identity.
    exchange(
        address,
        &post("/Patient", "Content-Encoding: br\r\n", b"{}"),
    )
    .assert_outcome(415, "not-supported");
    // 413: a declared body over the limit, before any of it is read.
    exchange(
        address,
        b"POST /Patient HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: 100001\r\n\r\n",
    )
    .assert_outcome(413, "too-long");
    // The server still answers normally.
    assert_eq!(exchange(address, &get("/metadata")).status, 200);
}

#[test]
fn gzip_bodies_are_decoded_within_the_body_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds", "--max-body-bytes", "100000"]);
    let address = server.address;
    let patient = br#"{"resourceType":"Patient","name":[{"family":"Gzipped"}]}"#;
    let answer = exchange(
        address,
        &post("/Patient", "Content-Encoding: gzip\r\n", &gzip(patient)),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    let location = answer.header("location").unwrap().to_owned();
    let path = location
        .find("/Patient/")
        .map(|at| location[at..].split("/_history").next().unwrap().to_owned())
        .unwrap();
    let read = exchange(address, &get(&path));
    assert_eq!(read.status, 200);
    assert!(read.body.contains("Gzipped"), "{read:?}");
    // A gzip bomb: 50 MB of zeros in about 50 KB; refused once the decoded size passes the
    // limit.
    let bomb = gzip(&vec![0u8; 50_000_000]);
    assert!(bomb.len() < 100_000);
    exchange(
        address,
        &post("/Patient", "Content-Encoding: gzip\r\n", &bomb),
    )
    .assert_outcome(413, "too-long");
    // Not gzip at all.
    exchange(
        address,
        &post("/Patient", "Content-Encoding: gzip\r\n", patient),
    )
    .assert_outcome(400, "invalid");
    // gzip over a chunked transfer, on the search endpoint (a form).
    let form = gzip(b"family=Gzipped");
    let mut raw = format!(
        "POST /Patient/_search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        form.len()
    )
    .into_bytes();
    raw.extend_from_slice(&form);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let found = exchange(address, &raw);
    assert_eq!(found.status, 200, "{found:?}");
    let bundle: serde_json::Value = serde_json::from_str(&found.body).unwrap();
    assert_eq!(bundle["total"], 1, "{bundle}");
}

#[test]
fn the_peer_address_reaches_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds"]);
    let created = exchange(
        server.address,
        &post("/Patient", "", br#"{"resourceType":"Patient"}"#),
    );
    assert_eq!(created.status, 201);
    let start = Instant::now();
    loop {
        let events = exchange(server.address, &get("/AuditEvent?_count=50"));
        if events.body.contains(r#""address":"127.0.0.1""#) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no audit event with the peer address: {}",
            events.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn shutdown_is_prompt_with_an_idle_connection_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Vigil::start_with(dir.path(), &["--no-cds"]);
    let mut idle = connect(server.address);
    idle.write_all(&get("/metadata")).unwrap();
    assert_eq!(read_answer(&mut idle).unwrap().status, 200);
    let start = Instant::now();
    assert!(server.terminate(), "clean exit");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    closed_within(&mut idle, Duration::from_secs(5));
}

/// A self-signed certificate for `localhost` (PEM) for the TLS test.
fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Accepts any server certificate: the test checks the HTTP edge, not the TLS setup
/// (tests/tls.rs does).
#[derive(Debug)]
struct AnyCertificate(Vec<rustls::SignatureScheme>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.clone()
    }
}

#[test]
fn over_tls_the_same_limits_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--dev",
            "--no-cds",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .args(["--header-timeout-secs", "1", "--data"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address: SocketAddr = line
        .trim()
        .rsplit("https://")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let config = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate(schemes)))
            .with_no_client_auth(),
    );
    let tls = |address: SocketAddr| {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(config.clone(), name).unwrap();
        rustls::StreamOwned::new(connection, connect(address))
    };
    // hyper's own 431, as an OperationOutcome, with HSTS.
    let mut stream = tls(address);
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    stream
        .write_all(format!("GET /metadata HTTP/1.1\r\nHost: localhost\r\n{many}\r\n").as_bytes())
        .unwrap();
    let answer = read_answer(&mut stream).unwrap();
    answer.assert_outcome(431, "too-long");
    assert!(
        answer.header("strict-transport-security").is_some(),
        "{answer:?}"
    );
    // Half a header section: closed after the header timeout.
    let mut stream = tls(address);
    stream
        .write_all(b"GET /metadata HTTP/1.1\r\nHost: loc")
        .unwrap();
    let start = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    // A whole request is answered.
    let mut stream = tls(address);
    stream.write_all(&get("/metadata")).unwrap();
    assert_eq!(read_answer(&mut stream).unwrap().status, 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn mllp_closes_a_half_sent_frame_after_its_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, mllp) =
        Vigil::start_with_mllp(dir.path(), &["--no-cds", "--mllp-idle-timeout", "1"]);
    let mut stream = connect(mllp);
    // A start block and half a message, never its end block.
    stream
        .write_all(b"\x0bMSH|^~\\&|LAB|HOSP|VIGIL|HOSP|20240101120000||ORU^R01|H1|P|2.5.1\rPID|1||")
        .unwrap();
    let waited = closed_within(&mut stream, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
}
