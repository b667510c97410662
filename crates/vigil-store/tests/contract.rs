//! The storage backend contract: every backend must pass these functions unchanged. Each takes
//! a `&dyn Store` on an empty store (the reopen check takes a function that opens the same
//! store again); `backend_contract!` turns them into one `#[test]` per function for a backend.
//! SQLite runs them here; a PostgreSQL backend adds one more `backend_contract!` line.
//!
//! Index rows are checked through the SQL hook with `$n` placeholders and the shared table
//! layout, so the same text runs on both SQL backends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use vigil_store::{
    ChangeLog, ConsumerStart, HistoryQuery, HistoryScope, IndexRow, IndexValue, NewVersion,
    ResourceStore, SqlValue, Store, StoreError, StoreErrorKind, StoredVersion, Transaction,
    WriteMethod, write_with,
};

/// A base time for the versions these tests write (2023-11-14T22:13:20Z), in microseconds.
const T0: i64 = 1_700_000_000_000_000;
const SECOND: i64 = 1_000_000;

/// The current-row columns every SQL backend exposes to the search layer.
const COLUMNS: &str = "r.type, r.id, r.version, r.last_updated, r.deleted, r.method, r.seq, \
     (SELECT c.content FROM resource_version c WHERE c.seq = r.seq)";

fn version(
    resource_type: &str,
    id: &str,
    version_id: u64,
    method: WriteMethod,
    at: i64,
) -> NewVersion {
    let content = if method == WriteMethod::Delete {
        String::new()
    } else {
        format!(
            r#"{{"resourceType":"{resource_type}","id":"{id}","meta":{{"versionId":"{version_id}"}}}}"#
        )
    };
    NewVersion {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        version_id,
        last_updated_micros: at,
        method,
        content,
        index: Vec::new(),
    }
}

fn put(store: &dyn Store, new: NewVersion) -> Result<StoredVersion, StoreError> {
    write_with(store, move |tx| tx.put(new))
}

fn create(store: &dyn Store, resource_type: &str, id: &str, at: i64) -> StoredVersion {
    put(
        store,
        version(resource_type, id, 1, WriteMethod::Create, at),
    )
    .expect("create")
}

/// Writes the next version of an existing resource.
fn update(store: &dyn Store, resource_type: &str, id: &str, at: i64) -> StoredVersion {
    write_with(store, |tx| {
        let next = tx
            .current(resource_type, id)?
            .map_or(1, |current| current.meta.version_id + 1);
        tx.put(version(resource_type, id, next, WriteMethod::Update, at))
    })
    .expect("update")
}

fn history(scope: HistoryScope, limit: usize) -> HistoryQuery {
    HistoryQuery {
        scope,
        since_micros: None,
        before_micros: None,
        before_seq: None,
        limit,
    }
}

fn instance(resource_type: &str, id: &str) -> HistoryScope {
    HistoryScope::Instance(resource_type.to_owned(), id.to_owned())
}

fn ids(versions: &[StoredVersion]) -> Vec<String> {
    versions
        .iter()
        .map(|v| {
            format!(
                "{}/{}/_history/{}",
                v.resource_type, v.id, v.meta.version_id
            )
        })
        .collect()
}

fn aborted() -> StoreError {
    StoreError::new(StoreErrorKind::Aborted, "the unit chose to abort")
}

#[path = "contract/audit.rs"]
mod audit;
#[path = "contract/change_log.rs"]
mod change_log;
#[path = "contract/jobs.rs"]
mod jobs;

/// The contract, one function per promise.
mod contract {
    pub use super::audit::*;
    pub use super::change_log::*;
    pub use super::jobs::*;
    use super::*;

    pub fn create_read_vread(store: &dyn Store) {
        let created = create(store, "Patient", "p1", T0);
        assert_eq!(created.meta.version_id, 1);
        assert_eq!(created.meta.method, WriteMethod::Create);
        assert!(!created.meta.deleted);
        assert!(created.seq > 0);
        let read = store.read("Patient", "p1").expect("read").expect("present");
        assert_eq!(read, created);
        assert_eq!(
            store.vread("Patient", "p1", 1).expect("vread"),
            Some(created)
        );
        assert_eq!(store.vread("Patient", "p1", 2).expect("vread"), None);
        assert_eq!(store.vread("Patient", "p1", u64::MAX).expect("vread"), None);
        assert_eq!(store.read("Patient", "nope").expect("read"), None);
        // Type and id together identify a resource.
        assert_eq!(store.read("Observation", "p1").expect("read"), None);
    }

