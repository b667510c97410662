//! The read cache: current versions of resources kept in memory, keyed by (type, id), bounded in
//! bytes, so a hot read by id costs no store round trip. It replaces only the store fetch: the
//! door still confines, authorizes and audits every read ([`crate::FhirService::read`]).
//!
//! # Invalidation
//!
//! - **Writes of this process.** Every unit of work invalidates the resources it wrote after
//!   its commit returns and before the write is acknowledged ([`crate::FhirService::unit`]), so
//!   a read after an acknowledged write never returns the older version.
//! - **The race with a slow reader.** A reader that fetched version 1 from the store before a
//!   commit of version 2 must not put version 1 into the cache after that commit's
//!   invalidation. Each invalidation takes a number from one counter (the *epoch*) and leaves a
//!   marker (a tombstone) carrying it; a reader notes the epoch *before* its store fetch
//!   ([`ReadCache::begin`]) and its insert is refused when the key's tombstone is newer. A
//!   tombstone evicted for room raises one global mark instead (inserts begun before it are
//!   refused), so the rule holds whatever the cache evicts.
//! - **Writes of other processes** (`vigil import` or `vigil hl7 reprocess` against a data
//!   directory a server is using; SQLite allows it). Before serving from the cache, a read
//!   checks at most every [`EXTERNAL_CHECK_INTERVAL`] whether the store's last change position
//!   moved past what this cache has seen, and if so invalidates every resource written since
//!   (or everything, past [`EXTERNAL_SCAN_LIMIT`] changes). Another process's write is
//!   therefore seen within about that interval, not at once.
//!
//! Entries are kept in shards (one mutex each) and evicted in CLOCK order (first in, first out,
//! with a second chance for entries read since their last pass). Every entry, tombstones
//! included, is charged its key, its content and a fixed overhead against the budget.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vigil_store::{HistoryQuery, HistoryScope, Store, StoredVersion};

/// Shards of the cache (independent locks).
const SHARDS: usize = 16;

/// Bytes charged per entry beyond its key and content (map slot, queue slot, the version's
/// fixed fields and allocation headers; measured roughly, rounded up).
const ENTRY_OVERHEAD: usize = 160;

/// How often, at most, a read checks for writes made by other processes.
pub const EXTERNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Changes by other processes beyond which the whole cache is dropped rather than invalidated
/// one resource at a time.
const EXTERNAL_SCAN_LIMIT: usize = 512;

/// A bounded cache of current resource versions (see the module documentation).
pub(crate) struct ReadCache {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    /// Numbers invalidations; a reader notes it before its store fetch.
    epoch: AtomicU64,
    /// Inserts begun before this epoch are refused (a tombstone was evicted, or the cache was
    /// cleared).
    floor: AtomicU64,
    /// Bytes each shard may hold.
    shard_budget: usize,
    /// Watching the store for other processes' writes: the store's last change position
    /// when last checked (`None`: not yet).
    external: Mutex<Option<u64>>,
    /// When the cache was made; `next_check` counts nanoseconds from it.
    started: Instant,
    /// When the next check for other processes' writes is due.
    next_check: AtomicU64,
}

/// What a read noted before fetching from the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadTicket {
    epoch: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Slot>,
    /// Keys in CLOCK order; every key of `map` is here exactly once.
    order: VecDeque<Box<str>>,
    bytes: usize,
}

struct Slot {
    state: SlotState,
    /// Read since the clock hand last passed.
    referenced: bool,
    bytes: usize,
}

enum SlotState {
    Live(StoredVersion),
    /// Invalidated at this epoch.
    Tombstone(u64),
}

