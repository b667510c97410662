//! What authentication costs per request: `AuthServer::verify` of a live access token (ES256
//! signature, claims, one SQLite lookup), and one argon2id password check (a login).

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;
use vigil_auth::{Admin, AuthConfig, AuthServer, ClientCredential, NewClient, NewUser};

fn issue_token(server: &Arc<AuthServer>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let request = Request::post("/auth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::AUTHORIZATION,
                // backend:bench-secret-value
                "Basic YmFja2VuZDpiZW5jaC1zZWNyZXQtdmFsdWU=",
            )
            .body(Body::from(
                "grant_type=client_credentials&scope=system%2F*.rs",
            ))
            .expect("request");
        let response = server
            .clone()
            .router()
            .oneshot(request)
            .await
            .expect("answer");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        body["access_token"].as_str().expect("token").to_string()
    })
}

fn benches(criterion: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let admin = Admin::open(dir.path()).expect("admin");
    admin
        .add_client(&NewClient {
            id: "backend".into(),
            credential: ClientCredential::Secret("bench-secret-value".into()),
            redirect_uris: vec![],
            scopes: "system/*.rs".into(),
        })
        .expect("client");
    admin
        .add_user(&NewUser {
            username: "alice".into(),
            password: "alice-password".into(),
            patient: None,
            practitioner: None,
            roles: vec![],
        })
        .expect("user");
    let server = Arc::new(
        AuthServer::open(&AuthConfig::new("http://127.0.0.1:8080/fhir", dir.path()))
            .expect("server"),
    );
    let token = issue_token(&server);
    criterion.bench_function("verify a live access token", |bench| {
        bench.iter(|| server.verify(&token).expect("valid"))
    });
    // A server with another base URL on the same key: the full ES256 check runs, then the
    // audience is refused (refusals are never cached): the cost of a token's first request.
    let elsewhere = AuthServer::open(&AuthConfig::new("http://elsewhere.test/fhir", dir.path()))
        .expect("server");
    criterion.bench_function(
        "verify signature and claims (first request of a token)",
        |bench| bench.iter(|| elsewhere.verify(&token).expect_err("other audience")),
    );
    criterion.bench_function("refuse a forged token", |bench| {
        let forged = format!("{}x", &token[..token.len() - 1]);
        bench.iter(|| server.verify(&forged).expect_err("forged"))
    });
    criterion.bench_function("rotate a client secret (one argon2id hash)", |bench| {
        bench.iter(|| admin.rotate_client("backend", None).expect("rotate"))
    });
}

criterion_group! {
    name = auth;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(auth);
