//! The browser side of a standalone launch: login form, consent, redirect, code exchange, PKCE.

use crate::support::*;
use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use vigil_auth::{Subject, TokenError};

#[tokio::test]
async fn a_standalone_patient_launch_with_pkce_issues_every_token() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let scopes = "launch/patient openid fhirUser patient/*.rs offline_access";
    let page = harness
        .authorize(&app_request(scopes, &pkce, "xyz-state"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<form").count(), 1, "one form");
    assert!(page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("frame-ancestors 'none'"))
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));

    let consent = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert_eq!(
        consent.status,
        StatusCode::OK,
        "first launch asks for consent"
    );
    assert_eq!(consent.body.matches("<form").count(), 1);
    assert!(consent.body.contains("patient/*.rs"));
    assert_eq!(consent.header("x-frame-options"), Some("DENY"));

    let redirect = harness.submit_consent(&consent, "allow").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redirect.location_param("state").as_deref(),
        Some("xyz-state")
    );
    let code = redirect.location_param("code").expect("code");

    let response = harness.exchange(&code, &pkce.verifier).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], scopes);
    assert_eq!(body["patient"], "123");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|token| token.len() >= 43)
    );

    let access = body["access_token"].as_str().expect("access token");
    let claims = payload(access);
    assert_eq!(claims["iss"], BASE);
    assert_eq!(claims["aud"], BASE);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], "app");
    assert_eq!(claims["patient"], "123");
    assert_eq!(claims["fhirUser"], "Patient/123");
    assert!(claims["jti"].as_str().is_some());
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 3600);

    // The id token verifies against /auth/jwks, for the client, from the base URL.
    let jwks = harness.get("/auth/jwks").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "ES256");
    let decoding = DecodingKey::from_ec_components(
        key["x"].as_str().expect("x"),
        key["y"].as_str().expect("y"),
    )
    .expect("jwk");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["app"]);
    validation.set_issuer(&[BASE]);
    let id_token = body["id_token"]
        .as_str()
        .expect("id_token for openid fhirUser");
    let id = jsonwebtoken::decode::<serde_json::Value>(id_token, &decoding, &validation)
        .expect("id token verifies")
        .claims;
    assert_eq!(id["fhirUser"], format!("{BASE}/Patient/123"));
    assert_eq!(id["sub"], "alice");

    let verified = harness.server.verify(access).expect("the token verifies");
    assert_eq!(verified.subject, Subject::User { id: "alice".into() });
    assert_eq!(verified.client_id, "app");
    assert_eq!(verified.patient.as_deref(), Some("123"));
    assert_eq!(verified.fhir_user.as_deref(), Some("Patient/123"));
    assert!(verified.scopes.contains(&"patient/*.rs".to_string()));
    assert_eq!(verified.expires_at, claims["exp"].as_i64().expect("exp"));

    let events = harness.events.all();
    assert!(
        events
            .iter()
            .any(|event| event.starts_with("login ok alice app"))
    );
    assert!(
        events
            .iter()
            .any(|event| event.starts_with("token app User"))
    );
    assert!(
        events.iter().all(|event| !event.contains(ALICE_PASSWORD)
            && !event.contains(&code)
            && !event.contains(access)),
        "events carry no password, code or token"
    );
}

#[tokio::test]
async fn the_second_launch_skips_consent_and_new_scopes_ask_again() {
    let harness = Harness::new();
    harness.tokens("launch/patient patient/*.rs").await;
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("launch/patient patient/*.rs", &pkce, "again"))
        .await;
    let redirect = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert_eq!(
        redirect.status,
        StatusCode::SEE_OTHER,
        "no consent the second time"
    );
    assert!(redirect.location_param("code").is_some());

    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request(
            "launch/patient patient/*.rs offline_access",
            &pkce,
            "more",
        ))
        .await;
    let consent = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert_eq!(consent.status, StatusCode::OK, "a new scope asks again");
    assert!(consent.body.contains("offline_access"));
}

#[tokio::test]
async fn a_bad_password_shows_the_form_again_and_issues_nothing() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs launch/patient", &pkce, "st"))
        .await;
    let again = harness
        .submit_login(&page, "alice", "not-her-password", default_peer())
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.header("location").is_none());
    assert!(again.body.contains("Wrong user name or password"));
    assert!(
        again.body.contains("name=\"username\" value=\"alice\""),
        "the name is kept"
    );
    assert!(
        !again.body.contains("not-her-password"),
        "the password is not"
    );
    assert!(again.body.contains("name=\"password\""));
    // An unknown user gets the same answer.
    let unknown = harness
        .submit_login(&page, "<b>mallory\"", "whatever-password", default_peer())
        .await;
    assert!(unknown.body.contains("Wrong user name or password"));
    assert!(
        unknown.body.contains("value=\"&lt;b&gt;mallory&quot;\""),
        "the name is escaped"
    );
    // The form still carries the request: logging in from it works.
    let consent = harness
        .submit_login(&again, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(consent.body.contains("value=\"allow\""));
    let events = harness.events.all();
    assert!(
        events
            .iter()
            .any(|event| event.starts_with("login failed alice app"))
    );
    assert!(
        events
            .iter()
            .all(|event| !event.contains("not-her-password"))
    );
}

