//! The [`ChangeLog`] and [`MessageStore`] contract and the records a unit of work appends with
//! its resources (change events with their context, audit records, inbound messages).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vigil_store::{
    AuditRecord, ChangeContext, ConsumerStart, HistoryScope, InboundMessage, Store, StoreError,
    WriteMethod, write_with_context,
};

use super::{T0, aborted, create, history, update, version};

fn context(request_id: &str, agent: &str) -> ChangeContext {
    ChangeContext::new(request_id, agent)
}

fn audit(action: &str, entity: &str) -> AuditRecord {
    AuditRecord {
        recorded_micros: T0,
        request_id: "req-7".to_owned(),
        agent: "user:bob".to_owned(),
        action: action.to_owned(),
        outcome: "0".to_owned(),
        entity: entity.to_owned(),
        event: format!(r#"{{"action":"{action}","entity":"{entity}"}}"#),
        keys: vec![("entity".to_owned(), entity.to_owned())],
    }
}

fn message(control_id: &str, state: &str, at: i64) -> InboundMessage {
    InboundMessage {
        sender: "LAB^HOSP".to_owned(),
        control_id: control_id.to_owned(),
        received_micros: at,
        raw: format!("MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|{control_id}|P|2.5"),
        state: state.to_owned(),
        error: None,
    }
}

pub fn change_events_carry_the_request_context(store: &dyn Store) {
    let alice = context("req-1", "user:alice");
    let stored = write_with_context(store, &alice, |tx| {
        tx.put(version("Patient", "p1", 1, WriteMethod::Create, T0))
    })
    .expect("write as alice");
    update(store, "Patient", "p1", T0 + 1);
    let events = store.changes_after(0, 10).expect("changes");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].seq, stored.seq);
    assert_eq!(events[0].request_id, "req-1");
    assert_eq!(events[0].agent, "user:alice");
    assert_eq!(events[0].method, WriteMethod::Create);
    assert!(events[0].recorded_micros > 0, "events are time-stamped");
    let unattributed = ChangeContext::unattributed();
    assert_eq!(events[1].request_id, unattributed.request_id);
    assert_eq!(events[1].agent, unattributed.agent);
    assert_eq!(events[1].method, WriteMethod::Update);
    assert_eq!(events[1].version_id, 2);
}

pub fn waiting_consumers_wake_on_commit(store: &dyn Store) {
    let first = create(store, "Patient", "p1", T0);
    let started = Instant::now();
    let timed_out = store
        .wait_for_change(first.seq, Duration::from_millis(50))
        .expect("wait");
    assert_eq!(timed_out, first.seq, "nothing new: the wait times out");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        store
            .wait_for_change(0, Duration::from_secs(10))
            .expect("already past"),
        first.seq,
        "a change already committed answers at once"
    );
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            store
                .wait_for_change(first.seq, Duration::from_secs(30))
                .expect("wait")
        });
        std::thread::sleep(Duration::from_millis(20));
        let second = create(store, "Patient", "p2", T0);
        let woken_at = waiter.join().expect("waiter");
        assert!(woken_at >= second.seq, "woken with the new position");
    });
}

pub fn pruning_keeps_what_the_slowest_consumer_needs(store: &dyn Store) {
    let seqs: Vec<u64> = (0..6)
        .map(|n| create(store, "Patient", &format!("p{n}"), T0).seq)
        .collect();
    assert_eq!(store.prune_outbox().expect("prune"), 0, "no consumer: kept");
    store
        .register_consumer("fast", ConsumerStart::Beginning)
        .expect("register");
    store
        .register_consumer("slow", ConsumerStart::Beginning)
        .expect("register");
    store.set_consumer_position("fast", seqs[4]).expect("fast");
    store.set_consumer_position("slow", seqs[1]).expect("slow");
    assert_eq!(store.prune_outbox().expect("prune"), 2);
    let left: Vec<u64> = store
        .changes_after(0, 100)
        .expect("changes")
        .iter()
        .map(|event| event.seq)
        .collect();
    assert_eq!(left, seqs[2..].to_vec(), "the slow consumer's events kept");
    assert!(store.unregister_consumer("slow").expect("forget slow"));
    assert_eq!(store.prune_outbox().expect("prune"), 3);
    let left: Vec<u64> = store
        .changes_after(0, 100)
        .expect("changes")
        .iter()
        .map(|event| event.seq)
        .collect();
    assert_eq!(left, vec![seqs[5]]);
    assert_eq!(
        store
            .history_count(&history(HistoryScope::System, 100))
            .expect("history"),
        6,
        "history is never pruned"
    );
}

