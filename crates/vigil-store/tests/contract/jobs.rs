//! The [`JobStore`] contract, and the [`ResourceStore`] methods bulk jobs and reindexing use:
//! snapshot scans (`last_seq`, `scan_as_of`), `query_count` and `Transaction::replace_index`.

use vigil_store::{
    IndexRow, IndexValue, JobRecord, SnapshotScan, SqlValue, Store, StoreErrorKind, WriteMethod,
    write_with,
};

use super::{T0, put, version};

fn snapshot(store: &dyn Store, as_of_seq: u64, since: Option<i64>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .scan_as_of(&SnapshotScan {
                resource_type: "Patient".into(),
                as_of_seq,
                since_micros: since,
                after_id: after.clone(),
                limit: 2,
            })
            .expect("scan");
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        out.extend(page.into_iter().map(|v| (v.id, v.meta.version_id)));
    }
    out
}

fn write(store: &dyn Store, id: &str, version_id: u64, method: WriteMethod, at: i64) {
    put(store, version("Patient", id, version_id, method, at)).expect("put");
}

pub fn snapshot_scans_ignore_later_writes(store: &dyn Store) {
    assert_eq!(store.last_seq().expect("seq"), 0);
    write(store, "a", 1, WriteMethod::Create, 10);
    write(store, "b", 1, WriteMethod::Create, 20);
    write(store, "c", 1, WriteMethod::Create, 30);
    write(store, "d", 1, WriteMethod::Create, 40);
    write(store, "d", 2, WriteMethod::Delete, 50);
    let at = store.last_seq().expect("seq");
    assert_eq!(at, 5);
    write(store, "a", 2, WriteMethod::Update, 60); // updated after: version 1 in the snapshot
    write(store, "b", 2, WriteMethod::Delete, 70); // deleted after: still in it
    write(store, "d", 3, WriteMethod::Update, 80); // re-created after: not in it
    write(store, "e", 1, WriteMethod::Create, 90); // created after: not in it
    let expected = vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 1)];
    assert_eq!(snapshot(store, at, None), expected);
    assert_eq!(
        snapshot(store, at, Some(20)),
        vec![("b".into(), 1), ("c".into(), 1)]
    );
    let now = store.last_seq().expect("seq");
    assert_eq!(
        snapshot(store, now, None),
        vec![
            ("a".into(), 2),
            ("c".into(), 1),
            ("d".into(), 3),
            ("e".into(), 1)
        ]
    );
    let empty = store
        .scan_as_of(&SnapshotScan {
            resource_type: "Patient".into(),
            as_of_seq: now,
            since_micros: None,
            after_id: None,
            limit: 0,
        })
        .expect("zero limit");
    assert!(empty.is_empty());
}

pub fn jobs_are_stored_and_updated_by_compare_and_set(store: &dyn Store) {
    let job = JobRecord {
        id: "j1".into(),
        kind: "export".into(),
        state: "accepted".into(),
        created_micros: 1,
        updated_micros: 1,
        body: "{}".into(),
    };
    store.insert_job(&job).expect("insert");
    let again = store.insert_job(&job).expect_err("duplicate id");
    assert_eq!(again.kind(), StoreErrorKind::VersionConflict);
    let running = JobRecord {
        state: "in-progress".into(),
        updated_micros: 2,
        body: r#"{"done":1}"#.into(),
        ..job.clone()
    };
    assert!(store.update_job(&running, "accepted").expect("cas"));
    assert!(
        !store.update_job(&running, "accepted").expect("cas"),
        "stale expected state"
    );
    let missing = JobRecord {
        id: "nope".into(),
        ..job.clone()
    };
    assert!(!store.update_job(&missing, "accepted").expect("cas missing"));
    let stored = store.job("j1").expect("read").expect("kept");
    assert_eq!(stored, running);
    let later = JobRecord {
        id: "j2".into(),
        created_micros: 5,
        ..job.clone()
    };
    store.insert_job(&later).expect("insert j2");
    let all: Vec<String> = store
        .jobs("export", None, 10)
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(all, ["j1", "j2"], "oldest first");
    assert_eq!(store.jobs("export", None, 1).expect("limit").len(), 1);
    assert_eq!(
        store.jobs("export", Some("accepted"), 10).expect("list"),
        vec![later]
    );
    assert!(store.jobs("import", None, 10).expect("list").is_empty());
    assert!(store.delete_job("j1").expect("delete"));
    assert!(!store.delete_job("j1").expect("delete"));
    assert_eq!(store.job("j1").expect("read"), None);
}

