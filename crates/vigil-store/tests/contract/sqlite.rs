//! The SQLite fixture and the checks that only make sense for SQLite.

use super::*;
use vigil_store::sqlite::{RESOURCE_COLUMNS, SqliteOptions, SqliteStore};

pub struct Fixture {
    store: Option<SqliteStore>,
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        Fixture {
            store: Some(store),
            dir,
        }
    }
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref().expect("open store")
    }
    fn sqlite(&self) -> &SqliteStore {
        self.store.as_ref().expect("open store")
    }
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/data");
    contract::reopen_keeps_everything(&|| -> Box<dyn Store> {
        Box::new(SqliteStore::open(&path, SqliteOptions::default()).expect("open"))
    });
}

#[test]
fn close_checkpoints_and_reopens() {
    let mut fixture = Fixture::new();
    create(fixture.store(), "Patient", "p1", T0);
    let store = fixture.store.take().expect("store");
    store.close().expect("close");
    let wal = fixture.dir.path().join("vigil.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "WAL checkpointed"
    );
    let store = SqliteStore::open(fixture.dir.path(), SqliteOptions::default()).expect("reopen");
    assert!(store.read("Patient", "p1").expect("read").is_some());
}

#[test]
fn durability_settings_are_in_force() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture
            .sqlite()
            .writer_pragma("journal_mode")
            .expect("pragma"),
        "wal"
    );
    assert_eq!(
        fixture
            .sqlite()
            .writer_pragma("synchronous")
            .expect("pragma"),
        "2",
        "FULL"
    );
}

#[test]
fn the_shared_column_list_is_the_backend_list() {
    assert_eq!(RESOURCE_COLUMNS, COLUMNS);
}

#[test]
fn concurrent_writers_share_commits() {
    let fixture = Fixture::new();
    let store = fixture.sqlite();
    thread::scope(|scope| {
        for thread_no in 0..16 {
            scope.spawn(move || {
                for n in 0..40 {
                    create(store, "Observation", &format!("{thread_no}-{n}"), T0);
                }
            });
        }
    });
    let stats = store.write_stats();
    assert_eq!(stats.units_committed, 640);
    assert!(
        stats.commits < stats.units_committed / 2,
        "group commit batches writes: {stats:?}"
    );
}

#[test]
fn failed_units_are_counted_not_committed() {
    let fixture = Fixture::new();
    let result = fixture
        .store()
        .write(Box::new(|_tx: &mut dyn Transaction| Err(aborted())));
    assert!(result.is_err());
    let stats = fixture.sqlite().write_stats();
    assert_eq!(
        (
            stats.commits,
            stats.units_committed,
            stats.units_rolled_back
        ),
        (0, 0, 1)
    );
}

#[test]
fn a_resource_query_must_select_the_resource_columns() {
    let fixture = Fixture::new();
    let error = fixture
        .store()
        .query_resources("SELECT r.id FROM resource r", &[])
        .expect_err("wrong shape");
    assert_eq!(error.kind(), StoreErrorKind::Internal);
}

fn put_op() -> impl proptest::strategy::Strategy<Value = model::PutOp> {
    use proptest::prelude::*;
    let method = prop_oneof![
        Just(WriteMethod::Create),
        Just(WriteMethod::Update),
        Just(WriteMethod::Patch),
        Just(WriteMethod::Delete),
    ];
    // Mostly the right version, sometimes one off either way.
    let offset = prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)];
    (0u8..2, 0u8..4, method, offset).prop_map(|(type_no, id_no, method, version_offset)| {
        model::PutOp {
            type_no,
            id_no,
            method,
            version_offset,
        }
    })
}

fn unit_op() -> impl proptest::strategy::Strategy<Value = model::UnitOp> {
    use proptest::prelude::*;
    (
        proptest::collection::vec(put_op(), 1..4),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(puts, abort)| model::UnitOp { puts, abort })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]
    #[test]
    fn random_units_match_the_model(
        units in proptest::collection::vec(unit_op(), 1..30)
    ) {
        let fixture = Fixture::new();
        model::matches_the_model(fixture.store(), &units);
    }
}

