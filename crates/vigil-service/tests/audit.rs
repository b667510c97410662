//! The audit trail through the door: writes recorded in their own commit (and not when the
//! unit fails), reads, searches, history, `$everything` and refusals recorded by the
//! background writer, AuditEvents following BALP, served read-only and searchable, and the
//! whole log a verifiable hash chain.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::Arc;
use vigil_service::{
    Access, AuditRecord, AuditTrail, AuditTrailOptions, Authorizer, Denied, FhirService,
    HistoryParams, PatchDocument, Preconditions, Principal, RequestContext, SearchScope,
    ServiceConfig, ServiceError, ServiceErrorKind,
};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{AuditEntry, ChangeLog, HistoryScope};

/// Refuses everything about Observation `secret` and every Encounter.
struct Policy;

impl Authorizer for Policy {
    fn authorize(&self, _context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        if access.resource_type == "Encounter" || access.id == Some("secret") {
            return Err(Denied::new("not for you"));
        }
        Ok(())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    service: FhirService,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let service = FhirService::open(store.clone(), ServiceConfig::default()).unwrap();
    let options = AuditTrailOptions {
        queue_capacity: 64,
        max_batch: 16,
        ..AuditTrailOptions::default()
    };
    let trail = AuditTrail::start(&service, options).unwrap();
    let service = service
        .with_audit_hook(Arc::new(trail))
        .with_authorizer(Arc::new(Policy));
    Fixture {
        _dir: dir,
        store,
        service,
    }
}

fn alice() -> RequestContext {
    let mut context =
        RequestContext::new(Principal::User { id: "alice".into() }, "http://vigil.test");
    context.client_id = Some("ward-app".into());
    context.remote_addr = Some("127.0.0.7:51000".parse().unwrap());
    context.purpose_of_use = Some("TREAT".into());
    context
}

fn entries(fixture: &Fixture) -> Vec<AuditEntry> {
    fixture.service.flush_audit();
    fixture.store.audit_after(0, 10_000).unwrap()
}

fn event(entry: &AuditEntry) -> Value {
    serde_json::from_str(&entry.record.event).unwrap()
}

fn seed(fixture: &Fixture) {
    let context = RequestContext::system("seed", "http://vigil.test");
    let service = &fixture.service;
    let none = Preconditions::default();
    service
        .update(
            &context,
            "Patient",
            "p1",
            json!({"resourceType": "Patient", "id": "p1"}),
            &none,
        )
        .unwrap();
    service
        .update(
            &context,
            "Patient",
            "p2",
            json!({"resourceType": "Patient", "id": "p2"}),
            &none,
        )
        .unwrap();
    for (id, patient) in [("o1", "p1"), ("o2", "p1"), ("o3", "p2")] {
        let body = json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"text": "pulse"}, "subject": {"reference": format!("Patient/{patient}")}});
        service
            .update(&context, "Observation", id, body, &none)
            .unwrap();
    }
}

#[test]
fn writes_are_recorded_in_their_own_commit_and_not_when_the_unit_fails() {
    let fixture = fixture();
    let context = alice();
    let body = json!({"resourceType": "Patient", "id": "p9"});
    fixture
        .service
        .update(&context, "Patient", "p9", body, &Preconditions::default())
        .unwrap();
    // No flush: the write's record is already committed with it.
    let committed = fixture.store.audit_after(0, 10).unwrap();
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].record.action, "update");
    assert_eq!(committed[0].record.entity, "Patient/p9/_history/1");
    assert_eq!(committed[0].record.agent, "user:alice");

    // A unit that fails keeps neither the resource nor its record.
    let failed: Result<(), ServiceError> = fixture.service.unit(&context, |unit| {
        let body = json!({"resourceType": "Patient", "id": "lost"});
        let (object, _) = unit_service(&fixture).validate_body("Patient", body)?;
        let prepared = unit_service(&fixture).prepare("Patient", "lost", object)?;
        unit.create(prepared, None)?;
        Err(ServiceError::invalid("changed my mind", "Patient"))
    });
    assert!(failed.is_err());
    let after = entries(&fixture);
    assert!(after.iter().all(|e| !e.record.entity.contains("lost")));
    assert!(fixture.service.read(&context, "Patient", "lost").is_err());
}