    pub fn versions_increment(store: &dyn Store) {
        create(store, "Patient", "p1", T0);
        let mut last_seq = 0;
        for n in 2..=5u64 {
            let stored = update(store, "Patient", "p1", T0 + n as i64);
            assert_eq!(stored.meta.version_id, n);
            assert!(stored.seq > last_seq, "seq increases with every version");
            last_seq = stored.seq;
        }
        let current = store.read("Patient", "p1").expect("read").expect("present");
        assert_eq!(current.meta.version_id, 5);
        assert_eq!(current.seq, last_seq);
        for n in 1..=5u64 {
            let old = store
                .vread("Patient", "p1", n)
                .expect("vread")
                .expect("every version kept");
            assert_eq!(old.meta.version_id, n);
            assert!(
                old.content.contains(&format!(r#""versionId":"{n}""#)),
                "{}",
                old.content
            );
        }
    }

    pub fn stale_versions_conflict(store: &dyn Store) {
        create(store, "Patient", "p1", T0);
        for wrong in [0, 1, 3, u64::MAX] {
            let error = put(
                store,
                version("Patient", "p1", wrong, WriteMethod::Update, T0),
            )
            .expect_err("conflict");
            assert_eq!(
                error.kind(),
                StoreErrorKind::VersionConflict,
                "version {wrong}: {error}"
            );
        }
        for wrong in [0, 2] {
            let error = put(
                store,
                version("Patient", "new", wrong, WriteMethod::Create, T0),
            )
            .expect_err("conflict");
            assert_eq!(
                error.kind(),
                StoreErrorKind::VersionConflict,
                "version {wrong}: {error}"
            );
        }
        assert_eq!(store.read("Patient", "new").expect("read"), None);
        assert_eq!(
            store
                .read("Patient", "p1")
                .expect("read")
                .expect("present")
                .meta
                .version_id,
            1
        );
        assert_eq!(
            store
                .history_count(&history(HistoryScope::System, 10))
                .expect("count"),
            1
        );
    }

    pub fn deletion_markers_and_recreation(store: &dyn Store) {
        create(store, "Patient", "p1", T0);
        let deleted = put(
            store,
            version("Patient", "p1", 2, WriteMethod::Delete, T0 + SECOND),
        )
        .expect("delete");
        assert!(deleted.meta.deleted);
        assert_eq!(deleted.meta.method, WriteMethod::Delete);
        let current = store
            .read("Patient", "p1")
            .expect("read")
            .expect("marker is current");
        assert!(current.meta.deleted);
        assert_eq!(current.meta.version_id, 2);
        assert!(current.content.is_empty());
        assert!(
            !store
                .vread("Patient", "p1", 1)
                .expect("vread")
                .expect("old version kept")
                .meta
                .deleted
        );
        // Re-creation continues the version sequence.
        let error = put(store, version("Patient", "p1", 1, WriteMethod::Create, T0))
            .expect_err("must continue");
        assert_eq!(error.kind(), StoreErrorKind::VersionConflict);
        let again = put(
            store,
            version("Patient", "p1", 3, WriteMethod::Update, T0 + 2 * SECOND),
        )
        .expect("recreate");
        assert!(!again.meta.deleted);
        assert!(
            !store
                .read("Patient", "p1")
                .expect("read")
                .expect("present")
                .meta
                .deleted
        );
        let all = store
            .history(&history(instance("Patient", "p1"), 10))
            .expect("history");
        let deleted_flags: Vec<bool> = all.iter().map(|v| v.meta.deleted).collect();
        assert_eq!(deleted_flags, [false, true, false]);
    }

    pub fn history_is_newest_first_and_pages_by_seq(store: &dyn Store) {
        create(store, "Patient", "p1", T0);
        create(store, "Patient", "other", T0);
        for n in 2..=7 {
            update(store, "Patient", "p1", T0 + n);
        }
        let all = store
            .history(&history(instance("Patient", "p1"), 100))
            .expect("history");
        let versions: Vec<u64> = all.iter().map(|v| v.meta.version_id).collect();
        assert_eq!(versions, [7, 6, 5, 4, 3, 2, 1]);
        assert!(all.windows(2).all(|pair| pair[0].seq > pair[1].seq));
        // Page through with the seq cursor, three at a time.
        let mut pages = Vec::new();
        let mut query = history(instance("Patient", "p1"), 3);
        loop {
            let page = store.history(&query).expect("page");
            let Some(last) = page.last() else { break };
            query.before_seq = Some(last.seq);
            pages.push(page.iter().map(|v| v.meta.version_id).collect::<Vec<_>>());
        }
        assert_eq!(pages, [vec![7, 6, 5], vec![4, 3, 2], vec![1]]);
        assert!(
            store
                .history(&history(instance("Patient", "p1"), 0))
                .expect("empty page")
                .is_empty()
        );
        assert!(
            store
                .history(&history(instance("Patient", "absent"), 10))
                .expect("absent")
                .is_empty()
        );
    }

    pub fn history_type_and_system_scopes(store: &dyn Store) {
        create(store, "Patient", "a", T0);
        create(store, "Observation", "o1", T0 + 1);
        update(store, "Patient", "a", T0 + 2);
        create(store, "Patient", "b", T0 + 3);
        create(store, "Observation", "o2", T0 + 4);
        let patients = store
            .history(&history(HistoryScope::Type("Patient".into()), 10))
            .expect("type");
        assert_eq!(
            ids(&patients),
            [
                "Patient/b/_history/1",
                "Patient/a/_history/2",
                "Patient/a/_history/1"
            ]
        );
        let everything = store
            .history(&history(HistoryScope::System, 10))
            .expect("system");
        assert_eq!(
            ids(&everything),
            [
                "Observation/o2/_history/1",
                "Patient/b/_history/1",
                "Patient/a/_history/2",
                "Observation/o1/_history/1",
                "Patient/a/_history/1"
            ]
        );
        let mut page = history(HistoryScope::System, 2);
        page.before_seq = Some(everything[1].seq);
        assert_eq!(
            ids(&store.history(&page).expect("page")),
            ["Patient/a/_history/2", "Observation/o1/_history/1"]
        );
        assert!(
            store
                .history(&history(HistoryScope::Type("Unknown".into()), 10))
                .expect("none")
                .is_empty()
        );
    }

    pub fn history_since_and_before(store: &dyn Store) {
        create(store, "Patient", "a", T0);
        update(store, "Patient", "a", T0 + 10 * SECOND);
        create(store, "Patient", "b", T0 + 20 * SECOND);
        update(store, "Patient", "a", T0 + 30 * SECOND);
        let mut query = history(HistoryScope::System, 10);
        query.since_micros = Some(T0 + 10 * SECOND);
        assert_eq!(
            ids(&store.history(&query).expect("since")),
            [
                "Patient/a/_history/3",
                "Patient/b/_history/1",
                "Patient/a/_history/2"
            ]
        );
        assert_eq!(store.history_count(&query).expect("count since"), 3);
        query.before_micros = Some(T0 + 20 * SECOND);
        assert_eq!(
            ids(&store.history(&query).expect("window")),
            ["Patient/b/_history/1", "Patient/a/_history/2"]
        );
        assert_eq!(store.history_count(&query).expect("count window"), 2);
        query.scope = instance("Patient", "a");
        assert_eq!(
            ids(&store.history(&query).expect("instance window")),
            ["Patient/a/_history/2"]
        );
        query.scope = HistoryScope::Type("Patient".into());
        query.since_micros = Some(T0 + 31 * SECOND);
        query.before_micros = None;
        assert!(store.history(&query).expect("nothing newer").is_empty());
        assert_eq!(store.history_count(&query).expect("count none"), 0);
    }

    pub fn history_count_ignores_paging(store: &dyn Store) {
        assert_eq!(
            store
                .history_count(&history(HistoryScope::System, 10))
                .expect("empty"),
            0
        );
        create(store, "Patient", "a", T0);
        update(store, "Patient", "a", T0 + 1);
        put(
            store,
            version("Patient", "a", 3, WriteMethod::Delete, T0 + 2),
        )
        .expect("delete");
        create(store, "Observation", "o", T0 + 3);
        let mut query = history(HistoryScope::System, 1);
        query.before_seq = Some(1);
        assert_eq!(store.history_count(&query).expect("system"), 4);
        query.scope = HistoryScope::Type("Patient".into());
        assert_eq!(
            store.history_count(&query).expect("type"),
            3,
            "deletion markers are versions"
        );
        query.scope = instance("Observation", "o");
        assert_eq!(store.history_count(&query).expect("instance"), 1);
        query.scope = instance("Observation", "missing");
        assert_eq!(store.history_count(&query).expect("missing"), 0);
    }

    pub fn scan_pages_current_resources(store: &dyn Store) {
        for id in ["c", "a", "d", "b"] {
            create(store, "Patient", id, T0);
        }
        create(store, "Observation", "x", T0);
        update(store, "Patient", "a", T0 + 1);
        put(
            store,
            version("Patient", "d", 2, WriteMethod::Delete, T0 + 2),
        )
        .expect("delete");
        let patients = store.scan(Some("Patient"), None, 10).expect("scan");
        assert_eq!(
            ids(&patients),
            [
                "Patient/a/_history/2",
                "Patient/b/_history/1",
                "Patient/c/_history/1"
            ]
        );
        let page = store
            .scan(Some("Patient"), Some(("Patient", "a")), 1)
            .expect("page");
        assert_eq!(ids(&page), ["Patient/b/_history/1"]);
        let everything = store.scan(None, None, 10).expect("all types");
        assert_eq!(
            ids(&everything),
            [
                "Observation/x/_history/1",
                "Patient/a/_history/2",
                "Patient/b/_history/1",
                "Patient/c/_history/1"
            ]
        );
        let after = store
            .scan(None, Some(("Observation", "x")), 2)
            .expect("after key");
        assert_eq!(
            ids(&after),
            ["Patient/a/_history/2", "Patient/b/_history/1"]
        );
        assert!(
            store
                .scan(Some("Patient"), None, 0)
                .expect("zero")
                .is_empty()
        );
        assert!(
            store
                .scan(Some("Encounter"), None, 10)
                .expect("none")
                .is_empty()
        );
    }

    pub fn outbox_orders_events_and_keeps_consumer_positions(store: &dyn Store) {
        assert!(store.changes_after(0, 10).expect("empty").is_empty());
        let a1 = create(store, "Patient", "a", T0);
        let o1 = create(store, "Observation", "o", T0);
        let a2 = update(store, "Patient", "a", T0 + 1);
        let a3 = put(
            store,
            version("Patient", "a", 3, WriteMethod::Delete, T0 + 2),
        )
        .expect("delete");
        let events = store.changes_after(0, 10).expect("outbox");
        let seen: Vec<(u64, String, String, u64, WriteMethod)> = events
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.resource_type.clone(),
                    e.id.clone(),
                    e.version_id,
                    e.method,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (a1.seq, "Patient".into(), "a".into(), 1, WriteMethod::Create),
                (
                    o1.seq,
                    "Observation".into(),
                    "o".into(),
                    1,
                    WriteMethod::Create
                ),
                (a2.seq, "Patient".into(), "a".into(), 2, WriteMethod::Update),
                (a3.seq, "Patient".into(), "a".into(), 3, WriteMethod::Delete),
            ]
        );
        let tail = store.changes_after(events[1].seq, 1).expect("after");
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].seq, a2.seq);
        assert!(
            store
                .changes_after(a3.seq, 10)
                .expect("caught up")
                .is_empty()
        );
        assert!(
            store
                .changes_after(u64::MAX, 10)
                .expect("beyond")
                .is_empty()
        );
        assert!(store.changes_after(0, 0).expect("zero").is_empty());

        assert_eq!(
            store.consumer_position("news2").expect("unknown consumer"),
            None
        );
        let unknown = store
            .set_consumer_position("news2", a2.seq)
            .expect_err("not registered");
        assert_eq!(unknown.kind(), StoreErrorKind::NotFound);
        assert_eq!(
            store
                .register_consumer("news2", ConsumerStart::Beginning)
                .expect("register"),
            0
        );
        assert_eq!(
            store
                .register_consumer("subscriptions", ConsumerStart::Now)
                .expect("register now"),
            a3.seq,
            "a consumer starting now starts after the newest event"
        );
        store.set_consumer_position("news2", a2.seq).expect("set");
        store
            .set_consumer_position("subscriptions", o1.seq)
            .expect("set other (back)");
        assert_eq!(
            store.consumer_position("news2").expect("position"),
            Some(a2.seq)
        );
        assert_eq!(
            store
                .register_consumer("news2", ConsumerStart::Now)
                .expect("register again"),
            a2.seq,
            "registering again keeps the position"
        );
        store
            .set_consumer_position("news2", a3.seq)
            .expect("advance");
        assert_eq!(
            store.consumers().expect("consumers"),
            vec![
                ("news2".to_owned(), a3.seq),
                ("subscriptions".to_owned(), o1.seq)
            ]
        );
        let pending = store
            .changes_after(
                store
                    .consumer_position("subscriptions")
                    .expect("pos")
                    .expect("registered"),
                10,
            )
            .expect("pending");
        assert_eq!(pending.len(), 2);
        assert!(store.unregister_consumer("subscriptions").expect("forget"));
        assert!(
            !store
                .unregister_consumer("subscriptions")
                .expect("forget again")
        );
        assert_eq!(
            store.consumer_position("subscriptions").expect("gone"),
            None
        );
    }

    pub fn failing_unit_keeps_nothing(store: &dyn Store) {
        create(store, "Patient", "kept", T0);
        let result = store.write(Box::new(|tx| {
            tx.put(version("Patient", "gone", 1, WriteMethod::Create, T0))?;
            tx.put(version("Patient", "kept", 2, WriteMethod::Update, T0 + 1))?;
            Err(aborted())
        }));
        assert_eq!(result.expect_err("aborted").kind(), StoreErrorKind::Aborted);
        // A conflict in the middle of a unit also undoes the earlier puts of that unit.
        let result = store.write(Box::new(|tx| {
            tx.put(version("Patient", "gone", 1, WriteMethod::Create, T0))?;
            tx.put(version("Patient", "kept", 7, WriteMethod::Update, T0 + 1))?;
            Ok(())
        }));
        assert_eq!(
            result.expect_err("conflict").kind(),
            StoreErrorKind::VersionConflict
        );
        assert_eq!(store.read("Patient", "gone").expect("read"), None);
        assert_eq!(
            store
                .read("Patient", "kept")
                .expect("read")
                .expect("present")
                .meta
                .version_id,
            1
        );
        assert_eq!(
            store
                .history_count(&history(HistoryScope::System, 1))
                .expect("count"),
            1
        );
        assert_eq!(store.changes_after(0, 10).expect("outbox").len(), 1);
        // The store goes on working.
        create(store, "Patient", "gone", T0 + 2);
    }

    pub fn panicking_unit_keeps_nothing(store: &dyn Store) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = store.write(Box::new(|tx| {
                tx.put(version("Patient", "p", 1, WriteMethod::Create, T0))?;
                panic!("a bug in the service");
            }));
        }));
        assert!(result.is_err(), "the panic reaches its caller");
        assert_eq!(store.read("Patient", "p").expect("read"), None);
        create(store, "Patient", "p", T0);
        assert_eq!(store.changes_after(0, 10).expect("outbox").len(), 1);
    }

    pub fn a_unit_sees_its_own_writes(store: &dyn Store) {
        let seen = write_with(store, |tx| {
            assert_eq!(tx.current("Patient", "p")?, None);
            tx.put(version("Patient", "p", 1, WriteMethod::Create, T0))?;
            let after_create = tx.current("Patient", "p")?.map(|v| v.meta.version_id);
            tx.put(version("Patient", "p", 2, WriteMethod::Update, T0 + 1))?;
            tx.put(version("Observation", "o", 1, WriteMethod::Create, T0 + 1))?;
            Ok((
                after_create,
                tx.current("Patient", "p")?.map(|v| v.meta.version_id),
            ))
        })
        .expect("unit");
        assert_eq!(seen, (Some(1), Some(2)));
        let events = store.changes_after(0, 10).expect("outbox");
        assert_eq!(
            events.len(),
            3,
            "one event per version, even within one unit"
        );
    }

    pub fn concurrent_writers_lose_nothing(store: &dyn Store) {
        const THREADS: usize = 16;
        const CREATES: usize = 25;
        const UPDATES: usize = 10;
        create(store, "Patient", "shared", T0);
        thread::scope(|scope| {
            for thread_no in 0..THREADS {
                scope.spawn(move || {
                    for n in 0..CREATES {
                        create(
                            store,
                            "Observation",
                            &format!("t{thread_no}-{n}"),
                            T0 + n as i64,
                        );
                    }
                    let mut done = 0;
                    while done < UPDATES {
                        let result = write_with(store, |tx| {
                            let current = tx
                                .current("Patient", "shared")?
                                .map_or(0, |v| v.meta.version_id);
                            tx.put(version(
                                "Patient",
                                "shared",
                                current + 1,
                                WriteMethod::Update,
                                T0,
                            ))
                        });
                        match result {
                            Ok(_) => done += 1,
                            Err(error) if error.kind() == StoreErrorKind::VersionConflict => {}
                            Err(error) => panic!("unexpected store error: {error}"),
                        }
                    }
                });
            }
        });
        let expected_versions = 1 + THREADS * UPDATES;
        let shared = store
            .read("Patient", "shared")
            .expect("read")
            .expect("present");
        assert_eq!(shared.meta.version_id, expected_versions as u64);
        let versions = store
            .history(&history(instance("Patient", "shared"), 10_000))
            .expect("history");
        let numbers: Vec<u64> = versions.iter().rev().map(|v| v.meta.version_id).collect();
        assert_eq!(
            numbers,
            (1..=expected_versions as u64).collect::<Vec<_>>(),
            "no lost or duplicated version"
        );
        let created = store.scan(Some("Observation"), None, 10_000).expect("scan");
        assert_eq!(created.len(), THREADS * CREATES);
        assert!(created.iter().all(|v| v.meta.version_id == 1));
        let total = expected_versions + THREADS * CREATES;
        let events = store.changes_after(0, 10_000).expect("outbox");
        assert_eq!(events.len(), total);
        assert!(
            events.windows(2).all(|pair| pair[0].seq < pair[1].seq),
            "outbox strictly ordered"
        );
        let distinct: BTreeSet<(String, String, u64)> = events
            .iter()
            .map(|e| (e.resource_type.clone(), e.id.clone(), e.version_id))
            .collect();
        assert_eq!(distinct.len(), total, "one event per version");
        assert_eq!(
            store
                .history_count(&history(HistoryScope::System, 1))
                .expect("count"),
            total as u64
        );
    }

    pub fn failing_units_do_not_affect_concurrent_ones(store: &dyn Store) {
        const THREADS: usize = 16;
        const WRITES: usize = 20;
        thread::scope(|scope| {
            for thread_no in 0..THREADS {
                scope.spawn(move || {
                    for n in 0..WRITES {
                        let id = format!("t{thread_no}-{n}");
                        let fail = (thread_no + n) % 3 == 0;
                        let result = store.write(Box::new(|tx| {
                            tx.put(version("Observation", &id, 1, WriteMethod::Create, T0))?;
                            if fail { Err(aborted()) } else { Ok(()) }
                        }));
                        match (fail, result) {
                            (true, Err(error)) => assert_eq!(error.kind(), StoreErrorKind::Aborted),
                            (false, Ok(())) => {}
                            (fail, result) => panic!("unit {id} (fail={fail}) answered {result:?}"),
                        }
                    }
                });
            }
        });
        let mut expected = 0;
        for thread_no in 0..THREADS {
            for n in 0..WRITES {
                let id = format!("t{thread_no}-{n}");
                let present = store.read("Observation", &id).expect("read").is_some();
                assert_eq!(present, (thread_no + n) % 3 != 0, "{id}");
                expected += usize::from(present);
            }
        }
        assert_eq!(
            store.changes_after(0, 10_000).expect("outbox").len(),
            expected
        );
    }

    fn token(param: &str, code: &str) -> IndexRow {
        IndexRow {
            param: param.into(),
            value: IndexValue::Token {
                system: Some("http://loinc.org".into()),
                code: Some(code.into()),
                text: None,
            },
        }
    }

    fn every_kind() -> Vec<IndexRow> {
        vec![
            IndexRow {
                param: "name".into(),
                value: IndexValue::String {
                    normalized: "eve".into(),
                    exact: "Eve".into(),
                },
            },
            token("code", "8867-4"),
            IndexRow {
                param: "date".into(),
                value: IndexValue::Date {
                    low: T0,
                    high: T0 + SECOND - 1,
                },
            },
            IndexRow {
                param: "probability".into(),
                value: IndexValue::Number {
                    low: 0.45,
                    high: 0.55,
                },
            },
            IndexRow {
                param: "value-quantity".into(),
                value: IndexValue::Quantity {
                    system: Some("http://unitsofmeasure.org".into()),
                    code: Some("mg".into()),
                    value: 5.0,
                    canonical_code: Some("g".into()),
                    canonical_value: Some(0.005),
                },
            },
            IndexRow {
                param: "subject".into(),
                value: IndexValue::Reference {
                    target_type: Some("Patient".into()),
                    target_id: Some("p1".into()),
                    url: None,
                },
            },
            IndexRow {
                param: "url".into(),
                value: IndexValue::Uri("http://example.org/fhir/x".into()),
            },
        ]
    }

    fn by_token(store: &dyn Store, code: &str) -> Vec<String> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resource r WHERE EXISTS (SELECT 1 FROM idx_token t \
             WHERE t.rid = r.rid AND t.param = $1 AND t.type = $2 AND t.code = $3) ORDER BY r.id"
        );
        let params = [
            SqlValue::from("code"),
            SqlValue::from("Observation"),
            SqlValue::from(code),
        ];
        store
            .query_resources(&sql, &params)
            .expect("query")
            .into_iter()
            .map(|v| v.id)
            .collect()
    }

    fn index_row_count(store: &dyn Store, table: &str, id: &str) -> u64 {
        let sql = format!(
            "SELECT count(*) FROM {table} x JOIN resource r ON r.rid = x.rid WHERE r.type = $1 AND r.id = $2"
        );
        store
            .query_count(&sql, &[SqlValue::from("Observation"), SqlValue::from(id)])
            .expect("count")
    }

    const INDEX_TABLES: [&str; 7] = [
        "idx_string",
        "idx_token",
        "idx_date",
        "idx_number",
        "idx_quantity",
        "idx_reference",
        "idx_uri",
    ];

    pub fn index_rows_follow_the_current_version(store: &dyn Store) {
        let mut first = version("Observation", "o1", 1, WriteMethod::Create, T0);
        first.index = every_kind();
        put(store, first).expect("create o1");
        let mut other = version("Observation", "o2", 1, WriteMethod::Create, T0);
        other.index = vec![token("code", "8867-4")];
        put(store, other).expect("create o2");
        assert_eq!(by_token(store, "8867-4"), ["o1", "o2"]);
        for table in INDEX_TABLES {
            assert_eq!(index_row_count(store, table, "o1"), 1, "{table}");
        }
        // Update: the old rows are replaced, not added to.
        let mut second = version("Observation", "o1", 2, WriteMethod::Update, T0 + 1);
        second.index = vec![token("code", "59408-5"), token("code", "2708-6")];
        put(store, second).expect("update o1");
        assert_eq!(by_token(store, "8867-4"), ["o2"]);
        assert_eq!(by_token(store, "59408-5"), ["o1"]);
        assert_eq!(index_row_count(store, "idx_token", "o1"), 2);
        for table in INDEX_TABLES.iter().filter(|t| **t != "idx_token") {
            assert_eq!(index_row_count(store, table, "o1"), 0, "{table}");
        }
        // Delete: the rows are gone, even if the caller passed some.
        let mut marker = version("Observation", "o2", 2, WriteMethod::Delete, T0 + 2);
        marker.index = vec![token("code", "8867-4")];
        put(store, marker).expect("delete o2");
        assert!(by_token(store, "8867-4").is_empty());
        assert_eq!(index_row_count(store, "idx_token", "o2"), 0);
        // A failed unit leaves the index as it was.
        let failed = store.write(Box::new(|tx| {
            let mut third = version("Observation", "o1", 3, WriteMethod::Update, T0 + 3);
            third.index = vec![token("code", "8867-4")];
            tx.put(third)?;
            Err(aborted())
        }));
        assert!(failed.is_err());
        assert!(by_token(store, "8867-4").is_empty());
        assert_eq!(by_token(store, "59408-5"), ["o1"]);
    }

    pub fn a_unit_can_query_its_own_writes(store: &dyn Store) {
        let sql = format!(
            "SELECT {COLUMNS} FROM resource r WHERE r.type = $1 AND EXISTS (SELECT 1 FROM idx_token t \
             WHERE t.rid = r.rid AND t.param = $2 AND t.code = $3)"
        );
        let params = [
            SqlValue::from("Patient"),
            SqlValue::from("identifier"),
            SqlValue::from("MRN-1"),
        ];
        let found = write_with(store, |tx| {
            let before = tx.query_resources(&sql, &params)?.len();
            let mut patient = version("Patient", "p1", 1, WriteMethod::Create, T0);
            patient.index = vec![token("identifier", "MRN-1")];
            tx.put(patient)?;
            let after: Vec<String> = tx
                .query_resources(&sql, &params)?
                .into_iter()
                .map(|v| v.id)
                .collect();
            Ok((before, after))
        })
        .expect("unit");
        assert_eq!(found, (0, vec!["p1".to_owned()]));
        assert_eq!(
            store
                .query_resources(&sql, &params)
                .expect("committed")
                .len(),
            1
        );
    }

    pub fn the_query_hook_refuses_writes(store: &dyn Store) {
        create(store, "Patient", "p1", T0);
        let error = store
            .query_count("DELETE FROM resource", &[])
            .expect_err("refused");
        assert_eq!(error.kind(), StoreErrorKind::Unsupported);
        let error = write_with(store, |tx| {
            tx.query_resources("DELETE FROM resource RETURNING *", &[])
        })
        .expect_err("refused inside a unit");
        assert_eq!(error.kind(), StoreErrorKind::Unsupported);
        assert!(
            store
                .query_resources("SELECT nonsense FROM nowhere", &[])
                .is_err()
        );
        assert!(store.read("Patient", "p1").expect("read").is_some());
    }

    pub fn arbitrary_strings_round_trip(store: &dyn Store) {
        let awkward = [
            "x'); DROP TABLE resource; --",
            "\"quoted\"",
            "with space",
            "ünïcødé-患者-🩺",
            "nul\0byte",
            "%_wildcards_%",
            "",
            &"long".repeat(1000),
        ];
        for (n, id) in awkward.iter().enumerate() {
            let resource_type = format!("Type{}", awkward[(n + 1) % awkward.len()]);
            let mut new = version(&resource_type, id, 1, WriteMethod::Create, T0);
            new.content = format!("{{\"value\":\"{}\"}}", id.escape_default());
            new.index = vec![IndexRow {
                param: (*id).to_owned(),
                value: IndexValue::String {
                    normalized: (*id).to_owned(),
                    exact: (*id).to_owned(),
                },
            }];
            let stored = put(store, new.clone()).expect("awkward create");
            let read = store
                .read(&resource_type, id)
                .expect("read")
                .expect("present");
            assert_eq!(read, stored);
            assert_eq!(&*read.id, *id);
            assert_eq!(&*read.content, new.content);
            assert!(
                store
                    .history(&history(instance(&resource_type, id), 5))
                    .expect("history")
                    .len()
                    == 1
            );
            store
                .register_consumer(id, ConsumerStart::Beginning)
                .expect("awkward consumer name");
            store
                .set_consumer_position(id, 1)
                .expect("awkward consumer name");
            assert_eq!(store.consumer_position(id).expect("position"), Some(1));
        }
        assert!(store.read("Patient", "'").expect("read").is_none());
        let mut weird_numbers = version("Observation", "nan", 1, WriteMethod::Create, i64::MIN);
        weird_numbers.index = vec![IndexRow {
            param: "value".into(),
            value: IndexValue::Number {
                low: f64::NAN,
                high: f64::INFINITY,
            },
        }];
        put(store, weird_numbers).expect("NaN and infinity are stored, never a panic");
        assert_eq!(
            store
                .read("Observation", "nan")
                .expect("read")
                .expect("present")
                .meta
                .last_updated_micros,
            i64::MIN
        );
    }

    /// Everything survives closing and opening the store again.
    pub fn reopen_keeps_everything(open: &dyn Fn() -> Box<dyn Store>) {
        let store = open();
        create(store.as_ref(), "Patient", "p1", T0);
        update(store.as_ref(), "Patient", "p1", T0 + 1);
        let mut observation = version("Observation", "o1", 1, WriteMethod::Create, T0 + 2);
        observation.index = vec![token("code", "8867-4")];
        put(store.as_ref(), observation).expect("create o1");
        put(
            store.as_ref(),
            version("Observation", "o1", 2, WriteMethod::Delete, T0 + 3),
        )
        .expect("delete");
        store
            .register_consumer("news2", ConsumerStart::Beginning)
            .expect("register");
        store.set_consumer_position("news2", 2).expect("position");
        let job = vigil_store::JobRecord {
            id: "j1".into(),
            kind: "export".into(),
            state: "in-progress".into(),
            created_micros: 1,
            updated_micros: 2,
            body: r#"{"done":1}"#.into(),
        };
        store.insert_job(&job).expect("job");
        let before_history = store
            .history(&history(HistoryScope::System, 100))
            .expect("history");
        let before_outbox = store.changes_after(0, 100).expect("outbox");
        drop(store);

        let store = open();
        assert_eq!(
            store
                .history(&history(HistoryScope::System, 100))
                .expect("history"),
            before_history
        );
        assert_eq!(store.changes_after(0, 100).expect("outbox"), before_outbox);
        assert_eq!(store.consumer_position("news2").expect("position"), Some(2));
        assert_eq!(store.job("j1").expect("job"), Some(job));
        assert_eq!(
            store
                .read("Patient", "p1")
                .expect("read")
                .expect("present")
                .meta
                .version_id,
            2
        );
        assert!(
            store
                .read("Observation", "o1")
                .expect("read")
                .expect("marker")
                .meta
                .deleted
        );
        // Numbering continues after the reopen.
        let next = update(store.as_ref(), "Patient", "p1", T0 + 4);
        assert_eq!(next.meta.version_id, 3);
        assert!(next.seq > before_history[0].seq);
    }
}

