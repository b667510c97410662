//! Failed-login limits per user name and per client address, with exponential lockout.
//!
//! After [`USER_THRESHOLD`] consecutive failures for one user name (or [`ADDRESS_THRESHOLD`]
//! from one address) every further attempt, right or wrong, is refused for 30 s, doubling with
//! each further failure up to 15 minutes. A successful login clears the user's count (not the
//! address's: one valid account must not reset an address that is guessing others). Counts
//! that saw no failure for 15 minutes are forgotten. The limits live in memory: a restart
//! clears them, and each node of a cluster counts on its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures for one user name before the lockout starts.
pub const USER_THRESHOLD: u32 = 5;
/// Failures from one address before the lockout starts (higher: many users may share a NAT).
pub const ADDRESS_THRESHOLD: u32 = 20;
/// The first lockout, in seconds.
pub const BASE_LOCKOUT: i64 = 30;
/// The longest lockout and the time after which a quiet count is forgotten, in seconds.
pub const MAX_LOCKOUT: i64 = 900;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_failure: i64,
}

impl Failures {
    fn locked_until(&self, threshold: u32) -> Option<i64> {
        if self.count < threshold {
            return None;
        }
        let doublings = (self.count - threshold).min(10);
        let lockout = (BASE_LOCKOUT << doublings).min(MAX_LOCKOUT);
        Some(self.last_failure + lockout)
    }
}

#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    users: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginLimiter {
    /// Whether an attempt for `username` from `address` must be refused at `now`.
    pub(crate) fn is_locked(&self, username: &str, address: Option<IpAddr>, now: i64) -> bool {
        let user_locked = self
            .users
            .lock()
            .ok()
            .and_then(|users| users.get(username).copied())
            .and_then(|failures| failures.locked_until(USER_THRESHOLD))
            .is_some_and(|until| now < until);
        let address_locked = address.is_some_and(|address| {
            self.addresses
                .lock()
                .ok()
                .and_then(|addresses| addresses.get(&address).copied())
                .and_then(|failures| failures.locked_until(ADDRESS_THRESHOLD))
                .is_some_and(|until| now < until)
        });
        user_locked || address_locked
    }

    /// Counts a failed attempt.
    pub(crate) fn record_failure(&self, username: &str, address: Option<IpAddr>, now: i64) {
        // A name no account can have (over 128 bytes: user names and client ids are shorter)
        // is counted against the address only, so a flood of long invented names cannot grow
        // the map by their size.
        if username.len() <= MAX_NAME_BYTES
            && let Ok(mut users) = self.users.lock()
        {
            bump(&mut users, username.to_string(), now);
        }
        if let (Some(address), Ok(mut addresses)) = (address, self.addresses.lock()) {
            bump(&mut addresses, address, now);
        }
    }

    /// Clears the user's count after a successful login.
    pub(crate) fn record_success(&self, username: &str) {
        if let Ok(mut users) = self.users.lock() {
            users.remove(username);
        }
    }
}

/// Longest name counted per user (see `record_failure`).
const MAX_NAME_BYTES: usize = 136;

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Failures>, key: K, now: i64) {
    if map.len() > 100_000 {
        map.retain(|_, failures| now - failures.last_failure < MAX_LOCKOUT);
    }
    let entry = map.entry(key).or_insert(Failures {
        count: 0,
        last_failure: now,
    });
    if now - entry.last_failure >= MAX_LOCKOUT {
        entry.count = 0;
    }
    entry.count = entry.count.saturating_add(1);
    entry.last_failure = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_at_the_threshold_and_doubles() {
        let limiter = LoginLimiter::default();
        let now = 1_000;
        for _ in 0..USER_THRESHOLD - 1 {
            limiter.record_failure("alice", None, now);
        }
        assert!(!limiter.is_locked("alice", None, now));
        limiter.record_failure("alice", None, now);
        assert!(limiter.is_locked("alice", None, now + BASE_LOCKOUT - 1));
        assert!(!limiter.is_locked("alice", None, now + BASE_LOCKOUT));
        limiter.record_failure("alice", None, now + BASE_LOCKOUT);
        assert!(limiter.is_locked("alice", None, now + 3 * BASE_LOCKOUT - 1));
        assert!(!limiter.is_locked("alice", None, now + 3 * BASE_LOCKOUT));
        assert!(!limiter.is_locked("bob", None, now));
        limiter.record_success("alice");
        assert!(!limiter.is_locked("alice", None, now + BASE_LOCKOUT));
    }

    #[test]
    fn lockout_is_capped_and_quiet_counts_are_forgotten() {
        let limiter = LoginLimiter::default();
        for _ in 0..50 {
            limiter.record_failure("alice", None, 0);
        }
        assert!(limiter.is_locked("alice", None, MAX_LOCKOUT - 1));
        assert!(!limiter.is_locked("alice", None, MAX_LOCKOUT));
        limiter.record_failure("alice", None, MAX_LOCKOUT);
        assert!(!limiter.is_locked("alice", None, MAX_LOCKOUT));
    }

    #[test]
    fn an_address_is_locked_after_its_own_threshold() {
        let limiter = LoginLimiter::default();
        let address: IpAddr = [192, 0, 2, 7].into();
        for attempt in 0..ADDRESS_THRESHOLD {
            limiter.record_failure(&format!("user{attempt}"), Some(address), 10);
        }
        assert!(limiter.is_locked("someone-else", Some(address), 11));
        assert!(!limiter.is_locked("someone-else", Some([192, 0, 2, 8].into()), 11));
    }
}
