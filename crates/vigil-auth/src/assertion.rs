//! `private_key_jwt` client authentication (RFC 7523, SMART Backend Services): a client
//! registered with a JWKS signs a short-lived JWT with RS384 or ES384; the server checks the
//! signature against the registered keys, `iss` = `sub` = client_id, `aud` = the token endpoint,
//! an `exp` no more than five minutes ahead, and a `jti` it has not seen before.

use crate::error::AuthError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The longest lifetime a client assertion may claim (SMART: no more than five minutes).
pub(crate) const MAX_ASSERTION_LIFETIME: i64 = 300;

/// The assertion type of RFC 7523.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Deserialize)]
pub(crate) struct AssertionClaims {
    pub(crate) iss: String,
    pub(crate) exp: i64,
    pub(crate) jti: Option<String>,
}

/// Parses and checks a client's JWKS: a `keys` array of public RSA or P-384 EC keys.
pub(crate) fn parse_client_jwks(text: &str) -> Result<JwkSet, AuthError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| AuthError::Invalid(format!("the JWKS is not JSON: {error}")))?;
    let keys = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| AuthError::Invalid("the JWKS has no \"keys\" array of keys".into()))?;
    for key in keys {
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|member| key.get(member).is_some())
        {
            return Err(AuthError::Invalid(
                "the JWKS holds private key material: register only the public keys".into(),
            ));
        }
    }
    let set: JwkSet = serde_json::from_value(value.clone())
        .map_err(|error| AuthError::Invalid(format!("the JWKS is not valid: {error}")))?;
    for key in &set.keys {
        let usable = match &key.algorithm {
            AlgorithmParameters::RSA(_) => true,
            AlgorithmParameters::EllipticCurve(parameters) => {
                parameters.curve == EllipticCurve::P384
            }
            _ => false,
        };
        if !usable {
            return Err(AuthError::Invalid(
                "every JWKS key must be RSA (RS384) or EC P-384 (ES384)".into(),
            ));
        }
    }
    Ok(set)
}

/// Reads the `iss` of an assertion without checking it, to find which client to check it for.
pub(crate) fn unverified_issuer(assertion: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::ES384);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<AssertionClaims>(assertion, &DecodingKey::from_secret(&[]), &validation)
        .ok()
        .map(|data| data.claims.iss)
}

/// Checks an assertion for `client_id` against its JWKS; returns its claims (with a `jti`).
pub(crate) fn verify_assertion(
    client_id: &str,
    jwks_text: &str,
    assertion: &str,
    token_endpoint: &str,
    now: i64,
) -> Result<AssertionClaims, String> {
    if assertion.len() > 16 * 1024 {
        return Err("the client assertion is too long".into());
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| "the client assertion is not a JWT".to_string())?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err("client assertions must be signed with RS384 or ES384".into());
    }
    let set = parse_client_jwks(jwks_text).map_err(|error| error.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[token_endpoint]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_string());
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let mut last_error = "no registered key matches the client assertion".to_string();
    for key in candidate_keys(&set, header.alg, header.kid.as_deref()) {
        let Ok(decoding) = DecodingKey::from_jwk(key) else {
            continue;
        };
        match jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation) {
            Ok(data) => return check_times(data.claims, now),
            Err(error) => last_error = describe(error.kind()),
        }
    }
    Err(last_error)
}

fn candidate_keys<'a>(
    set: &'a JwkSet,
    alg: Algorithm,
    kid: Option<&'a str>,
) -> impl Iterator<Item = &'a Jwk> {
    set.keys.iter().filter(move |key| {
        let family_matches = match (&key.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS384) => true,
            (AlgorithmParameters::EllipticCurve(parameters), Algorithm::ES384) => {
                parameters.curve == EllipticCurve::P384
            }
            _ => false,
        };
        let kid_matches = match kid {
            Some(kid) => key.common.key_id.as_deref() == Some(kid),
            None => true,
        };
        family_matches && kid_matches
    })
}

fn check_times(claims: AssertionClaims, now: i64) -> Result<AssertionClaims, String> {
    if claims.exp <= now {
        return Err("the client assertion has expired".into());
    }
    if claims.exp > now + MAX_ASSERTION_LIFETIME {
        return Err("the client assertion's exp is more than five minutes ahead".into());
    }
    match claims.jti.as_deref() {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => Ok(claims),
        _ => Err("the client assertion needs a jti".into()),
    }
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidAudience => "the client assertion's aud must be the token endpoint URL",
        ErrorKind::InvalidIssuer => "the client assertion's iss must be the client_id",
        ErrorKind::InvalidSubject => "the client assertion's sub must be the client_id",
        ErrorKind::MissingRequiredClaim(_) => "the client assertion lacks exp, iss, sub or aud",
        ErrorKind::InvalidSignature => "the client assertion's signature does not verify",
        _ => "the client assertion is invalid",
    }
    .to_string()
}
