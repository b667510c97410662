//! The public unit of work: several steps in one durable commit, all or nothing, each asking
//! the authorizer; the audit hook sees what the unit wrote, under whose agent.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use vigil_service::{
    AuditHook, AuditRecord, Conditional, Decision, FhirService, Preconditions, Records,
    RequestContext, ServiceConfig, ServiceError, ServiceErrorKind, WriteMethod, WrittenVersion,
};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{ChangeLog, MessageStore};

/// Remembers every call: the agent and what was written.
#[derive(Default)]
struct Hook {
    calls: Mutex<Vec<(String, Vec<WrittenVersion>)>>,
    add_record: bool,
    /// (agent, action) of every event (reads, searches) handed to the hook.
    events: Mutex<Vec<(String, String)>>,
}

impl AuditHook for Hook {
    fn on_event(&self, record: AuditRecord) {
        self.events
            .lock()
            .unwrap()
            .push((record.agent.clone(), record.action.clone()));
    }

    fn on_commit(
        &self,
        context: &RequestContext,
        written: &[WrittenVersion],
        records: &mut Records,
    ) -> Result<(), ServiceError> {
        self.calls
            .lock()
            .unwrap()
            .push((context.agent(), written.to_vec()));
        if self.add_record {
            records.append_audit(AuditRecord::for_context(context, "create"));
        }
        Ok(())
    }
}

fn service(dir: &std::path::Path, hook: Arc<Hook>) -> FhirService {
    let store = Arc::new(SqliteStore::open(dir, SqliteOptions::default()).unwrap());
    let search = Arc::new(vigil_search::SearchEngine::r4());
    FhirService::new(store, search, ServiceConfig::default()).with_audit_hook(hook)
}

fn patient(service: &FhirService, id: &str, family: &str) -> vigil_service::Prepared {
    let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]});
    let (object, _) = service.validate_body("Patient", body).unwrap();
    service.prepare("Patient", id, object).unwrap()
}

#[test]
fn steps_commit_together_and_the_hook_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(Hook::default());
    let service = service(dir.path(), hook.clone());
    let context = RequestContext::system("ingest", "http://localhost");
    let (a, b) = (patient(&service, "a", "One"), patient(&service, "b", "Two"));
    let changed = patient(&service, "a", "Changed");
    service
        .unit(&context, |unit| {
            unit.create(a, None)?;
            unit.create(b, None)?;
            // The unit sees its own writes.
            let seen = unit.read("Patient", "a")?.unwrap();
            assert_eq!(seen.meta.version_id, 1);
            unit.update(changed, &Preconditions::default())?;
            unit.delete("Patient", "b", &Preconditions::default())
        })
        .unwrap();
    let calls = hook.calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "one call per unit");
    let (agent, written) = &calls[0];
    assert_eq!(agent, "system:ingest");
    let summary: Vec<(String, u64, WriteMethod)> = written
        .iter()
        .map(|w| (w.id.clone(), w.version_id, w.method))
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_owned(), 1, WriteMethod::Create),
            ("b".to_owned(), 1, WriteMethod::Create),
            ("a".to_owned(), 2, WriteMethod::Update),
            ("b".to_owned(), 2, WriteMethod::Delete),
        ]
    );
}

#[test]
fn a_failing_step_rolls_the_whole_unit_back() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(Hook::default());
    let service = service(dir.path(), hook.clone());
    let context = RequestContext::system("test", "http://localhost");
    let a = patient(&service, "a", "One");
    let error = service
        .unit(&context, |unit| {
            unit.create(a, None)?;
            // No Patient matches: a conditional patch needs one.
            match unit.resolve_for(Conditional::Patch, "Patient", "family=Nobody", None)? {
                Decision::Existing(id) => Ok(id),
                other => Err(ServiceError::internal(format!("unexpected {other:?}"))),
            }
        })
        .unwrap_err();
    assert_eq!(error.kind(), ServiceErrorKind::NotFound);
    let read = service.read(&context, "Patient", "a").unwrap_err();
    assert_eq!(read.kind(), ServiceErrorKind::NotFound, "nothing committed");
    assert!(
        hook.calls.lock().unwrap().is_empty(),
        "the hook runs only for units that commit"
    );
}