/// Model-based check: random units of work against an in-memory model of the contract.
#[path = "contract/model.rs"]
mod model;

/// One `#[test]` per contract function for a backend; `$open` returns a fixture owning an
/// empty store (`fixture.store()`).
macro_rules! backend_contract {
    ($backend:ident, $open:expr, [$($name:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let fixture = $open();
                    contract::$name(fixture.store());
                }
            )*
        }
    };
}

backend_contract!(
    sqlite_contract,
    sqlite::Fixture::new,
    [
        create_read_vread,
        versions_increment,
        stale_versions_conflict,
        deletion_markers_and_recreation,
        history_is_newest_first_and_pages_by_seq,
        history_type_and_system_scopes,
        history_since_and_before,
        history_count_ignores_paging,
        scan_pages_current_resources,
        outbox_orders_events_and_keeps_consumer_positions,
        failing_unit_keeps_nothing,
        panicking_unit_keeps_nothing,
        a_unit_sees_its_own_writes,
        concurrent_writers_lose_nothing,
        failing_units_do_not_affect_concurrent_ones,
        index_rows_follow_the_current_version,
        a_unit_can_query_its_own_writes,
        the_query_hook_refuses_writes,
        arbitrary_strings_round_trip,
        change_events_carry_the_request_context,
        waiting_consumers_wake_on_commit,
        pruning_keeps_what_the_slowest_consumer_needs,
        audit_and_messages_commit_with_the_unit,
        a_failed_unit_keeps_no_audit_or_message,
        a_tailing_reader_misses_nothing,
        snapshot_scans_ignore_later_writes,
        jobs_are_stored_and_updated_by_compare_and_set,
        query_count_and_replace_index,
        settings_are_kept_with_the_unit,
        audit_entries_are_chained_and_the_head_kept,
        concurrent_audit_appends_never_fork_the_chain,
        audit_search_by_entity_agent_and_time,
    ]
);

/// The SQLite fixture and the checks that only make sense for SQLite.
#[path = "contract/sqlite.rs"]
mod sqlite;