/// Environment variable that turns the crash test into its child role (the data dir).
const CRASH_CHILD: &str = "VIGIL_STORE_CRASH_CHILD";

/// Child role: 4 threads create Observations until killed (or 20 s pass), printing
/// `ACK <id>` only after `write` returned `Ok`.
fn crash_child(dir: &str) {
    use std::io::Write;
    let store =
        SqliteStore::open(std::path::Path::new(dir), SqliteOptions::default()).expect("open");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    thread::scope(|scope| {
        for thread_no in 0..4 {
            let store = &store;
            scope.spawn(move || {
                let mut n = 0;
                while std::time::Instant::now() < deadline {
                    let id = format!("c{thread_no}-{n}");
                    create(store, "Observation", &id, T0);
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {id}").expect("stdout");
                    out.flush().expect("flush");
                    n += 1;
                }
            });
        }
    });
}

/// A writer process killed with SIGKILL mid-stream loses nothing it acknowledged.
#[test]
fn acknowledged_writes_survive_a_killed_process() {
    use std::io::BufRead;
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "sqlite::acknowledged_writes_survive_a_killed_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 400 {
        let Some(line) = lines.next() else { break };
        if let Some(id) = line.expect("line").strip_prefix("ACK ") {
            acknowledged.push(id.to_owned());
        }
    }
    child.kill().expect("kill child");
    // Lines already in the pipe were acknowledged before the kill.
    for line in lines {
        if let Some(id) = line.expect("line").strip_prefix("ACK ") {
            acknowledged.push(id.to_owned());
        }
    }
    child.wait().expect("reap child");
    assert!(
        acknowledged.len() >= 400,
        "the child acknowledged only {} writes",
        acknowledged.len()
    );
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen after kill");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| store.read("Observation", id).expect("read").is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let count = store
        .history_count(&history(HistoryScope::System, 1))
        .expect("count");
    assert!(count >= acknowledged.len() as u64);
    let events = store.changes_after(0, 1_000_000).expect("outbox");
    assert_eq!(
        events.len() as u64,
        count,
        "one outbox event per surviving version"
    );
}

#[test]
fn a_nested_write_is_refused_not_deadlocked() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let outcome = write_with(store, |tx| {
        tx.put(version("Patient", "outer", 1, WriteMethod::Create, T0))?;
        Ok(put(
            store,
            version("Patient", "inner", 1, WriteMethod::Create, T0),
        )
        .map_err(|e| e.kind()))
    })
    .expect("outer unit commits");
    assert_eq!(outcome.err(), Some(StoreErrorKind::Internal));
    assert!(store.read("Patient", "outer").expect("read").is_some());
    assert!(store.read("Patient", "inner").expect("read").is_none());
    create(store, "Patient", "after", T0);
}

#[test]
fn a_lock_held_by_another_process_answers_busy_then_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        busy_timeout: std::time::Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(dir.path(), options).expect("open");
    create(&store, "Patient", "before", T0);
    let other = rusqlite::Connection::open(dir.path().join("vigil.db")).expect("second connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("other process takes the write lock");
    let error = put(
        &store,
        version("Patient", "blocked", 1, WriteMethod::Create, T0),
    )
    .expect_err("busy");
    assert_eq!(error.kind(), StoreErrorKind::Busy, "{error}");
    assert_eq!(
        store
            .read("Patient", "before")
            .expect("reads go on")
            .map(|v| v.meta.version_id),
        Some(1)
    );
    other.execute_batch("ROLLBACK").expect("release");
    create(&store, "Patient", "blocked", T0);
    store.close().expect("close");
}

