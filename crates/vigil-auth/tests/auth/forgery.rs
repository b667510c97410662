//! Forged and stale bearer tokens are refused by `AuthServer::verify`.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use std::sync::Arc;
use vigil_auth::{AuthConfig, AuthServer, TokenError};

async fn valid_token(harness: &Harness) -> String {
    harness.tokens("launch/patient patient/*.rs").await["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn encode_part(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn alg_none_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    let claims = payload(&token);
    for header in [
        serde_json::json!({"alg": "none", "typ": "JWT"}),
        serde_json::json!({"alg": "None"}),
    ] {
        let forged = format!("{}.{}.", encode_part(&header), encode_part(&claims));
        assert!(harness.server.verify(&forged).is_err(), "{header}");
        let signature = token.rsplit('.').next().expect("signature");
        let with_signature = format!(
            "{}.{}.{signature}",
            encode_part(&header),
            encode_part(&claims)
        );
        assert!(harness.server.verify(&with_signature).is_err());
    }
    assert!(
        harness.server.verify(&token).is_ok(),
        "the real one still works"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    let claims = payload(&token);
    let rng = SystemRandom::new();
    let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let kid = jsonwebtoken::decode_header(&token).expect("header").kid;
    for kid in [kid, None] {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid;
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(other.as_ref()))
                .expect("sign");
        assert_eq!(
            harness.server.verify(&forged),
            Err(TokenError::BadSignature)
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    let claims = payload(&token);
    let jwks = harness.get("/auth/jwks").await.json();
    let key = &jwks["keys"][0];
    let x = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().expect("x"))
        .expect("x");
    let y = URL_SAFE_NO_PAD
        .decode(key["y"].as_str().expect("y"))
        .expect("y");
    let mut point = vec![4_u8];
    point.extend(&x);
    point.extend(&y);
    // Every public form an attacker might feed to an HMAC verifier.
    let secrets: Vec<Vec<u8>> = vec![point, key.to_string().into_bytes(), [x, y].concat()];
    for secret in secrets {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = key["kid"].as_str().map(str::to_string);
        let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret))
            .expect("sign");
        assert_eq!(
            harness.server.verify(&forged),
            Err(TokenError::WrongAlgorithm)
        );
    }
}

#[tokio::test]
async fn a_modified_payload_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = payload(&token);
    claims["scope"] = serde_json::json!("system/*.cruds");
    claims["patient"] = serde_json::json!("999");
    let forged = format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2]);
    assert_eq!(
        harness.server.verify(&forged),
        Err(TokenError::BadSignature)
    );
    // One flipped character in the signature.
    let mut signature = parts[2].to_string();
    let last = if signature.ends_with('A') { "B" } else { "A" };
    signature.replace_range(signature.len() - 1.., last);
    let flipped = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert!(harness.server.verify(&flipped).is_err());
    for garbage in ["", "abc", "a.b.c", "Bearer x", &"x".repeat(20_000)] {
        assert!(harness.server.verify(garbage).is_err(), "{garbage:.20}");
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let harness = Harness::with_lifetime(300);
    let token = valid_token(&harness).await;
    assert_eq!(
        payload(&token)["exp"].as_i64().expect("exp")
            - payload(&token)["iat"].as_i64().expect("iat"),
        300,
        "--token-lifetime is honoured"
    );
    harness.clock.advance(299);
    assert!(harness.server.verify(&token).is_ok());
    harness.clock.advance(1);
    assert_eq!(harness.server.verify(&token), Err(TokenError::Expired));
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    // Another deployment sharing the key (same data directory) but another base URL: both
    // its issuer and its audience differ from the token's.
    let other = Arc::new(
        AuthServer::open(&AuthConfig::new(
            "https://elsewhere.test/fhir",
            harness.dir.path(),
        ))
        .expect("server"),
    );
    assert!(matches!(
        other.verify(&token),
        Err(TokenError::WrongAudience | TokenError::WrongIssuer)
    ));
    // Tokens minted with the real key (read from the data directory) with one claim changed.
    let key_der =
        std::fs::read(harness.dir.path().join(vigil_auth::SIGNING_KEY_FILE)).expect("key");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = jsonwebtoken::decode_header(&token).expect("header").kid;
    let mint = |claims: &serde_json::Value| {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&key_der)).expect("sign")
    };
    let mut claims = payload(&token);
    claims["aud"] = serde_json::json!("https://elsewhere.test/fhir");
    assert_eq!(
        harness.server.verify(&mint(&claims)),
        Err(TokenError::WrongAudience)
    );
    let mut claims = payload(&token);
    claims["iss"] = serde_json::json!("https://elsewhere.test/fhir");
    assert_eq!(
        harness.server.verify(&mint(&claims)),
        Err(TokenError::WrongIssuer)
    );
    let mut claims = payload(&token);
    claims.as_object_mut().expect("object").remove("aud");
    assert!(
        harness.server.verify(&mint(&claims)).is_err(),
        "aud is required"
    );
    let mut claims = payload(&token);
    claims["aud"] = serde_json::json!([BASE, "https://elsewhere.test/fhir"]);
    assert!(
        harness.server.verify(&mint(&claims)).is_err(),
        "aud must be exactly the base URL"
    );
}

#[tokio::test]
async fn a_token_signed_with_the_real_key_but_never_issued_is_refused() {
    let harness = Harness::new();
    let token = valid_token(&harness).await;
    let key_der =
        std::fs::read(harness.dir.path().join(vigil_auth::SIGNING_KEY_FILE)).expect("key");
    let mut claims = payload(&token);
    claims["jti"] = serde_json::json!("never-issued");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = jsonwebtoken::decode_header(&token).expect("header").kid;
    let minted =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&key_der)).expect("sign");
    assert_eq!(harness.server.verify(&minted), Err(TokenError::Revoked));
}

#[test]
fn the_signing_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let harness = Harness::new();
    let path = harness.dir.path().join(vigil_auth::SIGNING_KEY_FILE);
    let mode = std::fs::metadata(&path)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let database = harness.dir.path().join(vigil_auth::DATABASE_FILE);
    let mode = std::fs::metadata(database)
        .expect("db")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0);
    // The key survives a restart: a token issued before still verifies after.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = AuthServer::open(&AuthConfig::new(BASE, harness.dir.path()));
    assert!(refused.is_err(), "a key others can read is refused");
}
