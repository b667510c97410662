//! Model-based check: random units of work against an in-memory model of the contract.

use super::*;
use std::collections::BTreeMap;

/// One `put` of a unit: which resource, how, and how far from the right version number.
#[derive(Debug, Clone)]
pub struct PutOp {
    pub type_no: u8,
    pub id_no: u8,
    pub method: WriteMethod,
    /// 0 writes the right version; anything else a wrong one.
    pub version_offset: i8,
}

/// A unit of work: its puts, and whether it aborts after them.
#[derive(Debug, Clone)]
pub struct UnitOp {
    pub puts: Vec<PutOp>,
    pub abort: bool,
}

type Key = (String, String);

#[derive(Default, Clone)]
struct Model {
    versions: BTreeMap<Key, Vec<(WriteMethod, String)>>,
    outbox: Vec<(Key, u64, WriteMethod)>,
}

fn key(op: &PutOp) -> Key {
    (
        ["Patient", "Observation"][usize::from(op.type_no % 2)].to_owned(),
        format!("id-{}", op.id_no),
    )
}

fn content(key: &Key, version: u64) -> String {
    format!(
        r#"{{"resourceType":"{}","id":"{}","v":{version}}}"#,
        key.0, key.1
    )
}

fn target_version(current: u64, offset: i8) -> u64 {
    (current + 1).saturating_add_signed(i64::from(offset))
}

/// Applies `units` to the store and to the model, then compares everything readable.
pub fn matches_the_model(store: &dyn Store, units: &[UnitOp]) {
    let mut model = Model::default();
    for (unit_no, unit) in units.iter().enumerate() {
        // The model's answer.
        let mut next = model.clone();
        let mut expected_error = None;
        for op in &unit.puts {
            let key = key(op);
            let history = next.versions.entry(key.clone()).or_default();
            let version = target_version(history.len() as u64, op.version_offset);
            if version != history.len() as u64 + 1 {
                expected_error = Some(StoreErrorKind::VersionConflict);
                break;
            }
            let body = if op.method == WriteMethod::Delete {
                String::new()
            } else {
                content(&key, version)
            };
            history.push((op.method, body));
            next.outbox.push((key, version, op.method));
        }
        if expected_error.is_none() && unit.abort {
            expected_error = Some(StoreErrorKind::Aborted);
        }
        // The store's answer.
        let result = store.write(Box::new(|tx| {
            for op in &unit.puts {
                let key = key(op);
                let current = tx.current(&key.0, &key.1)?.map_or(0, |v| v.meta.version_id);
                let version = target_version(current, op.version_offset);
                let mut new = version_of(&key, version, op.method);
                new.index = vec![IndexRow {
                    param: "identifier".into(),
                    value: IndexValue::Token {
                        system: None,
                        code: Some(format!("{}-{version}", key.1)),
                        text: None,
                    },
                }];
                tx.put(new)?;
            }
            if unit.abort { Err(aborted()) } else { Ok(()) }
        }));
        assert_eq!(
            result.as_ref().err().map(StoreError::kind),
            expected_error,
            "unit {unit_no}: {unit:?}"
        );
        if expected_error.is_none() {
            model = next;
        }
    }
    compare(store, &model);
}

fn version_of(key: &Key, version: u64, method: WriteMethod) -> NewVersion {
    let mut new = super::version(&key.0, &key.1, version, method, T0 + version as i64);
    new.content = if method == WriteMethod::Delete {
        String::new()
    } else {
        content(key, version)
    };
    new
}

fn compare(store: &dyn Store, model: &Model) {
    let mut live = Vec::new();
    for ((resource_type, id), versions) in &model.versions {
        let current = store.read(resource_type, id).expect("read");
        let Some((method, body)) = versions.last() else {
            assert_eq!(current, None, "{resource_type}/{id} was never written");
            continue;
        };
        let current = current.expect("written resources are readable");
        assert_eq!(current.meta.version_id, versions.len() as u64);
        assert_eq!(current.meta.method, *method);
        assert_eq!(current.meta.deleted, *method == WriteMethod::Delete);
        assert_eq!(&*current.content, body.as_str());
        if !current.meta.deleted {
            live.push(format!("{resource_type}/{id}"));
        }
        let history = store
            .history(&history(instance(resource_type, id), 1000))
            .expect("history");
        let seen: Vec<(WriteMethod, String)> = history
            .iter()
            .rev()
            .map(|v| (v.meta.method, v.content.to_string()))
            .collect();
        assert_eq!(&seen, versions, "history of {resource_type}/{id}");
        // Index rows belong to the current version only.
        let sql = format!(
            "SELECT {COLUMNS} FROM resource r WHERE EXISTS (SELECT 1 FROM idx_token t \
             WHERE t.rid = r.rid AND t.param = $1 AND t.code = $2)"
        );
        for version in 1..=versions.len() {
            let code = SqlValue::Text(format!("{id}-{version}"));
            let found = store
                .query_resources(&sql, &[SqlValue::from("identifier"), code])
                .expect("query");
            let found = found.iter().any(|v| v.resource_type == *resource_type);
            let expected = version == versions.len() && *method != WriteMethod::Delete;
            assert_eq!(
                found, expected,
                "index row of {resource_type}/{id} version {version}"
            );
        }
    }
    let scanned: Vec<String> = store
        .scan(None, None, 1000)
        .expect("scan")
        .iter()
        .map(|v| format!("{}/{}", v.resource_type, v.id))
        .collect();
    assert_eq!(scanned, live);
    let outbox: Vec<(Key, u64, WriteMethod)> = store
        .changes_after(0, 10_000)
        .expect("outbox")
        .into_iter()
        .map(|e| ((e.resource_type, e.id), e.version_id, e.method))
        .collect();
    assert_eq!(outbox, model.outbox);
    assert_eq!(
        store
            .history_count(&history(HistoryScope::System, 1))
            .expect("count"),
        model.outbox.len() as u64
    );
}
