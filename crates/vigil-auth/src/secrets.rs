//! Random values, hashing of stored secrets, and argon2id for passwords and client secrets.
//!
//! Codes, refresh tokens and consent handles are 256-bit random values; only their SHA-256 is
//! stored, so a copy of the database cannot be replayed. Passwords and client secrets are
//! argon2id hashes (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane).

use crate::error::AuthError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// 32 random bytes as base64url (43 characters).
pub(crate) fn random_token() -> Result<String, AuthError> {
    let mut bytes = [0_u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Key("the system random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a value as base64url: how codes and refresh tokens are looked up.
pub(crate) fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        value.as_bytes(),
    ))
}

/// The PKCE S256 transform of a code verifier (RFC 7636 section 4.2).
pub(crate) fn pkce_s256(verifier: &str) -> String {
    digest(verifier)
}

/// At most this many argon2 computations run at once (each holds 19 MiB): a flood of login or
/// token requests queues here instead of exhausting memory.
fn hashing_permit() -> HashingPermit {
    static SLOTS: OnceLock<(Mutex<usize>, Condvar)> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let parallelism = std::thread::available_parallelism().map_or(2, usize::from);
        (Mutex::new(parallelism.clamp(2, 8)), Condvar::new())
    });
    let mut free = slots.0.lock().unwrap_or_else(PoisonError::into_inner);
    while *free == 0 {
        free = slots.1.wait(free).unwrap_or_else(PoisonError::into_inner);
    }
    *free -= 1;
    HashingPermit(slots)
}

struct HashingPermit(&'static (Mutex<usize>, Condvar));

impl Drop for HashingPermit {
    fn drop(&mut self) {
        let mut free = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.0.1.notify_one();
    }
}

/// An argon2id hash in PHC string form.
pub(crate) fn hash_password(password: &str) -> Result<String, AuthError> {
    let _permit = hashing_permit();
    let mut salt = [0_u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AuthError::Key("the system random source failed".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|error| AuthError::Key(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Key(format!("argon2: {error}")))
}

/// Whether `password` matches the stored PHC hash; a malformed hash never matches.
pub(crate) fn verify_password(password: &str, stored: &str) -> bool {
    let _permit = hashing_permit();
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, so an unknown user name answers as slowly as a wrong
/// password (no user enumeration by timing).
pub(crate) fn verify_password_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(hash) = DUMMY.get_or_init(|| hash_password("vigil-dummy-password").ok()) {
        let _ = verify_password(password, hash);
    }
}

/// Compares two strings in time independent of where they differ.
pub(crate) fn constant_time_eq(left: &str, right: &str) -> bool {
    left.len() == right.len()
        && left
            .bytes()
            .zip(right.bytes())
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
