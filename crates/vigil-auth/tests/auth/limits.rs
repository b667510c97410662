//! Failed logins are limited per user name and per client address.

use crate::support::*;
use axum::http::StatusCode;
use std::net::SocketAddr;
use vigil_auth::{ADDRESS_THRESHOLD, BASE_LOCKOUT, USER_THRESHOLD};

async fn login_page(harness: &Harness) -> (Response, Pkce) {
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, "bf"))
        .await;
    (page, pkce)
}

#[tokio::test]
async fn a_user_is_locked_out_after_repeated_failures_even_with_the_right_password() {
    let harness = Harness::new();
    let (page, _) = login_page(&harness).await;
    for attempt in 0..USER_THRESHOLD {
        let peer: SocketAddr = format!("127.0.0.{}:4000", attempt + 2)
            .parse()
            .expect("peer");
        let response = harness
            .submit_login(&page, "alice", "wrong-password", peer)
            .await;
        assert!(response.body.contains("Wrong user name or password"));
    }
    let locked = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert_eq!(locked.status, StatusCode::OK);
    assert!(
        locked.header("location").is_none(),
        "nothing issued while locked"
    );
    assert!(locked.body.contains("Too many failed sign-in attempts"));
    assert!(!locked.body.contains("value=\"allow\""));
    // Another user is not affected.
    let (bob_page, _) = login_page(&harness).await;
    let bob = harness
        .submit_login(&bob_page, "bob", BOB_PASSWORD, default_peer())
        .await;
    assert!(!bob.body.contains("Too many"));

    harness.clock.advance(BASE_LOCKOUT);
    let after = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(after.body.contains("value=\"allow\""), "the lockout ends");
    let events = harness.events.all();
    assert!(events.iter().any(|event| event.contains("LockedOut")));
}

#[tokio::test]
async fn the_lockout_doubles_with_each_further_failure() {
    let harness = Harness::new();
    let (page, _) = login_page(&harness).await;
    for _ in 0..USER_THRESHOLD {
        harness
            .submit_login(&page, "alice", "wrong-password", default_peer())
            .await;
    }
    harness.clock.advance(BASE_LOCKOUT);
    harness
        .submit_login(&page, "alice", "wrong-password", default_peer())
        .await;
    harness.clock.advance(BASE_LOCKOUT);
    let still = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(
        still.body.contains("Too many"),
        "the second lockout is twice as long"
    );
    harness.clock.advance(BASE_LOCKOUT);
    let after = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(after.body.contains("value=\"allow\""));
}

#[tokio::test]
async fn an_address_guessing_many_users_is_locked_out() {
    let harness = Harness::new();
    let (page, _) = login_page(&harness).await;
    let attacker: SocketAddr = "127.0.0.66:5555".parse().expect("peer");
    for attempt in 0..ADDRESS_THRESHOLD {
        harness
            .submit_login(&page, &format!("guess{attempt}"), "password1", attacker)
            .await;
    }
    let locked = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, attacker)
        .await;
    assert!(locked.body.contains("Too many"));
    let elsewhere = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(
        elsewhere.body.contains("value=\"allow\""),
        "other addresses are not locked"
    );
}

#[tokio::test]
async fn guessing_a_client_secret_is_limited_too() {
    let harness = Harness::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "system/*.rs"),
    ];
    for _ in 0..USER_THRESHOLD {
        let response = harness
            .post_form(
                "/auth/token",
                &form,
                Some(&basic("backend", "guessed-secret")),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let locked = harness
        .post_form(
            "/auth/token",
            &form,
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(
        locked.json()["error_description"]
            .as_str()
            .is_some_and(|text| text.contains("too many"))
    );
    harness.clock.advance(BASE_LOCKOUT);
    let after = harness
        .post_form(
            "/auth/token",
            &form,
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
}
