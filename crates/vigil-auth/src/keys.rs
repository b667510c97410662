//! The server's token-signing key: one ECDSA P-256 key (ES256), generated with ring on first
//! start and kept as PKCS#8 DER in `DATA_DIR/auth-signing-key.p8`, mode 0600. Its public half is
//! served at `/auth/jwks` with a `kid` that is its RFC 7638 thumbprint.
//!
//! Rotation: stop the server, rename the file to `auth-signing-key.previous.p8`, start again:
//! a new key is made and signs from then on, while the previous key still verifies the tokens
//! it signed (and is published at `/auth/jwks`) until it is deleted. After a suspected leak,
//! delete the old file instead of renaming it: every token it signed is refused at once.

use crate::error::AuthError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The key file's name inside the data directory.
pub const SIGNING_KEY_FILE: &str = "auth-signing-key.p8";
/// The retired key, still accepted for verification while it exists.
pub const PREVIOUS_SIGNING_KEY_FILE: &str = "auth-signing-key.previous.p8";

/// The key that signs and the retired key that still verifies.
pub(crate) struct KeyRing {
    pub(crate) current: SigningKey,
    pub(crate) previous: Option<SigningKey>,
}

impl KeyRing {
    /// Loads (creating if needed) the current key and, if present, the previous one.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, AuthError> {
        let current = SigningKey::load_or_create(data_dir)?;
        let previous_path = data_dir.join(PREVIOUS_SIGNING_KEY_FILE);
        let previous = if previous_path.exists() {
            Some(SigningKey::load(&previous_path)?)
        } else {
            None
        };
        Ok(Self { current, previous })
    }

    /// The key a token names in its `kid` (the current key when it names none).
    pub(crate) fn for_kid(&self, kid: Option<&str>) -> Option<&SigningKey> {
        match kid {
            None => Some(&self.current),
            Some(kid) => std::iter::once(&self.current)
                .chain(self.previous.as_ref())
                .find(|key| key.kid == kid),
        }
    }

    /// The public keys, current first.
    pub(crate) fn public_jwks(&self) -> serde_json::Value {
        let keys: Vec<&serde_json::Value> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|key| &key.public_jwk)
            .collect();
        json!({ "keys": keys })
    }
}

/// The signing key with everything derived from it.
pub(crate) struct SigningKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) kid: String,
    pub(crate) public_jwk: serde_json::Value,
}

impl SigningKey {
    /// Reads the key from `data_dir`, generating it first if there is none.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<Self, AuthError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        if !path.exists() {
            create_key_file(&path)?;
        }
        Self::load(&path)
    }

    /// Reads an existing key file.
    fn load(path: &Path) -> Result<Self, AuthError> {
        check_permissions(path)?;
        let der = std::fs::read(path).map_err(|source| io_error(path, source))?;
        Self::from_pkcs8(&der)
            .map_err(|error| AuthError::Key(format!("{}: {error}", path.display())))
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, AuthError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|error| AuthError::Key(format!("not a P-256 PKCS#8 key: {error}")))?;
        // An uncompressed point: 0x04, then x and y (32 bytes each).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(AuthError::Key("unexpected public key encoding".into()));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // RFC 7638: the members in lexicographic order, no white space.
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = crate::secrets::digest(&thumbprint_input);
        let decoding = DecodingKey::from_ec_components(&x, &y)
            .map_err(|error| AuthError::Key(error.to_string()))?;
        let public_jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": x,
            "y": y,
            "kid": kid,
            "use": "sig",
            "alg": "ES256",
        });
        Ok(Self {
            encoding: EncodingKey::from_ec_der(der),
            decoding,
            kid,
            public_jwk,
        })
    }
}

/// Writes a fresh key to a private temporary file, then links it into place: two processes
/// starting at once end with one key, never a half-written file.
fn create_key_file(path: &Path) -> Result<(), AuthError> {
    let document =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|error| AuthError::Key(format!("generating a key: {error}")))?;
    let temporary = temporary_path(path)?;
    write_private(&temporary, document.as_ref())?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(file = %path.display(), "generated a new token-signing key");
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(io_error(path, source)),
    }
}

fn temporary_path(path: &Path) -> Result<PathBuf, AuthError> {
    let suffix = crate::secrets::random_token()?;
    Ok(path.with_extension(format!("p8.{}.tmp", &suffix[..12])))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io_error(path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(path, source))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    std::fs::write(path, bytes).map_err(|source| io_error(path, source))
}

/// A key file others can read is refused, as ssh refuses such a private key.
#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuthError::Key(format!(
            "{} is readable by others (mode {mode:o}); run chmod 600 on it",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), AuthError> {
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> AuthError {
    AuthError::Io {
        path: path.display().to_string(),
        source,
    }
}
