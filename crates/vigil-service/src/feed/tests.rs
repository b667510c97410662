//! The runner against a real SQLite store in a temporary directory: order, no gaps, resume
//! after restart, retries, wake-on-commit, and 8 writers with 2 consumers.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{
    ChangeContext, ChangeEvent, ChangeLog, ConsumerStart, NewVersion, ResourceStore, Store,
    WriteMethod, write_with_context,
};

use super::{ChangeConsumer, ConsumerOptions, ConsumerRunner};

/// Collects what it is given; fails its first `failures` calls.
struct Collector {
    name: String,
    seen: Arc<Mutex<Vec<ChangeEvent>>>,
    calls: Arc<Mutex<Vec<u64>>>,
    failures: usize,
}

impl ChangeConsumer for Collector {
    type Error = String;
    fn name(&self) -> &str {
        &self.name
    }
    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), String> {
        lock(&self.calls).push(events[0].seq);
        if self.failures > 0 {
            self.failures -= 1;
            return Err("downstream unavailable".into());
        }
        lock(&self.seen).extend_from_slice(events);
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().expect("test lock")
}

type Seen = Arc<Mutex<Vec<ChangeEvent>>>;

fn collector(name: &str, failures: usize) -> (Collector, Seen, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let consumer = Collector {
        name: name.to_owned(),
        seen: Arc::clone(&seen),
        calls: Arc::clone(&calls),
        failures,
    };
    (consumer, seen, calls)
}

/// Options that only deliver on commit wake-ups: the safety re-read is an hour away.
fn woken_only() -> ConsumerOptions {
    ConsumerOptions {
        safety_interval: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(5),
        batch_size: 7,
        ..ConsumerOptions::default()
    }
}

fn open(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir, SqliteOptions::default()).expect("open store"))
}

fn create(store: &dyn Store, id: &str) -> u64 {
    let new = NewVersion {
        resource_type: "Patient".into(),
        id: id.to_owned(),
        version_id: 1,
        last_updated_micros: 1,
        method: WriteMethod::Create,
        content: format!(r#"{{"resourceType":"Patient","id":"{id}"}}"#),
        index: Vec::new(),
    };
    write_with_context(store, &ChangeContext::new(id, "dev"), move |tx| tx.put(new))
        .expect("create")
        .seq
}

fn wait_for(seen: &Seen, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(seen).len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} events delivered",
            lock(seen).len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn seqs(seen: &Seen) -> Vec<u64> {
    lock(seen).iter().map(|event| event.seq).collect()
}

#[test]
fn delivers_in_order_on_commit_and_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    let mut written: Vec<u64> = (0..10)
        .map(|n| create(store.as_ref(), &format!("a{n}")))
        .collect();
    let (consumer, seen, _) = collector("ward-board", 0);
    let runner = ConsumerRunner::start(store.clone(), consumer, woken_only()).expect("start");
    assert_eq!(runner.name(), "ward-board");
    wait_for(&seen, 10);
    // Only a commit wakes the runner now (its safety re-read is an hour away).
    written.extend((0..5).map(|n| create(store.as_ref(), &format!("b{n}"))));
    wait_for(&seen, 15);
    runner.stop();
    assert_eq!(seqs(&seen), written);
    assert_eq!(
        lock(&seen)[10].request_id,
        "b0",
        "events carry their context"
    );
    assert_eq!(
        store.consumer_position("ward-board").expect("position"),
        written.last().copied()
    );

    // Written while the consumer is down; a new runner resumes from the saved position.
    let later: Vec<u64> = (0..4)
        .map(|n| create(store.as_ref(), &format!("c{n}")))
        .collect();
    let (consumer, resumed, _) = collector("ward-board", 0);
    let runner = ConsumerRunner::start(store.clone(), consumer, woken_only()).expect("restart");
    wait_for(&resumed, 4);
    runner.stop();
    assert_eq!(
        seqs(&resumed),
        later,
        "nothing handled before is delivered again"
    );
}

#[test]
fn a_failing_handler_is_retried_without_skipping() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    let written: Vec<u64> = (0..20)
        .map(|n| create(store.as_ref(), &format!("p{n}")))
        .collect();
    let (consumer, seen, calls) = collector("flaky", 3);
    let runner = ConsumerRunner::start(store.clone(), consumer, woken_only()).expect("start");
    wait_for(&seen, 20);
    runner.stop();
    assert_eq!(seqs(&seen), written, "every event once, in order");
    let calls = lock(&calls).clone();
    assert_eq!(
        &calls[..4],
        &[written[0]; 4],
        "the failed batch is offered again until handled"
    );
}