fn unit_service(fixture: &Fixture) -> &FhirService {
    &fixture.service
}

#[test]
fn reads_searches_history_and_everything_are_recorded() {
    let fixture = fixture();
    seed(&fixture);
    let before = entries(&fixture).len();
    let context = alice();
    let service = &fixture.service;
    service.read(&context, "Observation", "o1").unwrap();
    service.vread(&context, "Patient", "p1", "1").unwrap();
    assert_eq!(
        service
            .read(&context, "Patient", "nobody")
            .unwrap_err()
            .kind(),
        ServiceErrorKind::NotFound
    );
    let pairs = vec![("subject".to_owned(), "Patient/p1".to_owned())];
    service
        .search(
            &context,
            SearchScope::Type("Observation".into()),
            pairs,
            false,
        )
        .unwrap();
    service
        .history(
            &context,
            HistoryScope::Instance("Patient".into(), "p2".into()),
            &HistoryParams::default(),
        )
        .unwrap();
    service.everything(&context, "p2", &[]).unwrap();

    let all = entries(&fixture);
    let new: Vec<&AuditEntry> = all[before..].iter().collect();
    let actions: Vec<&str> = new.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "read",
            "vread",
            "read",
            "search-type",
            "history-instance",
            "everything"
        ]
    );
    assert_eq!(new[0].record.entity, "Observation/o1/_history/1");
    assert_eq!(new[0].record.outcome, "0");
    // The patient of a read resource is found in its content (by the background writer).
    let read = event(new[0]);
    let patient = read["entity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"]["code"] == "1")
        .expect("the read Observation's patient");
    assert_eq!(patient["what"]["reference"], "Patient/p1");
    // So is the patient of a written one (from its index rows).
    let written = all
        .iter()
        .find(|e| e.record.entity == "Observation/o3/_history/1")
        .unwrap();
    assert!(event(written).to_string().contains("\"Patient/p2\""));
    assert_eq!(
        new[2].record.outcome, "4",
        "a read of nothing is a minor failure"
    );
    // The search names what it returned and, as their only patient, Patient/p1.
    let search = event(new[3]);
    let references: Vec<&str> = search["entity"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["what"]["reference"].as_str())
        .collect();
    assert!(
        references.contains(&"Observation/o1/_history/1"),
        "{references:?}"
    );
    assert!(
        references.contains(&"Observation/o2/_history/1"),
        "{references:?}"
    );
    assert!(references.contains(&"Patient/p1"), "{references:?}");
    assert!(!references.iter().any(|r| r.contains("o3")));
    let everything = event(new[5]);
    assert!(everything.to_string().contains("Observation/o3/_history/1"));
    assert!(!everything.to_string().contains("Observation/o1/"));
    assert!(fixture.service.verify_audit_trail(None).unwrap().is_ok());
}

#[test]
fn refused_attempts_are_recorded_with_a_failure_outcome() {
    let fixture = fixture();
    seed(&fixture);
    let context = alice();
    let service = &fixture.service;
    let before = entries(&fixture).len();
    let refused = service.read(&context, "Observation", "secret").unwrap_err();
    assert_eq!(refused.kind(), ServiceErrorKind::Forbidden);
    let body = json!({"resourceType": "Encounter", "status": "planned",
        "class": {"code": "IMP"}});
    let refused = service
        .create(&context, "Encounter", body, None)
        .unwrap_err();
    assert_eq!(refused.kind(), ServiceErrorKind::Forbidden);
    let all = entries(&fixture);
    let new = &all[before..];
    assert_eq!(
        new.len(),
        2,
        "one record per refusal, none for the failed write"
    );
    assert_eq!(new[0].record.action, "read");
    assert_eq!(new[0].record.outcome, "8");
    assert_eq!(new[0].record.entity, "Observation/secret");
    assert_eq!(new[1].record.action, "create");
    assert_eq!(new[1].record.outcome, "8");
    let denied = event(&new[1]);
    assert_eq!(denied["outcome"], "8");
    assert_eq!(denied["outcomeDesc"], "Forbidden");
    assert_eq!(denied["agent"][0]["who"]["identifier"]["value"], "alice");
}

