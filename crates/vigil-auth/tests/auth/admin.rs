//! Administration (what `vigil user` and `vigil client` do), taking effect on a running server.

use crate::support::*;
use axum::http::StatusCode;
use vigil_auth::{AuthError, ClientCredential, ClientKind, NewClient, NewUser, TokenError};

fn user(username: &str, password: &str) -> NewUser {
    NewUser {
        username: username.into(),
        password: password.into(),
        patient: None,
        practitioner: None,
        roles: vec![],
    }
}

#[tokio::test]
async fn users_are_listed_without_secrets_and_bad_values_are_refused() {
    let harness = Harness::new();
    let users = harness.admin.list_users().expect("list");
    let names: Vec<&str> = users.iter().map(|user| user.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users[0].patient.as_deref(), Some("Patient/123"));
    assert_eq!(users[1].roles, ["clinician", "auditor"]);

    let refusals = [
        user("alice", "long-enough-password"),
        user("carol", "short"),
        user("bad name", "long-enough-password"),
        NewUser {
            patient: Some("Practitioner/1".into()),
            ..user("carol", "long-enough-password")
        },
        NewUser {
            roles: vec!["root".into()],
            ..user("carol", "long-enough-password")
        },
        NewUser {
            patient: Some("Patient/1".into()),
            practitioner: Some("Practitioner/1".into()),
            ..user("carol", "long-enough-password")
        },
    ];
    for new_user in refusals {
        let error = harness.admin.add_user(&new_user).expect_err("refused");
        assert!(
            matches!(error, AuthError::Invalid(_) | AuthError::AlreadyExists(_)),
            "{error}"
        );
    }
    // The stored hash is argon2id, never the password.
    let database = rusqlite_dump(harness.dir.path());
    assert!(database.contains("$argon2id$"));
    assert!(!database.contains(ALICE_PASSWORD));
}

/// The bytes of the auth database as text (to look for secrets in it).
fn rusqlite_dump(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for name in ["auth.sqlite", "auth.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_their_tokens_stop_working() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs").await;
    let access = tokens["access_token"].as_str().expect("access");
    harness.admin.disable_user("alice").expect("disable");
    assert_eq!(harness.server.verify(access), Err(TokenError::Revoked));
    assert!(harness.admin.list_users().expect("list")[0].disabled);
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, "d"))
        .await;
    let refused = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(refused.body.contains("Wrong user name or password"));
    assert!(matches!(
        harness.admin.disable_user("nobody"),
        Err(AuthError::NotFound(_))
    ));
}

#[tokio::test]
async fn rotating_a_password_takes_effect_on_the_running_server() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs").await;
    let generated = harness
        .admin
        .rotate_user("alice", None)
        .expect("rotate")
        .expect("a generated password");
    assert_eq!(
        harness
            .server
            .verify(tokens["access_token"].as_str().expect("access")),
        Err(TokenError::Revoked)
    );
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, "r"))
        .await;
    let old = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(old.body.contains("Wrong user name or password"));
    let new = harness
        .submit_login(&page, "alice", &generated, default_peer())
        .await;
    assert_eq!(
        new.status,
        StatusCode::SEE_OTHER,
        "granted before: no consent again"
    );
    assert_eq!(
        harness
            .admin
            .rotate_user("alice", Some("chosen-new-password"))
            .expect("rotate"),
        None
    );
    assert!(harness.admin.rotate_user("alice", Some("short")).is_err());
}

