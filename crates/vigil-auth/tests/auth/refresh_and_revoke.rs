//! Refresh-token rotation, revocation (RFC 7009) and introspection (RFC 7662).

use crate::support::*;
use axum::http::StatusCode;
use std::sync::Arc;
use vigil_auth::{AuthConfig, AuthServer, TokenError};

async fn refresh(harness: &Harness, token: &str, scope: Option<&str>) -> Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "app"),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    harness.post_form("/auth/token", &form, None).await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let harness = Harness::new();
    let first = harness
        .tokens("launch/patient patient/*.rs offline_access")
        .await;
    let refresh_1 = first["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    let second = refresh(&harness, &refresh_1, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let second = second.json();
    let refresh_2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(refresh_1, refresh_2);
    assert_eq!(second["patient"], "123");
    let access_2 = second["access_token"].as_str().expect("access").to_string();
    assert!(harness.server.verify(&access_2).is_ok());

    // Narrowing is allowed, widening is not.
    let narrowed = refresh(&harness, &refresh_2, Some("patient/*.rs offline_access"))
        .await
        .json();
    assert_eq!(narrowed["scope"], "patient/*.rs offline_access");
    assert!(
        narrowed.get("patient").is_none(),
        "no launch/patient, no patient context"
    );
    let refresh_3 = narrowed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    let widened = refresh(&harness, &refresh_3, Some("patient/*.rs user/*.cruds")).await;
    assert_eq!(widened.json()["error"], "invalid_scope");

    // refresh_1 again: theft detected, the whole grant is revoked.
    let reused = refresh(&harness, &refresh_1, None).await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.json()["error"], "invalid_grant");
    assert_eq!(harness.server.verify(&access_2), Err(TokenError::Revoked));
    assert_eq!(
        refresh(&harness, &refresh_3, None).await.json()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client_and_expire() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs online_access").await;
    let token = tokens["refresh_token"].as_str().expect("refresh");
    let stolen = harness
        .post_form(
            "/auth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert_eq!(stolen.json()["error"], "invalid_grant");
    harness.clock.advance(vigil_auth::ONLINE_REFRESH_LIFETIME);
    assert_eq!(
        refresh(&harness, token, None).await.json()["error"],
        "invalid_grant"
    );
    // Without offline_access or online_access there is no refresh token at all.
    let plain = harness.tokens("patient/*.rs").await;
    assert!(plain.get("refresh_token").is_none());
}

#[tokio::test]
async fn revoking_an_access_token_takes_effect_at_once() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs offline_access").await;
    let access = tokens["access_token"].as_str().expect("access");
    assert!(harness.server.verify(access).is_ok());
    let response = harness
        .post_form(
            "/auth/revoke",
            &[
                ("token", access),
                ("token_type_hint", "access_token"),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(harness.server.verify(access), Err(TokenError::Revoked));
    // Another server process on the same data directory sees it too.
    let other =
        Arc::new(AuthServer::open(&AuthConfig::new(BASE, harness.dir.path())).expect("open"));
    assert_eq!(other.verify(access), Err(TokenError::Revoked));
    // The refresh token of the grant still works: only the access token was revoked.
    let refreshed = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("refresh"),
                ),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    // Unknown tokens answer 200 too (RFC 7009 section 2.2).
    let unknown = harness
        .post_form(
            "/auth/revoke",
            &[("token", "no-such-token"), ("client_id", "app")],
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
    let missing = harness
        .post_form("/auth/revoke", &[("client_id", "app")], None)
        .await;
    assert_eq!(missing.json()["error"], "invalid_request");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant_but_not_for_another_client() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs offline_access").await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh");
    // Another client cannot revoke it.
    harness
        .post_form(
            "/auth/revoke",
            &[("token", refresh_token)],
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert!(harness.server.verify(access).is_ok());
    harness
        .post_form(
            "/auth/revoke",
            &[("token", refresh_token), ("client_id", "app")],
            None,
        )
        .await;
    assert_eq!(harness.server.verify(access), Err(TokenError::Revoked));
    let refreshed = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn introspection_describes_live_tokens_only() {
    let harness = Harness::new();
    let tokens = harness
        .tokens("launch/patient patient/*.rs offline_access")
        .await;
    let access = tokens["access_token"].as_str().expect("access");
    let auth = basic("backend", BACKEND_SECRET);
    let live = harness
        .post_form("/auth/introspect", &[("token", access)], Some(&auth))
        .await;
    assert_eq!(live.status, StatusCode::OK);
    let live = live.json();
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], "app");
    assert_eq!(live["sub"], "alice");
    assert_eq!(live["patient"], "123");
    assert_eq!(live["scope"], "launch/patient patient/*.rs offline_access");

    let refresh_token = tokens["refresh_token"].as_str().expect("refresh");
    let refresh_info = harness
        .post_form("/auth/introspect", &[("token", refresh_token)], Some(&auth))
        .await
        .json();
    assert_eq!(refresh_info["active"], true);
    assert_eq!(refresh_info["token_type"], "refresh_token");

    for token in ["garbage", "a.b.c"] {
        let dead = harness
            .post_form("/auth/introspect", &[("token", token)], Some(&auth))
            .await
            .json();
        assert_eq!(dead, serde_json::json!({"active": false}));
    }
    harness.clock.advance(3600);
    let expired = harness
        .post_form("/auth/introspect", &[("token", access)], Some(&auth))
        .await
        .json();
    assert_eq!(expired["active"], false);

    // Introspection needs an authenticated confidential client.
    let anonymous = harness
        .post_form(
            "/auth/introspect",
            &[("token", access), ("client_id", "app")],
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let nobody = harness
        .post_form("/auth/introspect", &[("token", access)], None)
        .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    let harness = Harness::new();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("client_id", "app")], "invalid_request"),
        (
            vec![("client_id", "app"), ("grant_type", "password")],
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", "app"), ("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", "app"),
                ("grant_type", "authorization_code"),
                ("code", "forged"),
            ],
            "invalid_grant",
        ),
        (
            vec![("client_id", "ghost"), ("grant_type", "client_credentials")],
            "invalid_client",
        ),
        (vec![("grant_type", "client_credentials")], "invalid_client"),
        (
            vec![
                ("client_id", "app"),
                ("client_id", "app"),
                ("grant_type", "refresh_token"),
            ],
            "invalid_request",
        ),
    ];
    for (form, error) in cases {
        let response = harness.post_form("/auth/token", &form, None).await;
        assert_eq!(response.json()["error"], error, "{form:?}");
        let expected = if error == "invalid_client" { 401 } else { 400 };
        assert_eq!(response.status.as_u16(), expected, "{form:?}");
    }
    let request = axum::http::Request::post("/auth/token")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .expect("request");
    let json_body = harness.send(request).await;
    assert_eq!(json_body.status, StatusCode::BAD_REQUEST);
    assert_eq!(json_body.json()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_working_token() {
    let harness = Arc::new(Harness::new());
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let harness = harness.clone();
        tasks.push(tokio::spawn(async move {
            let response = harness
                .post_form(
                    "/auth/token",
                    &[
                        ("grant_type", "client_credentials"),
                        ("scope", "system/*.rs"),
                    ],
                    Some(&basic("backend", BACKEND_SECRET)),
                )
                .await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            let token = response.json()["access_token"]
                .as_str()
                .expect("token")
                .to_string();
            let server = harness.server.clone();
            tokio::task::spawn_blocking(move || {
                for _ in 0..20 {
                    server.verify(&token).expect("verifies");
                }
                token
            })
            .await
            .expect("verify task")
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("task"));
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 12, "every token is distinct");
}
