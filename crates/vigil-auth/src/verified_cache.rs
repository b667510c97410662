//! A cache of tokens whose signature and claims were already checked, so an app reusing its
//! token for an hour pays for the ES256 verification once rather than on every request.
//!
//! The key is the exact token text: a token differing in any byte (a forged or modified one)
//! misses and is verified in full. Expiry is checked on every request. The token's database
//! row (revoked? user or client disabled? roles) is reused only while the database's
//! `data_version` is the one it was read at: any commit by any process (a revocation, a
//! `vigil user disable`) changes it, and the next request reads the row again.

use crate::tokens::{AccessClaims, AccessRow};
use std::collections::HashMap;
use std::sync::RwLock;

/// Entries kept before expired ones are dropped (and, if still full, all of them).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct VerifiedCache {
    entries: RwLock<HashMap<String, AccessClaims>>,
    /// jti -> (data_version when read, the row), with the claims' expiry for pruning.
    rows: RwLock<HashMap<String, (i64, AccessRow, i64)>>,
}

impl VerifiedCache {
    pub(crate) fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.read().ok()?.get(token).cloned()
    }

    /// The row of `jti`, if it was read at `data_version`.
    pub(crate) fn row(&self, jti: &str, data_version: i64) -> Option<AccessRow> {
        let rows = self.rows.read().ok()?;
        let (version, row, _) = rows.get(jti)?;
        (*version == data_version).then(|| row.clone())
    }

    pub(crate) fn insert_row(
        &self,
        claims: &AccessClaims,
        data_version: i64,
        row: &AccessRow,
        now: i64,
    ) {
        let Ok(mut rows) = self.rows.write() else {
            return;
        };
        if rows.len() >= CAPACITY {
            rows.retain(|_, (_, _, expires_at)| *expires_at > now);
            if rows.len() >= CAPACITY {
                rows.clear();
            }
        }
        rows.insert(claims.jti.clone(), (data_version, row.clone(), claims.exp));
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