#[test]
fn a_consumer_starting_now_skips_the_past() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    create(store.as_ref(), "old");
    let (consumer, seen, _) = collector("alerts", 0);
    let options = ConsumerOptions {
        start: ConsumerStart::Now,
        ..woken_only()
    };
    let runner = ConsumerRunner::start(store.clone(), consumer, options).expect("start");
    let new = create(store.as_ref(), "new");
    wait_for(&seen, 1);
    runner.stop();
    assert_eq!(seqs(&seen), [new]);
}

#[test]
fn pruning_follows_the_slowest_consumer() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    let written: Vec<u64> = (0..10)
        .map(|n| create(store.as_ref(), &format!("p{n}")))
        .collect();
    store
        .register_consumer("stalled", ConsumerStart::Beginning)
        .expect("register");
    store
        .set_consumer_position("stalled", written[3])
        .expect("position");
    let (consumer, seen, _) = collector("pruner", 0);
    let options = ConsumerOptions {
        prune_interval: Some(Duration::ZERO),
        ..woken_only()
    };
    let runner = ConsumerRunner::start(store.clone(), consumer, options).expect("start");
    wait_for(&seen, 10);
    runner.stop();
    let left: Vec<u64> = store
        .changes_after(0, 100)
        .expect("changes")
        .iter()
        .map(|event| event.seq)
        .collect();
    assert_eq!(left, written[4..].to_vec(), "kept for the stalled consumer");
}

/// The issue's load test in process: 8 writers, 2 consumers through the runner; each consumer
/// gets every committed version once, in commit order, with no gap.
#[test]
fn eight_writers_two_consumers_every_version_in_order() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 150;
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    let (first, first_seen, _) = collector("first", 0);
    let (second, second_seen, _) = collector("second", 2);
    let options = ConsumerOptions {
        prune_interval: Some(Duration::from_millis(50)),
        ..woken_only()
    };
    let runners = [
        ConsumerRunner::start(store.clone(), first, options.clone()).expect("first"),
        ConsumerRunner::start(store.clone(), second, options).expect("second"),
    ];
    let acknowledged: BTreeSet<(u64, String)> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                scope.spawn(move || {
                    (0..PER_WRITER)
                        .map(|n| {
                            let id = format!("w{writer}n{n}");
                            (create(store.as_ref(), &id), id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|writer| writer.join().expect("writer"))
            .collect()
    });
    assert_eq!(acknowledged.len(), WRITERS * PER_WRITER);
    for seen in [&first_seen, &second_seen] {
        wait_for(seen, acknowledged.len());
    }
    for runner in runners {
        runner.stop();
    }
    let last = store.last_seq().expect("last");
    for seen in [&first_seen, &second_seen] {
        let delivered: Vec<(u64, String)> = lock(seen)
            .iter()
            .map(|event| (event.seq, event.id.clone()))
            .collect();
        let order: Vec<u64> = delivered.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            order,
            (1..=last).collect::<Vec<_>>(),
            "commit order, no gap"
        );
        assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    }
}

/// A consumer that loses its registration while handling its first batch: the position cannot
/// be saved, so the runner offers the same batch again (at least once) instead of moving on.
struct LosesItsPosition {
    store: Arc<SqliteStore>,
    seen: Seen,
    calls: usize,
}

impl ChangeConsumer for LosesItsPosition {
    type Error = String;
    fn name(&self) -> &str {
        "forgetful"
    }
    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), String> {
        self.calls += 1;
        let result = match self.calls {
            1 => self.store.unregister_consumer("forgetful").map(|_| ()),
            2 => self
                .store
                .register_consumer("forgetful", ConsumerStart::Beginning)
                .map(|_| ()),
            _ => Ok(()),
        };
        result.map_err(|error| error.to_string())?;
        lock(&self.seen).extend_from_slice(events);
        Ok(())
    }
}

#[test]
fn a_batch_whose_position_was_not_saved_is_delivered_again() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path());
    let written: Vec<u64> = (0..10)
        .map(|n| create(store.as_ref(), &format!("p{n}")))
        .collect();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let consumer = LosesItsPosition {
        store: store.clone(),
        seen: Arc::clone(&seen),
        calls: 0,
    };
    let runner = ConsumerRunner::start(store.clone(), consumer, woken_only()).expect("start");
    // The first batch (7 events) twice, then the remaining 3.
    wait_for(&seen, 17);
    runner.stop();
    let mut expected = written[..7].to_vec();
    expected.extend_from_slice(&written);
    assert_eq!(seqs(&seen), expected);
    assert_eq!(
        store.consumer_position("forgetful").expect("position"),
        written.last().copied()
    );
}
