//! `vigil serve --tls-cert/--tls-key`: HTTPS with a certificate the client verifies, security
//! headers on the answers, and the listen-address rules (no plain HTTP and no `--dev` beyond
//! loopback).

#![allow(clippy::unwrap_used)]

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// A CA and a server certificate for `localhost` signed by it (PEM), and the CA's DER.
fn certificates() -> (String, String, Vec<u8>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    (server.pem(), server_key.serialize_pem(), ca.der().to_vec())
}

#[test]
fn serves_https_with_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificates();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--data",
        ])
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
    let address = line.trim().rsplit("https://").next().unwrap().to_owned();
    assert!(line.contains("https://"), "{line}");

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca))
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(&address).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(b"GET /metadata HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("strict-transport-security: max-age="),
        "{answer}"
    );
    assert!(
        answer.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(answer.contains("\"resourcetype\":\"capabilitystatement\""));

    // Plain HTTP to the TLS port gets no FHIR answer.
    let mut plain = TcpStream::connect(&address).unwrap();
    plain
        .write_all(b"GET /metadata HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let mut buffer = Vec::new();
    let _ = plain.read_to_end(&mut buffer);
    // The TLS listener answers plain text with no HTTP response at all (a TLS alert or a
    // closed connection).
    assert!(
        !String::from_utf8_lossy(&buffer).starts_with("HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&buffer)
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn beyond_loopback_plain_http_and_dev_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [&["--dev"][..], &[][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["serve", "--listen", "0.0.0.0:0", "--data"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("loopback"), "{stderr}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args([
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("certificate"));
}