#[test]
fn readers_see_committed_state_while_writing() {
    let fixture = Fixture::new();
    let store: Arc<&dyn Store> = Arc::new(fixture.store());
    create(*store, "Patient", "p", T0);
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for _ in 0..50 {
                update(*store, "Patient", "p", T0);
            }
        });
        let mut last = 0;
        while !writer.is_finished() {
            let current = store
                .read("Patient", "p")
                .expect("read")
                .expect("present")
                .meta
                .version_id;
            assert!(current >= last, "reads never go back in time");
            last = current;
        }
    });
    assert_eq!(
        store
            .read("Patient", "p")
            .expect("read")
            .expect("present")
            .meta
            .version_id,
        51
    );
}

#[test]
fn the_audit_table_refuses_updates_and_deletes() {
    let fixture = Fixture::new();
    let record = vigil_store::AuditRecord {
        recorded_micros: T0,
        request_id: "r1".into(),
        agent: "user:alice".into(),
        action: "read".into(),
        outcome: "0".into(),
        entity: "Patient/p1".into(),
        event: "{}".into(),
        keys: vec![("entity".into(), "Patient/p1".into())],
    };
    let context = vigil_store::ChangeContext::new("r1", "user:alice");
    vigil_store::write_with_context(fixture.store(), &context, |tx| tx.append_audit(&record))
        .expect("append");
    let conn = rusqlite::Connection::open(fixture.dir.path().join("vigil.db")).expect("open");
    for statement in [
        "UPDATE audit SET agent = 'user:mallory'",
        "DELETE FROM audit",
        "UPDATE audit_key SET value = 'Patient/p2'",
        "DELETE FROM audit_key",
    ] {
        let error = conn.execute(statement, []).expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    let entries = fixture.store().audit_after(0, 10).expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record.agent, "user:alice");
}

/// The names of the value indexes a bulk load drops, as the schema has them.
fn value_indexes(dir: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("vigil.db")).expect("connection");
    let mut statement = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx\\_%' ESCAPE '\\' \
             ORDER BY name",
        )
        .expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn bulk_options() -> SqliteOptions {
    SqliteOptions {
        bulk_load: true,
        ..SqliteOptions::default()
    }
}

/// An Observation with a string index row, found again through `idx_string_value` (one of the
/// indexes a bulk load drops).
fn indexed(id: &str) -> NewVersion {
    let mut new = version("Observation", id, 1, WriteMethod::Create, T0);
    new.index = vec![IndexRow {
        param: "note".into(),
        value: IndexValue::String {
            normalized: "pulse".into(),
            exact: "Pulse".into(),
        },
    }];
    new
}

fn by_note(store: &SqliteStore) -> Vec<String> {
    let sql = format!(
        "SELECT {RESOURCE_COLUMNS} FROM resource r WHERE r.rid IN (SELECT i.rid FROM idx_string i \
         WHERE i.param = $1 AND i.type = $2 AND i.normalized = $3) ORDER BY r.id"
    );
    let params = [
        SqlValue::Text("note".into()),
        SqlValue::Text("Observation".into()),
        SqlValue::Text("pulse".into()),
    ];
    store
        .query_resources(&sql, &params)
        .expect("search")
        .into_iter()
        .map(|found| found.id)
        .collect()
}

#[test]
fn a_bulk_load_rebuilds_its_indexes_and_ends_durable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = value_indexes(&{
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        put(&store, indexed("before")).expect("put");
        store.close().expect("close");
        dir.path().to_owned()
    });
    assert_eq!(all.len(), 9, "{all:?}");
    let store = SqliteStore::open(dir.path(), bulk_options()).expect("bulk open");
    assert!(
        value_indexes(dir.path()).is_empty(),
        "dropped during the load"
    );
    assert_eq!(store.writer_pragma("synchronous").expect("pragma"), "1");
    put(&store, indexed("during")).expect("put");
    // Searches stay correct without the value indexes (a scan).
    assert_eq!(by_note(&store), ["before", "during"]);
    let report = store.finish_bulk_load().expect("finish");
    assert_eq!(report.indexes, 9);
    assert_eq!(
        value_indexes(dir.path()),
        all,
        "rebuilt with the same names"
    );
    assert_eq!(store.writer_pragma("synchronous").expect("pragma"), "2");
    let wal = dir.path().join("vigil.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "checkpointed and truncated"
    );
    assert_eq!(by_note(&store), ["before", "during"]);
    assert_eq!(store.finish_bulk_load().expect("again"), Default::default());
    store.close().expect("close");
}