#[tokio::test]
async fn clients_are_added_listed_disabled_and_rotated() {
    let harness = Harness::new();
    let clients = harness.admin.list_clients().expect("list");
    let ids: Vec<&str> = clients.iter().map(|client| client.id.as_str()).collect();
    assert_eq!(ids, ["app", "backend", "conf"]);
    assert_eq!(clients[0].kind, ClientKind::Public);
    assert_eq!(clients[0].redirect_uris[0], REDIRECT);

    let refusals = [
        NewClient {
            id: "app".into(),
            credential: ClientCredential::Public,
            redirect_uris: vec![REDIRECT.into()],
            scopes: "patient/*.rs".into(),
        },
        NewClient {
            id: "no-redirect".into(),
            credential: ClientCredential::Public,
            redirect_uris: vec![],
            scopes: "patient/*.rs".into(),
        },
        NewClient {
            id: "fragment".into(),
            credential: ClientCredential::Public,
            redirect_uris: vec!["https://x.test/cb#frag".into()],
            scopes: "patient/*.rs".into(),
        },
        NewClient {
            id: "no-scope".into(),
            credential: ClientCredential::Secret("long-enough-secret".into()),
            redirect_uris: vec![],
            scopes: "  ".into(),
        },
        NewClient {
            id: "private-jwks".into(),
            credential: ClientCredential::Jwks(
                r#"{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}]}"#.into(),
            ),
            redirect_uris: vec![],
            scopes: "system/*.rs".into(),
        },
        NewClient {
            id: "not-json".into(),
            credential: ClientCredential::Jwks("keys".into()),
            redirect_uris: vec![],
            scopes: "system/*.rs".into(),
        },
    ];
    for client in refusals {
        assert!(harness.admin.add_client(&client).is_err(), "{}", client.id);
    }

    // Rotate the backend's secret: the old one stops working at once, the new one works.
    let token = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
            ],
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await
        .json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let secret = harness
        .admin
        .rotate_client("backend", None)
        .expect("rotate")
        .expect("generated secret");
    assert_eq!(harness.server.verify(&token), Err(TokenError::Revoked));
    let old = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
            ],
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
            ],
            Some(&basic("backend", &secret)),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(
        harness.admin.rotate_client("app", None).is_err(),
        "a public client has no secret"
    );

    // Disable the public app: authorize refuses it, its tokens stop working.
    let tokens = harness.tokens("patient/*.rs").await;
    harness.admin.disable_client("app").expect("disable");
    assert_eq!(
        harness
            .server
            .verify(tokens["access_token"].as_str().expect("access")),
        Err(TokenError::Revoked)
    );
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, "x"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let harness = Harness::new();
    let tokens = harness.tokens("patient/*.rs").await;
    let restarted =
        vigil_auth::AuthServer::open(&vigil_auth::AuthConfig::new(BASE, harness.dir.path()))
            .expect("reopen");
    assert!(
        restarted
            .verify(tokens["access_token"].as_str().expect("access"))
            .is_ok()
    );
    assert_eq!(restarted.jwks(), harness.server.jwks());
}

#[tokio::test]
async fn a_rotated_key_keeps_verifying_until_it_is_deleted() {
    use vigil_auth::{AuthConfig, AuthServer, PREVIOUS_SIGNING_KEY_FILE, SIGNING_KEY_FILE};
    let harness = Harness::new();
    let old = harness.tokens("patient/*.rs").await["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let dir = harness.dir.path();
    std::fs::rename(
        dir.join(SIGNING_KEY_FILE),
        dir.join(PREVIOUS_SIGNING_KEY_FILE),
    )
    .expect("retire the key");
    let rotated = AuthServer::open(&AuthConfig::new(BASE, dir)).expect("restart");
    let jwks = rotated.jwks();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(
        keys.len(),
        2,
        "the new key and the previous one are published"
    );
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    assert_eq!(keys[1], harness.server.jwks()["keys"][0]);
    assert!(
        rotated.verify(&old).is_ok(),
        "tokens of the previous key still verify"
    );

    std::fs::remove_file(dir.join(PREVIOUS_SIGNING_KEY_FILE)).expect("delete the old key");
    let without = AuthServer::open(&AuthConfig::new(BASE, dir)).expect("restart");
    assert_eq!(without.jwks()["keys"].as_array().expect("keys").len(), 1);
    assert_eq!(without.verify(&old), Err(TokenError::BadSignature));
}

#[tokio::test]
async fn a_token_checked_before_is_refused_right_after_its_user_is_disabled_elsewhere() {
    let harness = Harness::new();
    let access = harness.tokens("patient/*.rs").await["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    for _ in 0..3 {
        assert!(harness.server.verify(&access).is_ok(), "checked and cached");
    }
    // Another process's change (the CLI opens its own database handle).
    let cli = vigil_auth::Admin::open(harness.dir.path()).expect("admin");
    cli.disable_user("alice").expect("disable");
    assert_eq!(harness.server.verify(&access), Err(TokenError::Revoked));
}

#[test]
fn a_bad_configuration_is_refused_with_a_clear_error() {
    use vigil_auth::{AuthConfig, AuthServer};
    let dir = tempfile::tempdir().expect("dir");
    for base in [
        "",
        "ftp://x.test",
        "https://",
        "https://x.test/fhir?x=1",
        "x.test/fhir",
    ] {
        let error = AuthServer::open(&AuthConfig::new(base, dir.path())).err();
        assert!(matches!(error, Some(AuthError::Config(_))), "{base:?}");
    }
    for lifetime in [0, 3601] {
        let mut config = AuthConfig::new(BASE, dir.path());
        config.token_lifetime = lifetime;
        assert!(
            matches!(AuthServer::open(&config).err(), Some(AuthError::Config(_))),
            "{lifetime}"
        );
    }
    let mut config = AuthConfig::new(format!("{BASE}/"), dir.path());
    config.token_lifetime = 1;
    let server = AuthServer::open(&config).expect("trailing slash and 1 s are fine");
    assert_eq!(server.base_url(), BASE);
}