/// Audit records and inbound messages reach the store through one adapter
/// (`audit::write_records`) in the unit's own commit: a committed unit keeps its resources, its
/// records and its change events (under the context's request id and agent); a failed unit
/// keeps none of them.
#[test]
fn records_are_committed_with_the_unit_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let hook = Arc::new(Hook {
        add_record: true,
        ..Hook::default()
    });
    let service = FhirService::new(
        store.clone(),
        Arc::new(vigil_search::SearchEngine::r4()),
        ServiceConfig::default(),
    )
    .with_audit_hook(hook);
    let context = RequestContext::system("ingest", "http://localhost");
    let message = |control_id: &str| vigil_service::InboundMessage {
        sender: "LAB^HOSP".into(),
        control_id: control_id.into(),
        received_micros: 1,
        raw: "MSH|^~\\&|LAB|HOSP".into(),
        state: "processed".into(),
        error: None,
    };
    let a = patient(&service, "a", "One");
    service
        .unit(&context, |unit| {
            unit.record_message(message("m1"));
            unit.create(a, None)
        })
        .unwrap();

    let audit = store.audit_after(0, 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.agent, "system:ingest");
    assert_eq!(audit[0].record.request_id, context.request_id);
    assert_eq!(audit[0].record.action, "create");
    let event: Value = serde_json::from_str(&audit[0].record.event).unwrap();
    assert_eq!(event["resourceType"], "AuditEvent");
    assert_eq!(event["agent"][0]["who"]["display"], "system:ingest");
    assert!(store.inbound_message("LAB^HOSP", "m1").unwrap().is_some());
    let changes = store.changes_after(0, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].resource_type.as_str(), changes[0].id.as_str()),
        ("Patient", "a")
    );
    assert_eq!(changes[0].agent, "system:ingest");
    assert_eq!(changes[0].request_id, context.request_id);

    // A failing unit keeps neither its resource nor its records.
    let b = patient(&service, "b", "Two");
    let error = service
        .unit(&context, |unit| {
            unit.record_message(message("m2"));
            unit.create(b, None)?;
            Err::<(), _>(ServiceError::internal("the mapper failed"))
        })
        .unwrap_err();
    assert_eq!(error.kind(), ServiceErrorKind::Internal);
    assert_eq!(store.audit_after(0, 10).unwrap().len(), 1);
    assert!(store.inbound_message("LAB^HOSP", "m2").unwrap().is_none());
    assert_eq!(store.changes_after(0, 10).unwrap().len(), 1);
    let read = service.read(&context, "Patient", "b").unwrap_err();
    assert_eq!(read.kind(), ServiceErrorKind::NotFound);
}

/// Reads and searches in an internal context (CDS consumers, ingest lookups) are not
/// audited, a plain system context's are; the same reads by a client are, and the internal process's writes are.
#[test]
fn internal_reads_are_not_audited_but_their_writes_and_client_reads_are() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(Hook::default());
    let service = service(dir.path(), hook.clone());
    let internal = RequestContext::internal("cds", "http://localhost");
    let created = patient(&service, "p1", "One");
    service
        .unit(&internal, |unit| unit.create(created, None))
        .unwrap();
    assert_eq!(hook.calls.lock().unwrap().len(), 1, "the write is audited");
    service.read(&internal, "Patient", "p1").unwrap();
    service
        .search(
            &internal,
            vigil_service::SearchScope::Type("Patient".into()),
            vec![("family".into(), "One".into())],
            false,
        )
        .unwrap();
    assert!(
        hook.events.lock().unwrap().is_empty(),
        "internal reads are not"
    );
    let client = RequestContext::new(
        vigil_service::Principal::Client {
            id: "ward-board".into(),
        },
        "http://localhost",
    );
    service.read(&client, "Patient", "p1").unwrap();
    service
        .search(
            &client,
            vigil_service::SearchScope::Type("Patient".into()),
            vec![],
            false,
        )
        .unwrap();
    let events = hook.events.lock().unwrap();
    let actions: Vec<&str> = events.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(actions, ["read", "search-type"], "{events:?}");
    assert!(events.iter().all(|(agent, _)| agent == "client:ward-board"));
}