impl ReadCache {
    /// A cache holding at most `budget_bytes` (0 disables it: see [`ReadCache::enabled`]).
    pub(crate) fn new(budget_bytes: usize) -> Self {
        ReadCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            epoch: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            shard_budget: budget_bytes / SHARDS,
            external: Mutex::new(None),
            started: Instant::now(),
            next_check: AtomicU64::new(0),
        }
    }

    /// Whether the cache holds anything at all.
    pub(crate) fn enabled(&self) -> bool {
        self.shard_budget > 0
    }

    /// Bytes charged now (all shards).
    pub(crate) fn bytes(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).bytes).sum()
    }

    /// The most bytes the cache may hold.
    pub(crate) fn budget(&self) -> usize {
        self.shard_budget * SHARDS
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let hash = self.hasher.hash_one(key);
        // The remainder is below SHARDS, so it fits in usize.
        let index = usize::try_from(hash % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// The cached current version of `resource_type`/`id`, if any.
    pub(crate) fn get(&self, resource_type: &str, id: &str) -> Option<StoredVersion> {
        if !self.enabled() {
            return None;
        }
        let key = key(resource_type, id);
        let mut shard = lock(self.shard(&key));
        let slot = shard.map.get_mut(key.as_str())?;
        match &slot.state {
            SlotState::Live(version) => {
                slot.referenced = true;
                Some(version.clone())
            }
            SlotState::Tombstone(_) => None,
        }
    }

    /// Notes the epoch before a store fetch whose result may be inserted.
    pub(crate) fn begin(&self) -> ReadTicket {
        ReadTicket {
            epoch: self.epoch.load(Ordering::SeqCst),
        }
    }

    /// Caches `version` (fetched from the store after `ticket` was taken) unless the resource
    /// was invalidated since, a newer version is cached, or it is a deletion marker.
    pub(crate) fn insert(&self, ticket: ReadTicket, version: &StoredVersion) {
        if !self.enabled() || version.meta.deleted {
            return;
        }
        let key = key(&version.resource_type, &version.id);
        let bytes = charge(&key, Some(version));
        if bytes > self.shard_budget {
            return;
        }
        let mut shard = lock(self.shard(&key));
        // Read under the shard lock: an eviction raising the floor holds it too.
        if self.floor.load(Ordering::SeqCst) > ticket.epoch {
            return;
        }
        if let Some(slot) = shard.map.get_mut(key.as_str()) {
            let newer_known = match &slot.state {
                SlotState::Tombstone(epoch) => *epoch > ticket.epoch,
                SlotState::Live(cached) => cached.meta.version_id >= version.meta.version_id,
            };
            if newer_known {
                return;
            }
            let old = std::mem::replace(&mut slot.bytes, bytes);
            slot.state = SlotState::Live(version.clone());
            shard.bytes = shard.bytes - old + bytes;
        } else {
            shard.order.push_back(key.clone().into_boxed_str());
            shard.map.insert(
                key.into_boxed_str(),
                Slot {
                    state: SlotState::Live(version.clone()),
                    referenced: false,
                    bytes,
                },
            );
            shard.bytes += bytes;
        }
        self.evict(&mut shard);
    }

    /// Drops `resource_type`/`id` and refuses inserts of reads begun before now.
    pub(crate) fn invalidate(&self, resource_type: &str, id: &str) {
        if !self.enabled() {
            return;
        }
        let key = key(resource_type, id);
        let mut shard = lock(self.shard(&key));
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let bytes = charge(&key, None);
        if let Some(slot) = shard.map.get_mut(key.as_str()) {
            let old = std::mem::replace(&mut slot.bytes, bytes);
            slot.state = SlotState::Tombstone(epoch);
            slot.referenced = false;
            shard.bytes = shard.bytes - old + bytes;
        } else {
            shard.order.push_back(key.clone().into_boxed_str());
            shard.map.insert(
                key.into_boxed_str(),
                Slot {
                    state: SlotState::Tombstone(epoch),
                    referenced: false,
                    bytes,
                },
            );
            shard.bytes += bytes;
        }
        self.evict(&mut shard);
    }

    /// Drops everything and refuses inserts of reads begun before now.
    pub(crate) fn clear(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        for shard in &self.shards {
            let mut shard = lock(shard);
            self.floor.fetch_max(epoch, Ordering::SeqCst);
            *shard = Shard::default();
        }
    }

    /// Evicts in CLOCK order until the shard fits its budget.
    fn evict(&self, shard: &mut Shard) {
        while shard.bytes > self.shard_budget {
            let Some(key) = shard.order.pop_front() else {
                // Cannot happen (every byte belongs to a queued key); stay consistent anyway.
                shard.bytes = 0;
                shard.map.clear();
                return;
            };
            let Some(slot) = shard.map.get_mut(&key) else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                shard.order.push_back(key);
                continue;
            }
            if let Some(slot) = shard.map.remove(&key) {
                shard.bytes -= slot.bytes;
                if let SlotState::Tombstone(epoch) = slot.state {
                    self.floor.fetch_max(epoch, Ordering::SeqCst);
                }
            }
        }
    }

    /// Whether a check for other processes' writes is due (then a read goes the long way,
    /// [`ReadCache::check_external`] first).
    pub(crate) fn check_due(&self) -> bool {
        nanos(self.started.elapsed()) >= self.next_check.load(Ordering::Relaxed)
    }

    /// Invalidates what other processes wrote since the last check, at most every
    /// [`EXTERNAL_CHECK_INTERVAL`] (see the module documentation). A failed check drops the
    /// whole cache.
    pub(crate) fn check_external(&self, store: &dyn Store) {
        let now = nanos(self.started.elapsed());
        if now < self.next_check.load(Ordering::Relaxed) {
            return;
        }
        let mut seen_seq = match self.external.try_lock() {
            Ok(watch) => watch,
            // Another reader is checking right now.
            Err(_) => return,
        };
        let now = nanos(self.started.elapsed());
        if now < self.next_check.load(Ordering::Relaxed) {
            return;
        }
        self.next_check.store(
            now.saturating_add(nanos(EXTERNAL_CHECK_INTERVAL)),
            Ordering::Relaxed,
        );
        let last = match store.last_seq() {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(%error, "read cache: cannot check for other writers; cleared");
                self.clear();
                *seen_seq = None;
                return;
            }
        };
        let Some(seen) = *seen_seq else {
            // The first check: start from here, refusing reads fetched before it.
            *seen_seq = Some(last);
            self.clear();
            return;
        };
        if last <= seen {
            return;
        }
        *seen_seq = Some(last);
        let query = HistoryQuery {
            scope: HistoryScope::System,
            since_micros: None,
            before_micros: None,
            before_seq: None,
            limit: EXTERNAL_SCAN_LIMIT,
        };
        // Newest first: complete when short, or when it reaches back to `seen`.
        match store.history(&query) {
            Ok(versions)
                if versions.len() < EXTERNAL_SCAN_LIMIT
                    || versions.last().is_some_and(|v| v.seq <= seen + 1) =>
            {
                for version in versions.iter().filter(|v| v.seq > seen) {
                    self.invalidate(&version.resource_type, &version.id);
                }
            }
            Ok(_) => self.clear(),
            Err(error) => {
                tracing::warn!(%error, "read cache: cannot list recent changes; cleared");
                self.clear();
            }
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn key(resource_type: &str, id: &str) -> String {
    let mut key = String::with_capacity(resource_type.len() + id.len() + 1);
    key.push_str(resource_type);
    key.push('/');
    key.push_str(id);
    key
}

/// The bytes an entry is charged: its key (twice: map and queue), content and overhead.
fn charge(key: &str, version: Option<&StoredVersion>) -> usize {
    let content = version.map_or(0, |v| v.content.len() + v.resource_type.len() + v.id.len());
    2 * key.len() + content + ENTRY_OVERHEAD
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Shards stay consistent even if a holder panicked (no user code runs under the lock).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigil_store::{VersionMeta, WriteMethod};

    fn version(id: &str, number: u64, size: usize) -> StoredVersion {
        StoredVersion {
            resource_type: "Patient".to_owned(),
            id: id.to_owned(),
            meta: VersionMeta {
                version_id: number,
                last_updated_micros: 0,
                deleted: false,
                method: WriteMethod::Update,
            },
            content: Arc::from("x".repeat(size)),
            seq: number,
        }
    }

    #[test]
    fn the_bound_holds_whatever_is_inserted_or_invalidated() {
        let cache = ReadCache::new(64 * 1024);
        for round in 0..20_000u64 {
            let id = format!("p{}", round % 997);
            let ticket = cache.begin();
            // Sizes from tiny to larger than a shard's budget.
            let size = usize::try_from((round * 7919) % 6000).unwrap_or(0);
            cache.insert(ticket, &version(&id, round + 1, size));
            if round % 3 == 0 {
                cache.invalidate("Patient", &format!("p{}", round % 101));
            }
            if round % 5 == 0 {
                let _ = cache.get("Patient", &id);
            }
            assert!(
                cache.bytes() <= cache.budget(),
                "{} bytes over a budget of {}",
                cache.bytes(),
                cache.budget()
            );
        }
        assert!(cache.bytes() > cache.budget() / 2, "the cache was used");
    }

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_cached() {
        let cache = ReadCache::new(1024 * 1024);
        let slow = cache.begin();
        cache.invalidate("Patient", "a");
        cache.insert(slow, &version("a", 1, 10));
        assert!(cache.get("Patient", "a").is_none());
        let fresh = cache.begin();
        cache.insert(fresh, &version("a", 2, 10));
        assert_eq!(
            cache.get("Patient", "a").map(|v| v.meta.version_id),
            Some(2)
        );
    }

    #[test]
    fn an_evicted_tombstone_still_refuses_older_reads() {
        // One shard's budget fits a few entries only.
        let cache = ReadCache::new(SHARDS * 600);
        let slow = cache.begin();
        cache.invalidate("Patient", "victim");
        // Enough other invalidations to evict every tombstone of every shard.
        for n in 0..2000 {
            cache.invalidate("Patient", &format!("other{n}"));
        }
        cache.insert(slow, &version("victim", 1, 10));
        assert!(cache.get("Patient", "victim").is_none());
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache = ReadCache::new(1024 * 1024);
        let ticket = cache.begin();
        cache.insert(ticket, &version("a", 3, 10));
        cache.insert(ticket, &version("a", 2, 10));
        assert_eq!(
            cache.get("Patient", "a").map(|v| v.meta.version_id),
            Some(3)
        );
    }

    #[test]
    fn a_zero_budget_disables_the_cache() {
        let cache = ReadCache::new(0);
        cache.insert(cache.begin(), &version("a", 1, 10));
        assert!(cache.get("Patient", "a").is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