pub fn audit_and_messages_commit_with_the_unit(store: &dyn Store) {
    let bob = context("req-7", "user:bob");
    let (first_audit, new) = write_with_context(store, &bob, |tx| {
        tx.put(version("Observation", "o1", 1, WriteMethod::Create, T0))?;
        let first = tx.append_audit(&audit("create", "Observation/o1"))?;
        tx.append_audit(&audit("read", "Patient/p1"))?;
        let new = tx.record_message(&message("MSG1", "processed", T0))?;
        let seen = tx.inbound_message("LAB^HOSP", "MSG1")?;
        assert_eq!(seen.map(|m| m.state), Some("processed".to_owned()));
        Ok((first, new))
    })
    .expect("unit");
    assert!(new, "the first record of a message is new");
    let entries = store.audit_after(0, 10).expect("audit");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].seq, first_audit);
    assert!(entries[1].seq > entries[0].seq);
    assert_eq!(entries[0].record.request_id, "req-7");
    assert_eq!(entries[0].record.agent, "user:bob");
    let stored_without_keys = AuditRecord {
        keys: Vec::new(),
        ..audit("create", "Observation/o1")
    };
    assert_eq!(entries[0].record, stored_without_keys);
    assert_eq!(entries[1].record.action, "read");
    assert_eq!(
        store.audit_after(entries[0].seq, 10).expect("tail").len(),
        1
    );
    assert!(store.audit_after(0, 0).expect("zero").is_empty());
    assert_eq!(
        store.inbound_message("LAB^HOSP", "MSG1").expect("message"),
        Some(message("MSG1", "processed", T0))
    );
    assert_eq!(
        store.inbound_message("LAB^HOSP", "MSG2").expect("none"),
        None
    );
    assert_eq!(store.inbound_message("OTHER", "MSG1").expect("none"), None);

    // A replay of the same control id is recognised; a failure replaces the record.
    let mut failed = message("MSG1", "dead-letter", T0 + 5);
    failed.error = Some("PID-3 missing".to_owned());
    let replaced =
        write_with_context(store, &bob, |tx| tx.record_message(&failed)).expect("record again");
    assert!(!replaced, "a second record of the same message is not new");
    write_with_context(store, &bob, |tx| {
        tx.record_message(&message("MSG0", "dead-letter", T0 + 1))?;
        tx.record_message(&message("MSG3", "processed", T0 + 2))
    })
    .expect("more messages");
    let dead: Vec<(String, Option<String>)> = store
        .inbound_messages("dead-letter", 10)
        .expect("dead letters")
        .into_iter()
        .map(|m| (m.control_id, m.error))
        .collect();
    assert_eq!(
        dead,
        vec![
            ("MSG0".to_owned(), None),
            ("MSG1".to_owned(), Some("PID-3 missing".to_owned()))
        ],
        "oldest received first"
    );
    assert_eq!(
        store.inbound_messages("dead-letter", 1).expect("one").len(),
        1
    );
    assert!(
        store
            .inbound_messages("queued", 10)
            .expect("none")
            .is_empty()
    );
}

pub fn a_failed_unit_keeps_no_audit_or_message(store: &dyn Store) {
    let kept = create(store, "Patient", "kept", T0);
    let result: Result<(), StoreError> = write_with_context(store, &context("r", "dev"), |tx| {
        tx.put(version("Patient", "lost", 1, WriteMethod::Create, T0))?;
        tx.append_audit(&audit("create", "Patient/lost"))?;
        tx.record_message(&message("LOST", "processed", T0))?;
        Err(aborted())
    });
    assert!(result.is_err());
    assert_eq!(store.read("Patient", "lost").expect("read"), None);
    assert!(store.audit_after(0, 10).expect("audit").is_empty());
    assert_eq!(
        store.inbound_message("LAB^HOSP", "LOST").expect("message"),
        None
    );
    let events = store.changes_after(0, 10).expect("changes");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, kept.seq);
}

/// A reader tailing the feed while writers (some of whose units fail) commit concurrently
/// sees every committed version exactly once, in position order: no late commit slips behind
/// its cursor.
pub fn a_tailing_reader_misses_nothing(store: &dyn Store) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let seen = std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let done = &done;
            scope.spawn(move || {
                for n in 0..PER_WRITER {
                    let id = format!("w{writer}n{n}");
                    let fail = n % 7 == 3;
                    let _ = write_with_context(store, &context(&id, "dev"), |tx| {
                        tx.put(version("Patient", &id, 1, WriteMethod::Create, T0))?;
                        if fail { Err(aborted()) } else { Ok(()) }
                    });
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
            let events = store.changes_after(cursor, 16).expect("changes");
            for event in &events {
                assert!(event.seq > cursor, "positions only grow");
                cursor = event.seq;
                seen.push((event.seq, event.id.clone()));
            }
            if events.is_empty() {
                if finished {
                    break seen;
                }
                store
                    .wait_for_change(cursor, Duration::from_millis(200))
                    .expect("wait");
            }
        }
    });
    let committed: BTreeSet<(u64, String)> = store
        .changes_after(0, 100_000)
        .expect("all")
        .into_iter()
        .map(|event| (event.seq, event.id))
        .collect();
    let expected = WRITERS * (0..PER_WRITER).filter(|n| n % 7 != 3).count();
    assert_eq!(committed.len(), expected);
    assert_eq!(seen.len(), committed.len(), "each version seen once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), committed);
    for (event, request) in store
        .changes_after(0, 100_000)
        .expect("all")
        .iter()
        .map(|e| (e.id.clone(), e.request_id.clone()))
    {
        assert_eq!(event, request, "each event carries its own unit's context");
    }
}