#[test]
fn an_interrupted_bulk_load_gets_its_indexes_back_at_the_next_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = SqliteStore::open(dir.path(), bulk_options()).expect("bulk open");
        put(&store, indexed("o1")).expect("put");
        // Dropped without finishing, as a killed import.
        drop(store);
    }
    assert!(value_indexes(dir.path()).is_empty());
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    assert_eq!(value_indexes(dir.path()).len(), 9);
    assert_eq!(by_note(&store), ["o1"]);
    let plan: String = rusqlite::Connection::open(dir.path().join("vigil.db"))
        .expect("connection")
        .query_row(
            "EXPLAIN QUERY PLAN SELECT rid FROM idx_string WHERE param = 'note' AND type = 'Observation' AND normalized = 'x'",
            [],
            |row| row.get(3),
        )
        .expect("plan");
    assert!(plan.contains("idx_string_value"), "{plan}");
}

#[test]
fn a_bulk_load_needs_the_directory_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let second = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("shared twice");
    let refused = SqliteStore::open(dir.path(), bulk_options())
        .err()
        .expect("bulk refused while a store is open");
    assert_eq!(refused.kind(), StoreErrorKind::Busy, "{refused}");
    assert!(refused.message().contains("in use"), "{refused}");
    drop((shared, second));
    let bulk = SqliteStore::open(dir.path(), bulk_options()).expect("bulk alone");
    let refused = SqliteStore::open(dir.path(), SqliteOptions::default())
        .err()
        .expect("a server cannot open during a bulk load");
    assert_eq!(refused.kind(), StoreErrorKind::Busy, "{refused}");
    assert!(refused.message().contains("bulk"), "{refused}");
    bulk.close().expect("close");
    SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open after");
}

#[test]
fn a_bulk_load_can_keep_the_token_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        bulk_keep_token_index: true,
        ..bulk_options()
    };
    let store = SqliteStore::open(dir.path(), options).expect("bulk open");
    assert_eq!(value_indexes(dir.path()), ["idx_token_value"]);
    assert_eq!(store.finish_bulk_load().expect("finish").indexes, 8);
    assert_eq!(value_indexes(dir.path()).len(), 9);
}

/// The query plan of a token lookup with `param` bound to `param`, on a fresh connection.
fn token_plan(dir: &std::path::Path, param: &str) -> String {
    let conn = rusqlite::Connection::open(dir.join("vigil.db")).expect("connection");
    let mut statement = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT rid FROM idx_token WHERE param = ?1 AND type = ?2 \
             AND code = ?3",
        )
        .expect("prepare");
    let plan: Vec<String> = statement
        .query_map(rusqlite::params![param, "Practitioner", "x"], |row| {
            row.get(3)
        })
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    plan.join("; ")
}

#[test]
fn identifier_lookups_stay_indexed_during_a_bulk_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path(), bulk_options()).expect("bulk open");
    assert!(
        token_plan(dir.path(), "identifier").contains("bulk_load_identifier"),
        "{}",
        token_plan(dir.path(), "identifier")
    );
    assert!(!token_plan(dir.path(), "code").contains("bulk_load_identifier"));
    store.finish_bulk_load().expect("finish");
    let plan = token_plan(dir.path(), "identifier");
    assert!(plan.contains("idx_token_value"), "{plan}");
    assert!(!plan.contains("bulk_load_identifier"), "{plan}");
}