fn token(code: &str) -> IndexRow {
    IndexRow {
        param: "code".into(),
        value: IndexValue::Token {
            system: Some("http://loinc.org".into()),
            code: Some(code.into()),
            text: None,
        },
    }
}

fn count_code(store: &dyn Store, code: &str) -> u64 {
    store
        .query_count(
            "SELECT count(*) FROM idx_token t JOIN resource r ON r.rid = t.rid \
             WHERE t.param = $1 AND t.code = $2 AND r.deleted = 0",
            &[SqlValue::Text("code".into()), SqlValue::Text(code.into())],
        )
        .expect("count")
}

pub fn query_count_and_replace_index(store: &dyn Store) {
    for (n, code) in ["8867-4", "8867-4", "2339-0"].iter().enumerate() {
        let mut new = version("Observation", &format!("o{n}"), 1, WriteMethod::Create, T0);
        new.index = vec![token(code)];
        put(store, new).expect("create");
    }
    assert_eq!(count_code(store, "8867-4"), 2);
    assert_eq!(count_code(store, "2339-0"), 1);
    let total = store
        .query_count("SELECT count(*) FROM resource r", &[])
        .expect("total");
    assert_eq!(total, 3);
    put(
        store,
        version("Observation", "o2", 2, WriteMethod::Delete, T0 + 1),
    )
    .expect("delete o2");
    let (replaced, deleted, missing) = write_with(store, |tx| {
        Ok((
            tx.replace_index("Observation", "o0", vec![token("2339-0")])?,
            tx.replace_index("Observation", "o2", vec![token("2339-0")])?,
            tx.replace_index("Observation", "nope", vec![token("2339-0")])?,
        ))
    })
    .expect("reindex");
    assert!(replaced);
    assert!(!deleted, "a deletion marker keeps no index rows");
    assert!(!missing);
    assert_eq!(count_code(store, "8867-4"), 1);
    assert_eq!(count_code(store, "2339-0"), 1);
    let o0 = store.read("Observation", "o0").expect("read").expect("o0");
    assert_eq!(o0.meta.version_id, 1, "reindexing writes no version");
    assert_eq!(
        store.changes_after(0, 100).expect("changes").len(),
        4,
        "reindexing appends no change event"
    );
}

/// Settings: absent until set, set inside a unit (so a failed unit sets nothing), replaced by
/// a later set, and independent of each other.
pub fn settings_are_kept_with_the_unit(store: &dyn Store) {
    assert_eq!(store.setting("full-text").expect("read"), None);
    write_with(store, |tx| tx.set_setting("full-text", "on")).expect("set");
    assert_eq!(
        store.setting("full-text").expect("read").as_deref(),
        Some("on")
    );
    let failed = write_with(store, |tx| {
        tx.set_setting("full-text", "off")?;
        tx.set_setting("other", "x")?;
        Err::<(), _>(vigil_store::StoreError::new(
            StoreErrorKind::Aborted,
            "the unit fails",
        ))
    });
    assert!(failed.is_err());
    assert_eq!(
        store.setting("full-text").expect("read").as_deref(),
        Some("on")
    );
    assert_eq!(store.setting("other").expect("read"), None);
    write_with(store, |tx| tx.set_setting("full-text", "off")).expect("set");
    assert_eq!(
        store.setting("full-text").expect("read").as_deref(),
        Some("off")
    );
}
