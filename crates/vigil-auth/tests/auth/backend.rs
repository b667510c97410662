//! Backend services: client_credentials with client_secret_basic and private_key_jwt
//! (RS384 and ES384 assertions, keys generated here).

use crate::support::*;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;
use std::sync::OnceLock;
use vigil_auth::{ClientCredential, NewClient, Subject};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair: the signing key and its public JWK.
pub struct ClientKey {
    pub encoding: EncodingKey,
    pub jwk: serde_json::Value,
    pub alg: Algorithm,
}

pub fn es384_key(kid: &str) -> ClientKey {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).expect("P-384 key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("parse");
    let point = pair.public_key().as_ref();
    ClientKey {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384",
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
            "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
        }),
        alg: Algorithm::ES384,
    }
}

/// RSA key generation is slow in a debug build: one key per test binary (and a second for
/// the wrong-key case).
pub fn rs384_key(which: usize) -> &'static ClientKey {
    static KEYS: OnceLock<Vec<ClientKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..2)
            .map(|index| {
                let private =
                    rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
                let der = private.to_pkcs1_der().expect("PKCS#1");
                ClientKey {
                    encoding: EncodingKey::from_rsa_der(der.as_bytes()),
                    jwk: json!({
                        "kty": "RSA", "kid": format!("rsa-{index}"), "alg": "RS384",
                        "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                        "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
                    }),
                    alg: Algorithm::RS384,
                }
            })
            .collect()
    })[which]
}

pub fn register_jwks_client(harness: &Harness, id: &str, keys: &[&ClientKey]) {
    let jwks = json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() });
    harness
        .admin
        .add_client(&NewClient {
            id: id.into(),
            credential: ClientCredential::Jwks(jwks.to_string()),
            redirect_uris: vec![],
            scopes: "system/*.rs".into(),
        })
        .expect("jwks client");
}

pub fn assertion(key: &ClientKey, claims: serde_json::Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = key.jwk["kid"].as_str().map(str::to_string);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, &claims, &key.encoding).expect("sign assertion")
}

pub fn claims(harness: &Harness, client_id: &str, jti: &str) -> serde_json::Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{BASE}/auth/token"),
        "exp": vigil_auth::Clock::now(harness.clock.as_ref()) + 240,
        "jti": jti,
    })
}

async fn request_with_assertion(harness: &Harness, assertion: &str) -> Response {
    harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
            ],
            None,
        )
        .await
}

#[tokio::test]
async fn client_credentials_with_client_secret_basic() {
    let harness = Harness::new();
    let response = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs user/*.rs"),
            ],
            Some(&basic("backend", BACKEND_SECRET)),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(
        body["scope"], "system/*.rs",
        "only registered scopes are granted"
    );
    assert!(body.get("refresh_token").is_none());
    let verified = harness
        .server
        .verify(body["access_token"].as_str().expect("token"))
        .expect("verifies");
    assert_eq!(
        verified.subject,
        Subject::Client {
            id: "backend".into()
        }
    );
    assert_eq!(verified.patient, None);

    let wrong = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
            ],
            Some(&basic("backend", "not-the-secret")),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(
        wrong
            .header("www-authenticate")
            .is_some_and(|value| value.starts_with("Basic"))
    );
    let events = harness.events.all();
    assert!(
        events.iter().any(|event| event
            == "refused Some(\"backend\") Some(\"client_credentials\") invalid_client"),
        "{events:?}"
    );
    assert!(events.iter().all(|event| !event.contains("not-the-secret")));

    let public = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "patient/*.rs"),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
    assert_eq!(public.json()["error"], "unauthorized_client");

    let secret_in_body = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
                ("client_id", "backend"),
                ("client_secret", BACKEND_SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(secret_in_body.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn private_key_jwt_with_es384_and_jti_replay() {
    let harness = Harness::new();
    let key = es384_key("es-1");
    register_jwks_client(&harness, "backend-es", &[&key]);
    let signed = assertion(&key, claims(&harness, "backend-es", "jti-1"));
    let response = request_with_assertion(&harness, &signed).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let token = response.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        harness.server.verify(&token).expect("verifies").subject,
        Subject::Client {
            id: "backend-es".into()
        }
    );

    let replay = request_with_assertion(&harness, &signed).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.json()["error"], "invalid_client");
    assert!(
        replay.json()["error_description"]
            .as_str()
            .is_some_and(|text| text.contains("jti"))
    );

    // The same jti in a new assertion is still a replay.
    let again = assertion(&key, claims(&harness, "backend-es", "jti-1"));
    assert_eq!(
        request_with_assertion(&harness, &again).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn private_key_jwt_with_rs384() {
    let harness = Harness::new();
    let key = rs384_key(0);
    register_jwks_client(&harness, "backend-rs", &[key]);
    let response = request_with_assertion(
        &harness,
        &assertion(key, claims(&harness, "backend-rs", "a")),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.json()["scope"], "system/*.rs");
}

#[tokio::test]
async fn bad_client_assertions_are_refused() {
    let harness = Harness::new();
    let key = es384_key("es-1");
    register_jwks_client(&harness, "backend-es", &[&key]);
    let now = vigil_auth::Clock::now(harness.clock.as_ref());
    let mut cases: Vec<(&str, String)> = Vec::new();
    let base = |jti: &str| claims(&harness, "backend-es", jti);

    let mut wrong_aud = base("c1");
    wrong_aud["aud"] = json!(BASE);
    cases.push(("aud is the base URL", assertion(&key, wrong_aud)));
    let mut far = base("c2");
    far["exp"] = json!(now + 600);
    cases.push(("exp ten minutes ahead", assertion(&key, far)));
    let mut expired = base("c3");
    expired["exp"] = json!(now - 1);
    cases.push(("expired", assertion(&key, expired)));
    let mut other_sub = base("c4");
    other_sub["sub"] = json!("someone-else");
    cases.push(("sub differs", assertion(&key, other_sub)));
    let mut no_jti = base("c5");
    no_jti.as_object_mut().expect("object").remove("jti");
    cases.push(("no jti", assertion(&key, no_jti)));
    let stranger = es384_key("es-1");
    cases.push(("another key, same kid", assertion(&stranger, base("c6"))));
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &base("c7"),
        &EncodingKey::from_secret(b"guess"),
    )
    .expect("hs256");
    cases.push(("HS256", hs));
    let rs = rs384_key(1);
    cases.push(("RS384 key not registered", assertion(rs, base("c8"))));

    for (what, signed) in cases {
        let response = request_with_assertion(&harness, &signed).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            response.body
        );
        assert_eq!(response.json()["error"], "invalid_client", "{what}");
    }
}

#[tokio::test]
async fn an_assertion_must_match_the_named_client_and_the_assertion_type() {
    let harness = Harness::new();
    let key = es384_key("es-1");
    register_jwks_client(&harness, "backend-es", &[&key]);
    let signed = assertion(&key, claims(&harness, "backend-es", "m1"));
    let mismatch = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
                ("client_id", "backend"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", signed.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNAUTHORIZED);
    let wrong_type = harness
        .post_form(
            "/auth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/*.rs"),
                ("client_assertion_type", "urn:example:saml"),
                ("client_assertion", signed.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNAUTHORIZED);
    // A secret client cannot use an assertion, a JWKS client cannot use a secret.
    let secret_client = assertion(&key, claims(&harness, "backend", "m2"));
    assert_eq!(
        request_with_assertion(&harness, &secret_client)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Neither refusal used up the jti: the assertion still works once.
    assert_eq!(
        request_with_assertion(&harness, &signed).await.status,
        StatusCode::OK
    );
}