#[tokio::test]
async fn denying_consent_redirects_with_access_denied_and_state() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, "deny-state"))
        .await;
    let consent = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    let redirect = harness.submit_consent(&consent, "deny").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redirect.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        redirect.location_param("state").as_deref(),
        Some("deny-state")
    );
    assert!(redirect.location_param("code").is_none());
    // The consent form cannot be answered twice.
    let replay = harness.submit_consent(&consent, "allow").await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.header("location").is_none());
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked() {
    let harness = Harness::new();
    let pkce = Pkce::new();

    // A public client without a challenge: refused before any login.
    let mut request = app_request("patient/*.rs", &pkce, "p1");
    request.retain(|(name, _)| !name.starts_with("code_challenge"));
    let refused = harness.authorize(&request).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refused.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(refused.location_param("state").as_deref(), Some("p1"));

    // plain is refused.
    let mut request = app_request("patient/*.rs", &pkce, "p2");
    for (name, value) in &mut request {
        if *name == "code_challenge_method" {
            *value = "plain";
        }
    }
    let refused = harness.authorize(&request).await;
    assert_eq!(
        refused.location_param("error").as_deref(),
        Some("invalid_request")
    );

    // A wrong verifier, then a missing one.
    for verifier in [Some(Pkce::new().verifier), None] {
        let redirect = harness.launch("patient/*.rs", &pkce, "p3").await;
        let code = redirect.location_param("code").expect("code");
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "app"),
        ];
        if let Some(verifier) = &verifier {
            form.push(("code_verifier", verifier.as_str()));
        }
        let response = harness.post_form("/auth/token", &form, None).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.body
        );
        assert_eq!(response.json()["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let redirect = harness
        .launch("patient/*.rs offline_access", &pkce, "r")
        .await;
    let code = redirect.location_param("code").expect("code");
    let first = harness.exchange(&code, &pkce.verifier).await.json();
    let access = first["access_token"].as_str().expect("token");
    assert!(harness.server.verify(access).is_ok());

    let second = harness.exchange(&code, &pkce.verifier).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json()["error"], "invalid_grant");
    assert_eq!(harness.server.verify(access), Err(TokenError::Revoked));
    let refresh = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    first["refresh_token"].as_str().expect("refresh"),
                ),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(refresh.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let redirect = harness.launch("patient/*.rs", &pkce, "e").await;
    let code = redirect.location_param("code").expect("code");
    harness.clock.advance(vigil_auth::CODE_LIFETIME);
    let response = harness.exchange(&code, &pkce.verifier).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let redirect = harness.launch("patient/*.rs", &pkce, "b").await;
    let code = redirect.location_param("code").expect("code");
    let response = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://app.test/other"),
                ("client_id", "app"),
                ("code_verifier", pkce.verifier.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(response.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn bad_clients_and_redirect_uris_are_shown_not_redirected() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    for (name, value) in [
        ("client_id", "nobody"),
        ("redirect_uri", "https://evil.test/callback"),
        ("redirect_uri", "https://app.test/callback/extra"),
    ] {
        let mut request = app_request("patient/*.rs", &pkce, "s");
        for (key, current) in &mut request {
            if *key == name {
                *current = value;
            }
        }
        let response = harness.authorize(&request).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{name}={value}");
        assert!(response.header("location").is_none());
        assert!(!response.body.contains("name=\"password\""));
    }
}

#[tokio::test]
async fn a_wrong_aud_response_type_or_scope_is_redirected_as_an_error() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let cases = [
        ("aud", "https://other.test/fhir", "invalid_request"),
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "user/*.cruds system/*.rs", "invalid_scope"),
    ];
    for (name, value, error) in cases {
        let mut request = app_request("patient/*.rs", &pkce, "s");
        for (key, current) in &mut request {
            if *key == name {
                *current = value;
            }
        }
        let response = harness.authorize(&request).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            response.location_param("error").as_deref(),
            Some(error),
            "{name}"
        );
    }
    let mut without_aud = app_request("patient/*.rs", &pkce, "s");
    without_aud.retain(|(name, _)| *name != "aud");
    let response = harness.authorize(&without_aud).await;
    assert_eq!(
        response.location_param("error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn values_put_in_the_page_are_escaped() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let hostile = "\"><script>alert(1)</script>";
    let page = harness
        .authorize(&app_request("patient/*.rs", &pkce, hostile))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>"));
    assert!(page.body.contains("&quot;&gt;&lt;script&gt;"));
    // The state survives the round trip unchanged.
    let consent = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    let redirect = harness.submit_consent(&consent, "allow").await;
    assert_eq!(redirect.location_param("state").as_deref(), Some(hostile));
}

#[tokio::test]
async fn a_practitioner_gets_fhir_user_and_no_patient_context() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let request = vec![
        ("response_type", "code"),
        ("client_id", "conf"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid fhirUser user/*.rs online_access"),
        ("state", "pr"),
        ("aud", BASE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = harness.authorize(&request).await;
    let consent = harness
        .submit_login(&page, "bob", BOB_PASSWORD, default_peer())
        .await;
    let redirect = harness.submit_consent(&consent, "allow").await;
    let code = redirect.location_param("code").expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    // A confidential client must authenticate.
    let unauthenticated = harness
        .post_form(
            "/auth/token",
            &[&form[..], &[("client_id", "conf")]].concat(),
            None,
        )
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthenticated.json()["error"], "invalid_client");
    // The failed attempt did not consume the code's single use: it was refused before.
    let response = harness
        .post_form("/auth/token", &form, Some(&basic("conf", CONF_SECRET)))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let body = response.json();
    assert!(body.get("patient").is_none());
    assert!(
        body["refresh_token"].is_string(),
        "online_access gives a refresh token"
    );
    assert_eq!(
        payload(body["id_token"].as_str().expect("id"))
            .get("fhirUser")
            .and_then(|v| v.as_str()),
        Some(format!("{BASE}/Practitioner/456").as_str())
    );
    let verified = harness
        .server
        .verify(body["access_token"].as_str().expect("token"))
        .expect("verifies");
    assert_eq!(verified.fhir_user.as_deref(), Some("Practitioner/456"));
    assert_eq!(
        verified.roles,
        vec!["clinician".to_string(), "auditor".to_string()]
    );
    assert_eq!(verified.patient, None);
}

#[tokio::test]
async fn discovery_documents_list_the_smart_capabilities() {
    let harness = Harness::new();
    let response = harness.get("/.well-known/smart-configuration").await;
    assert_eq!(response.status, StatusCode::OK);
    let config = response.json();
    for capability in [
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "permission-v1",
        "permission-v2",
        "permission-patient",
        "permission-user",
        "context-standalone-patient",
        "sso-openid-connect",
    ] {
        assert!(
            config["capabilities"]
                .as_array()
                .expect("capabilities")
                .iter()
                .any(|value| value == capability),
            "{capability}"
        );
    }
    assert_eq!(
        config["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        config["authorization_endpoint"],
        format!("{BASE}/auth/authorize")
    );
    assert_eq!(config["token_endpoint"], format!("{BASE}/auth/token"));
    assert_eq!(
        config["introspection_endpoint"],
        format!("{BASE}/auth/introspect")
    );
    assert_eq!(config["revocation_endpoint"], format!("{BASE}/auth/revoke"));
    assert_eq!(config["jwks_uri"], format!("{BASE}/auth/jwks"));
    let methods = &config["token_endpoint_auth_methods_supported"];
    assert!(
        methods
            .as_array()
            .expect("methods")
            .iter()
            .any(|m| m == "client_secret_basic")
    );
    assert!(
        methods
            .as_array()
            .expect("methods")
            .iter()
            .any(|m| m == "private_key_jwt")
    );
    assert_eq!(
        config["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["RS384", "ES384"])
    );
    let security = harness.server.capability_security();
    assert_eq!(
        security["extension"][0]["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    let uris = harness.server.oauth_uris();
    assert_eq!(uris.token, format!("{BASE}/auth/token"));
}

#[tokio::test]
async fn the_authorize_request_may_be_posted_and_repeated_parameters_are_refused() {
    let harness = Harness::new();
    let pkce = Pkce::new();
    let request = app_request("patient/*.rs", &pkce, "posted");
    let page = harness.post_form("/auth/authorize", &request, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("name=\"password\""));
    let consent = harness
        .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
        .await;
    assert!(consent.body.contains("value=\"allow\""));

    let mut repeated = app_request("patient/*.rs", &pkce, "r");
    repeated.push(("scope", "user/*.cruds"));
    let refused = harness.authorize(&repeated).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.header("location").is_none());

    let openid = harness
        .get("/.well-known/openid-configuration")
        .await
        .json();
    assert_eq!(openid["issuer"], BASE);
    assert_eq!(openid["jwks_uri"], format!("{BASE}/auth/jwks"));
}