#[test]
fn audit_events_follow_the_basic_audit_log_patterns() {
    let fixture = fixture();
    seed(&fixture);
    let mut context = alice();
    context.break_glass_reason = Some("unconscious patient in A&E".into());
    let pairs = vec![("subject".to_owned(), "Patient/p2".to_owned())];
    fixture
        .service
        .search(
            &context,
            SearchScope::Type("Observation".into()),
            pairs,
            false,
        )
        .unwrap();
    let all = entries(&fixture);
    let event = event(all.last().unwrap());
    assert_eq!(event["resourceType"], "AuditEvent");
    assert_eq!(event["type"]["code"], "rest");
    assert_eq!(event["subtype"][0]["code"], "search-type");
    assert_eq!(event["action"], "E");
    assert_eq!(event["outcome"], "0");
    assert!(event["recorded"].as_str().unwrap().ends_with('Z'));
    // who: the user, requestor, from where, why (BTG and TREAT); the app; the server.
    let user = &event["agent"][0];
    assert_eq!(user["requestor"], true);
    assert_eq!(user["type"]["coding"][0]["code"], "IRCP");
    assert_eq!(user["who"]["identifier"]["value"], "alice");
    assert_eq!(user["network"]["address"], "127.0.0.7");
    assert_eq!(user["network"]["type"], "2");
    assert_eq!(user["purposeOfUse"][0]["coding"][0]["code"], "BTG");
    assert_eq!(
        user["purposeOfUse"][0]["text"],
        "unconscious patient in A&E"
    );
    assert_eq!(user["purposeOfUse"][1]["coding"][0]["code"], "TREAT");
    assert_eq!(event["purposeOfEvent"][0]["coding"][0]["code"], "BTG");
    let app = &event["agent"][1];
    assert_eq!(app["type"]["coding"][0]["code"], "110150");
    assert_eq!(app["who"]["identifier"]["value"], "ward-app");
    assert_eq!(app["requestor"], false);
    assert_eq!(event["agent"][2]["type"]["coding"][0]["code"], "110152");
    assert_eq!(event["source"]["type"][0]["code"], "4");
    // what: the resources, the patient as its own entity, the query (base64).
    let entities = event["entity"].as_array().unwrap();
    let patient = entities
        .iter()
        .find(|e| e["role"]["code"] == "1")
        .expect("a patient entity");
    assert_eq!(patient["what"]["reference"], "Patient/p2");
    assert_eq!(patient["type"]["code"], "1");
    let query = entities
        .iter()
        .find(|e| e["role"]["code"] == "24")
        .expect("a query entity");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(query["query"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, b"subject=Patient%2Fp2");
    assert!(
        entities
            .iter()
            .any(|e| e["what"]["reference"] == "Observation/o3/_history/1"
                && e["role"]["code"] == "4")
    );

    // Login and token events through the public door.
    let login = AuditRecord::for_context(&alice(), "login").denied("bad password");
    fixture.service.audit_event(login);
    fixture
        .service
        .audit_event(AuditRecord::for_context(&alice(), "token"));
    let all = entries(&fixture);
    let login = serde_json::from_str::<Value>(&all[all.len() - 2].record.event).unwrap();
    assert_eq!(login["type"]["code"], "110114");
    assert_eq!(login["subtype"][0]["code"], "110122");
    assert_eq!(login["outcome"], "8");
    assert_eq!(login["outcomeDesc"], "bad password");
    let token = serde_json::from_str::<Value>(&all[all.len() - 1].record.event).unwrap();
    assert_eq!(token["subtype"][0]["code"], "ITI-71");
}

/// The auditor: her own searches are audited too, under her name.
fn carol() -> RequestContext {
    RequestContext::new(Principal::User { id: "carol".into() }, "http://vigil.test")
}

fn search_ids(service: &FhirService, pairs: &[(&str, &str)]) -> Vec<String> {
    service.flush_audit();
    let pairs = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let bundle = service
        .search(
            &carol(),
            SearchScope::Type("AuditEvent".into()),
            pairs,
            false,
        )
        .unwrap();
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn audit_events_are_served_and_searchable_by_entity_agent_and_date() {
    let fixture = fixture();
    seed(&fixture); // Records 1-5: the seed's writes, by system:seed.
    let service = &fixture.service;
    let mut bob = alice();
    bob.principal = Principal::User { id: "bob".into() };
    bob.client_id = None;
    service.read(&alice(), "Patient", "p1").unwrap(); // 6
    service.read(&bob, "Observation", "o3").unwrap(); // 7
    service.flush_audit();

    let read = service.read(&carol(), "AuditEvent", "6").unwrap();
    let resource: Value = serde_json::from_str(&read.version.content).unwrap();
    assert_eq!(resource["resourceType"], "AuditEvent");
    assert_eq!(resource["id"], "6");
    assert_eq!(resource["meta"]["versionId"], "1");
    assert_eq!(resource["subtype"][0]["code"], "read");
    assert!(service.vread(&carol(), "AuditEvent", "6", "1").is_ok());
    for missing in ["999", "x", "-1"] {
        assert_eq!(
            service
                .read(&carol(), "AuditEvent", missing)
                .unwrap_err()
                .kind(),
            ServiceErrorKind::NotFound
        );
    }
    assert!(service.vread(&carol(), "AuditEvent", "6", "2").is_err());

    // Patient/p1 itself (1, 6) and its Observations, written (3, 4) or read.
    assert_eq!(
        search_ids(service, &[("entity", "Patient/p1")]),
        ["6", "4", "3", "1"]
    );
    assert_eq!(
        search_ids(service, &[("patient", "p1")]),
        ["6", "4", "3", "1"]
    );
    assert_eq!(search_ids(service, &[("patient", "p2")]), ["7", "5", "2"]);
    assert_eq!(
        search_ids(service, &[("entity", "http://vigil.test/Observation/o3")]),
        ["7", "5"]
    );
    assert_eq!(search_ids(service, &[("agent", "bob")]), ["7"]);
    assert_eq!(
        search_ids(service, &[("agent", "user:alice,ward-app")]),
        ["6"]
    );
    // The auditor's own reads (8-13) and searches so far (six) are audited under her name.
    assert_eq!(search_ids(service, &[("agent", "carol")]).len(), 6 + 6);
    let seeded = search_ids(service, &[("agent", "system:seed")]);
    assert_eq!(seeded, ["5", "4", "3", "2", "1"]);
    assert_eq!(
        search_ids(
            service,
            &[("date", "ge2000-01-01"), ("agent", "system:seed")]
        )
        .len(),
        5
    );
    assert!(search_ids(service, &[("date", "lt2000-01-01")]).is_empty());
    assert!(search_ids(service, &[("date", "gt2999-01-01")]).is_empty());
    let today = &vigil_service::format_instant(vigil_service::now_micros())[..10];
    assert!(search_ids(service, &[("date", today), ("agent", "bob")]).contains(&"7".to_owned()));

    // Paging: _count and the next link's cursor.
    let pairs = vec![
        ("agent".to_owned(), "system:seed".to_owned()),
        ("_count".to_owned(), "2".to_owned()),
    ];
    let page = service
        .search(
            &alice(),
            SearchScope::Type("AuditEvent".into()),
            pairs,
            false,
        )
        .unwrap();
    assert_eq!(page["entry"].as_array().unwrap().len(), 2);
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(next.contains("_cursor=4"), "{next}");
    assert_eq!(
        search_ids(
            service,
            &[("agent", "system:seed"), ("_count", "2"), ("_cursor", "4")]
        ),
        ["3", "2"]
    );

    // Bad parameters are refused clearly.
    for bad in [
        ("date", "yesterday"),
        ("action", "R"),
        ("_count", "x"),
        ("date", "ne2026"),
    ] {
        let pairs = vec![(bad.0.to_owned(), bad.1.to_owned())];
        let error = service
            .search(
                &alice(),
                SearchScope::Type("AuditEvent".into()),
                pairs,
                false,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ServiceErrorKind::Invalid, "{bad:?}");
    }
}

/// Only auditors may read AuditEvents (the shape of the lead's policy).
struct AuditorsOnly;

impl Authorizer for AuditorsOnly {
    fn authorize(&self, context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        if access.resource_type == "AuditEvent" && !context.roles.iter().any(|r| r == "auditor") {
            return Err(Denied::new("auditors only"));
        }
        Ok(())
    }
}

#[test]
fn audit_events_are_asked_of_the_authorizer_and_never_written() {
    let fixture = fixture();
    seed(&fixture);
    let service = fixture
        .service
        .clone()
        .with_authorizer(Arc::new(AuditorsOnly));
    let mut auditor = alice();
    auditor.roles = vec!["auditor".into()];
    let nurse = alice();
    assert!(service.read(&auditor, "AuditEvent", "1").is_ok());
    assert_eq!(
        service.read(&nurse, "AuditEvent", "1").unwrap_err().kind(),
        ServiceErrorKind::Forbidden
    );
    assert_eq!(
        service
            .read(&nurse, "AuditEvent", "999")
            .unwrap_err()
            .kind(),
        ServiceErrorKind::Forbidden,
        "a refused caller cannot tell which ids exist"
    );
    let search = service.search(
        &nurse,
        SearchScope::Type("AuditEvent".into()),
        vec![],
        false,
    );
    assert_eq!(search.unwrap_err().kind(), ServiceErrorKind::Forbidden);

    // No one writes an AuditEvent, not even an auditor or the system.
    let system = RequestContext::system("admin", "http://vigil.test");
    let body = json!({"resourceType": "AuditEvent", "id": "1", "recorded": "2026-01-01T00:00:00Z",
        "type": {"code": "rest"}, "agent": [{"requestor": true}],
        "source": {"observer": {"display": "forger"}}});
    let none = Preconditions::default();
    for context in [&auditor, &system] {
        let results = [
            service
                .create(context, "AuditEvent", body.clone(), None)
                .map(|_| ()),
            service
                .update(context, "AuditEvent", "1", body.clone(), &none)
                .map(|_| ()),
            service
                .delete(context, "AuditEvent", "1", &none)
                .map(|_| ()),
            service
                .patch(
                    context,
                    "AuditEvent",
                    "1",
                    &PatchDocument::json_patch(json!([{"op": "remove", "path": "/agent"}]))
                        .unwrap(),
                    &none,
                )
                .map(|_| ()),
            service
                .conditional_delete(context, "AuditEvent", "agent=alice", &none)
                .map(|_| ()),
        ];
        for result in results {
            let error = result.unwrap_err();
            assert_eq!(error.kind(), ServiceErrorKind::Forbidden, "{error}");
        }
    }
    let log = entries(&fixture);
    let refused: Vec<&str> = log
        .iter()
        .filter(|e| e.record.entity == "AuditEvent" && e.record.outcome == "8")
        .map(|e| e.record.action.as_str())
        .collect();
    assert_eq!(
        refused,
        [
            &["search-type"][..],
            &["create", "update", "delete", "patch", "delete"].repeat(2)
        ]
        .concat(),
        "the nurse's refused search and every refused write are themselves audited"
    );
    assert_eq!(
        log[0].record.action, "update",
        "the first record is unchanged"
    );
    assert!(fixture.service.verify_audit_trail(None).unwrap().is_ok());
}

#[test]
fn the_capability_statement_declares_audit_events_read_only() {
    let fixture = fixture();
    let statement = fixture.service.capability_statement("http://vigil.test");
    let resources = statement["rest"][0]["resource"].as_array().unwrap();
    let audit = resources
        .iter()
        .find(|r| r["type"] == "AuditEvent")
        .unwrap();
    let interactions: Vec<&str> = audit["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(interactions, ["read", "vread", "search-type"]);
    let params: Vec<&str> = audit["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["entity", "patient", "agent", "date"]);
    let patient = resources.iter().find(|r| r["type"] == "Patient").unwrap();
    assert!(patient["interaction"].as_array().unwrap().len() > 3);
}

#[test]
fn refusals_inside_a_unit_never_deadlock_on_a_full_queue() {
    // A queue of one: refusals recorded from inside a unit (which holds the store's writer
    // the audit writer needs) must not wait for room for ever. The first is taken by the
    // writer (which then waits for the unit), the second fills the queue, the third finds
    // it full.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
    let service = FhirService::open(store.clone(), ServiceConfig::default()).unwrap();
    let options = AuditTrailOptions {
        queue_capacity: 1,
        max_batch: 1,
        linger: std::time::Duration::ZERO,
    };
    let trail = AuditTrail::start(&service, options).unwrap();
    let service = service
        .with_audit_hook(Arc::new(trail))
        .with_authorizer(Arc::new(Policy));
    let context = alice();
    let started = std::time::Instant::now();
    service
        .unit(&context, |unit| {
            for id in ["secret", "secret", "secret"] {
                let body = json!({"resourceType": "Observation", "id": id, "status": "final",
                    "code": {"text": "x"}});
                let (object, _) = service.validate_body("Observation", body)?;
                let prepared = service.prepare("Observation", id, object)?;
                assert_eq!(
                    unit.create(prepared, None).unwrap_err().kind(),
                    ServiceErrorKind::Forbidden
                );
            }
            Ok(())
        })
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    service.flush_audit();
    let refused = store
        .audit_after(0, 100)
        .unwrap()
        .iter()
        .filter(|e| e.record.outcome == "8")
        .count();
    assert_eq!(refused, 3);
}

#[test]
fn read_records_reach_the_store_without_a_flush() {
    let fixture = fixture();
    seed(&fixture);
    fixture.service.flush_audit();
    let before = fixture.store.audit_after(0, 100).unwrap().len();
    fixture.service.read(&alice(), "Patient", "p1").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fixture.store.audit_after(0, 100).unwrap().len() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer did not commit on its own"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn concurrent_readers_and_writers_keep_one_intact_chain() {
    let fixture = fixture();
    seed(&fixture);
    let before = entries(&fixture).len();
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let service = fixture.service.clone();
            scope.spawn(move || {
                let context = alice();
                for i in 0..50 {
                    service.read(&context, "Observation", "o1").unwrap();
                    if i % 10 == 0 {
                        let id = format!("t{thread}-{i}");
                        let body = json!({"resourceType": "Patient", "id": id});
                        service
                            .update(&context, "Patient", &id, body, &Preconditions::default())
                            .unwrap();
                    }
                }
            });
        }
    });
    let all = entries(&fixture);
    assert_eq!(all.len() - before, 4 * (50 + 5));
    let summary = fixture.service.verify_audit_trail(None).unwrap().unwrap();
    assert_eq!(summary.count as usize, all.len());
}
