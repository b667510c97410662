//! The audit log's contract: every appended entry is chained to the one before inside the
//! commit (also under concurrent writers), the head is kept with it, a rolled-back unit frees
//! its positions, and the log is searchable by entity, agent and time, newest first.

use std::sync::Arc;

use vigil_store::audit_chain::{GENESIS, HashedFields, entry_hash, verify};
use vigil_store::{
    AuditQuery, AuditRecord, ChangeContext, Store, StoreError, TimeBound, write_with_context,
};

use super::{T0, aborted};

fn record(at: i64, agent: &str, entities: &[&str]) -> AuditRecord {
    let keys: Vec<(String, String)> = entities
        .iter()
        .map(|e| ("entity".to_owned(), (*e).to_owned()))
        .collect();
    AuditRecord {
        recorded_micros: at,
        request_id: format!("req-{at}"),
        agent: agent.to_owned(),
        action: "read".to_owned(),
        outcome: "0".to_owned(),
        entity: entities.join(" "),
        event: format!(r#"{{"at":{at}}}"#),
        keys,
    }
}

fn append(store: &dyn Store, records: Vec<AuditRecord>) -> Vec<u64> {
    write_with_context(store, &ChangeContext::system("audit"), |tx| {
        records.iter().map(|r| tx.append_audit(r)).collect()
    })
    .expect("append")
}

pub fn audit_entries_are_chained_and_the_head_kept(store: &dyn Store) {
    assert_eq!(store.audit_head().expect("head"), None);
    let seqs = append(
        store,
        vec![
            record(T0, "user:alice", &["Patient/1"]),
            record(T0 + 1, "user:bob", &["Patient/2"]),
        ],
    );
    assert_eq!(seqs, vec![1, 2], "positions are contiguous from 1");
    // A rolled-back unit frees its positions.
    let failed: Result<(), StoreError> =
        write_with_context(store, &ChangeContext::system("audit"), |tx| {
            tx.append_audit(&record(T0 + 2, "user:eve", &["Patient/9"]))?;
            Err(aborted())
        });
    assert!(failed.is_err());
    assert_eq!(
        append(store, vec![record(T0 + 3, "user:alice", &[])]),
        vec![3]
    );

    let entries = store.audit_after(0, 10).expect("entries");
    assert_eq!(entries.len(), 3);
    let mut prev = GENESIS.to_owned();
    for entry in &entries {
        assert_eq!(entry.prev_hash.as_deref(), Some(prev.as_str()));
        let expected = entry_hash(&HashedFields::of(entry), &prev);
        assert_eq!(entry.hash.as_deref(), Some(expected.as_str()));
        prev = expected;
    }
    let head = store.audit_head().expect("head").expect("a head");
    assert_eq!(head.seq, 3);
    assert_eq!(head.hash, prev);
    let summary = verify(store, None).expect("read").expect("intact");
    assert_eq!(summary.count, 3);
    assert_eq!(summary.head, Some(head));
    assert_eq!(
        store.audit_entry(2).expect("entry").map(|e| e.record.agent),
        Some("user:bob".to_owned())
    );
    assert_eq!(store.audit_entry(99).expect("none"), None);
}

pub fn concurrent_audit_appends_never_fork_the_chain(store: &dyn Store) {
    let store: Arc<&dyn Store> = Arc::new(store);
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let store = Arc::clone(&store);
            scope.spawn(move || {
                for i in 0..25 {
                    let at = T0 + thread * 1000 + i;
                    append(*store, vec![record(at, "user:alice", &["Patient/1"])]);
                }
            });
        }
    });
    let summary = verify(*store, None)
        .expect("read")
        .expect("one intact chain");
    assert_eq!(summary.count, 200);
}

pub fn audit_search_by_entity_agent_and_time(store: &dyn Store) {
    append(
        store,
        vec![
            record(T0, "user:alice", &["Patient/1", "Observation/o1"]),
            {
                // Through an app: the app is an agent key, the user the agent column.
                let mut through_app = record(T0 + 10, "user:bob", &["Patient/1"]);
                through_app
                    .keys
                    .push(("agent".to_owned(), "client:ward".to_owned()));
                through_app
            },
            record(T0 + 20, "user:alice", &["Patient/2"]),
            record(T0 + 30, "client:app", &["Patient/1"]),
        ],
    );
    let seqs = |query: AuditQuery| -> Vec<u64> {
        store
            .search_audit(&AuditQuery { limit: 10, ..query })
            .expect("search")
            .into_iter()
            .map(|e| e.seq)
            .collect()
    };
    let entity = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        seqs(AuditQuery {
            entity: entity(&["Patient/1"]),
            ..AuditQuery::default()
        }),
        vec![4, 2, 1],
        "newest first"
    );
    assert_eq!(
        seqs(AuditQuery {
            entity: entity(&["Observation/o1", "Patient/2"]),
            ..AuditQuery::default()
        }),
        vec![3, 1]
    );
    assert_eq!(
        seqs(AuditQuery {
            entity: entity(&["Patient/1"]),
            agent: entity(&["user:alice", "client:app"]),
            ..AuditQuery::default()
        }),
        vec![4, 1]
    );
    assert_eq!(
        seqs(AuditQuery {
            agent: entity(&["client:ward"]),
            ..AuditQuery::default()
        }),
        vec![2],
        "an agent key"
    );
    assert_eq!(
        seqs(AuditQuery {
            agent: entity(&["client:ward", "user:bob", "user:alice"]),
            entity: entity(&["Patient/1"]),
            ..AuditQuery::default()
        }),
        vec![2, 1],
        "agent column or key, and entity"
    );
    assert_eq!(
        seqs(AuditQuery {
            recorded: vec![TimeBound::AtOrAfter(T0 + 10), TimeBound::Before(T0 + 30)],
            ..AuditQuery::default()
        }),
        vec![3, 2]
    );
    assert_eq!(
        seqs(AuditQuery {
            recorded: vec![TimeBound::After(T0 + 10), TimeBound::AtOrBefore(T0 + 30)],
            ..AuditQuery::default()
        }),
        vec![4, 3]
    );
    assert_eq!(
        seqs(AuditQuery {
            before_seq: Some(3),
            ..AuditQuery::default()
        }),
        vec![2, 1],
        "paging cursor"
    );
    assert_eq!(
        store
            .search_audit(&AuditQuery {
                limit: 2,
                ..AuditQuery::default()
            })
            .expect("page")
            .len(),
        2
    );
    assert!(
        seqs(AuditQuery {
            entity: entity(&["Patient/3"]),
            ..AuditQuery::default()
        })
        .is_empty()
    );
    // Values are bound, never spliced into SQL.
    assert!(
        seqs(AuditQuery {
            agent: entity(&["x' OR 1=1 --"]),
            ..AuditQuery::default()
        })
        .is_empty()
    );
}
