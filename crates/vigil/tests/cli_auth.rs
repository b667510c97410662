//! `vigil client` and `vigil user` through the binary, against an authorization server that
//! keeps running on the same data directory: each change counts on its next request.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_auth::{AuthConfig, AuthServer, TokenError};

fn vigil(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command
        .args(&args[..2])
        .arg("--data")
        .arg(dir)
        .args(&args[2..]);
    command
        .env_remove("VIGIL_CLIENT_SECRET")
        .env_remove("VIGIL_USER_PASSWORD");
    command.output().expect("vigil runs")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One HTTP/1.1 request on loopback; returns the status and the body.
async fn post_form(address: SocketAddr, path: &str, body: &str, basic: &str) -> (u16, String) {
    use base64::Engine;
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let credentials = base64::engine::general_purpose::STANDARD.encode(basic);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nAuthorization: Basic {credentials}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

fn access_token(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
    value["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_user_commands_take_effect_on_a_running_server() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path();
    ok(&vigil(
        data,
        &[
            "client",
            "add",
            "--id",
            "backend",
            "--secret",
            "first-secret-value",
            "--scope",
            "system/*.rs",
        ],
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = Arc::new(
        AuthServer::open(&AuthConfig::new(format!("http://{address}"), data)).expect("server"),
    );
    let app = server.clone().router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let grant = "grant_type=client_credentials&scope=system%2F*.rs";

    let (status, body) =
        post_form(address, "/auth/token", grant, "backend:first-secret-value").await;
    assert_eq!(status, 200, "{body}");
    let first = access_token(&body);
    assert!(server.verify(&first).is_ok());

    // A client added while the server runs can get a token at once.
    ok(&vigil(
        data,
        &[
            "client",
            "add",
            "--id",
            "late",
            "--secret",
            "late-secret-value",
            "--scope",
            "system/*.rs",
        ],
    ));
    let (status, _) = post_form(address, "/auth/token", grant, "late:late-secret-value").await;
    assert_eq!(status, 200);

    // rotate: a new secret is printed, the old one and its token stop working.
    let printed = ok(&vigil(data, &["client", "rotate", "--id", "backend"]));
    let secret = printed
        .lines()
        .last()
        .expect("the new secret")
        .trim()
        .to_string();
    assert!(secret.len() >= 43, "{printed}");
    assert_eq!(server.verify(&first), Err(TokenError::Revoked));
    let (status, _) = post_form(address, "/auth/token", grant, "backend:first-secret-value").await;
    assert_eq!(status, 401);
    let (status, body) =
        post_form(address, "/auth/token", grant, &format!("backend:{secret}")).await;
    assert_eq!(status, 200, "{body}");
    let second = access_token(&body);

    // disable: the client's tokens and credentials stop working.
    ok(&vigil(data, &["client", "disable", "--id", "backend"]));
    assert_eq!(server.verify(&second), Err(TokenError::Revoked));
    let (status, body) =
        post_form(address, "/auth/token", grant, &format!("backend:{secret}")).await;
    assert_eq!(status, 401);
    assert!(body.contains("invalid_client"));

    let listing = ok(&vigil(data, &["client", "list"]));
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with("backend\tsecret\tdisabled")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with("late\tsecret\tactive")),
        "{listing}"
    );
    assert!(!listing.contains("argon2") && !listing.contains(&secret));
}

#[test]
fn user_commands_add_list_disable_and_rotate() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path();
    ok(&vigil(
        data,
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--password",
            "alice-password",
            "--patient",
            "Patient/123",
        ],
    ));
    ok(&vigil(
        data,
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--password",
            "bob-password",
            "--practitioner",
            "Practitioner/7",
            "--role",
            "clinician",
            "--role",
            "auditor",
        ],
    ));
    let listing = ok(&vigil(data, &["user", "list"]));
    assert!(
        listing.contains("alice\tactive\tPatient/123\t-"),
        "{listing}"
    );
    assert!(
        listing.contains("bob\tactive\tPractitioner/7\tclinician,auditor"),
        "{listing}"
    );
    assert!(!listing.contains("alice-password") && !listing.contains("argon2"));

    let rotated = ok(&vigil(data, &["user", "rotate", "--username", "alice"]));
    assert!(
        rotated
            .lines()
            .last()
            .is_some_and(|line| line.trim().len() >= 43),
        "{rotated}"
    );
    ok(&vigil(
        data,
        &[
            "user",
            "rotate",
            "--username",
            "bob",
            "--password",
            "bob-new-password",
        ],
    ));
    ok(&vigil(data, &["user", "disable", "--username", "bob"]));
    assert!(ok(&vigil(data, &["user", "list"])).contains("bob\tdisabled"));

    // Mistakes get one clear line and a non-zero exit.
    for args in [
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--password",
            "another-password",
        ][..],
        &["user", "add", "--username", "carol", "--password", "short"][..],
        &[
            "user",
            "add",
            "--username",
            "carol",
            "--password",
            "long-enough",
            "--patient",
            "Patient/",
        ][..],
        &["user", "disable", "--username", "nobody"][..],
        &[
            "user",
            "add",
            "--username",
            "dave",
            "--password",
            "long-enough",
            "--role",
            "root",
        ][..],
    ] {
        let output = vigil(data, args);
        assert!(!output.status.success(), "{args:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).trim().is_empty());
    }
    let output = vigil(
        data,
        &[
            "client",
            "add",
            "--id",
            "pub",
            "--public",
            "--scope",
            "patient/*.rs",
        ],
    );
    assert!(
        !output.status.success(),
        "a public client needs a redirect URI"
    );
    let output = vigil(
        data,
        &[
            "client",
            "add",
            "--id",
            "k",
            "--jwks",
            "/nonexistent.json",
            "--scope",
            "system/*.rs",
        ],
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWKS file"));
}
