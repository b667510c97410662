//! A cache of tokens whose signature and claims were already checked, so an app reusing its
//! token for an hour pays for the ES256 verification once rather than on every request.
//!
//! The key is the exact token text: a token differing in any byte (a forged or modified one)
//! misses and is verified in full. Only the signature and claim checks are skipped; expiry and
//! the revocation lookup in the database still run on every request.

use crate::tokens::AccessClaims;
use std::collections::HashMap;
use std::sync::RwLock;

/// Entries kept before expired ones are dropped (and, if still full, all of them).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct VerifiedCache {
    entries: RwLock<HashMap<String, AccessClaims>>,
}

impl VerifiedCache {
    pub(crate) fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.read().ok()?.get(token).cloned()
    }

    pub(crate) fn insert(&self, token: &str, claims: &AccessClaims, now: i64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= CAPACITY {
            entries.retain(|_, claims| claims.exp > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.to_string(), claims.clone());
    }
}
