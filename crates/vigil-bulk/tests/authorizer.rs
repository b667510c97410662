//! `vigil import` goes through the service door: the authorizer is asked for every resource
//! the import writes (with the content, and the current version it replaces), for the
//! searches behind conditional references and conditional entries, and a refusal stops
//! exactly that entry while the rest of the import loads.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_bulk::{ImportIssue, ImportObserver, ImportOptions};
use vigil_service::{
    Access, Authorizer, Denied, FhirService, RequestContext, ServiceConfig, ServiceErrorKind,
};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

/// Records every access as `action Type[/id]` (`+content`, `+previous` when given) and
/// refuses `(action, Type/id)` pairs.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
    refused: Mutex<Vec<(String, String)>>,
}

impl Recorder {
    fn asked(&self, line: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l == line)
    }
}

impl Authorizer for Recorder {
    fn authorize(&self, _context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        let target = match access.id {
            Some(id) => format!("{}/{id}", access.resource_type),
            None => access.resource_type.to_owned(),
        };
        let mut line = format!("{} {target}", access.action.name());
        if access.resource.is_some_and(|c| c.get().is_some()) {
            line.push_str(" +content");
        }
        if access.previous.is_some_and(|c| c.get().is_some()) {
            line.push_str(" +previous");
        }
        self.log.lock().unwrap().push(line);
        let refused = self
            .refused
            .lock()
            .unwrap()
            .iter()
            .any(|(action, t)| action == access.action.name() && *t == target);
        if refused {
            Err(Denied::new("refused by the test"))
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct Issues(Vec<ImportIssue>);

impl ImportObserver for Issues {
    fn issue(&mut self, issue: &ImportIssue) {
        self.0.push(issue.clone());
    }
}

fn service(dir: &Path, recorder: Arc<Recorder>) -> FhirService {
    let store = Arc::new(SqliteStore::open(dir, SqliteOptions::default()).unwrap());
    let search = Arc::new(vigil_search::SearchEngine::r4());
    FhirService::new(store, search, ServiceConfig::default()).with_authorizer(recorder)
}

fn write_inputs(dir: &Path) -> Vec<PathBuf> {
    let patients: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            json!({"resourceType": "Patient", "id": id,
                   "identifier": [{"system": "urn:test", "value": id}]})
            .to_string()
        })
        .collect();
    let first = dir.join("0-patients.ndjson");
    std::fs::write(&first, patients.join("\n")).unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b4c1a52-5d7e-4a7c-9a51-3f1c2d3e4f50",
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "pulse"},
                      "subject": {"reference": "Patient?identifier=urn:test|c"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Patient", "gender": "female"},
         "request": {"method": "PUT", "url": "Patient?identifier=urn:test|a"}}
    ]});
    let second = dir.join("bundle.json");
    std::fs::write(&second, bundle.to_string()).unwrap();
    vec![first, second]
}

#[test]
fn import_asks_for_every_write_and_a_refusal_stops_that_entry_only() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let inputs = write_inputs(files.path());
    let recorder = Arc::new(Recorder::default());
    recorder
        .refused
        .lock()
        .unwrap()
        .push(("create".to_owned(), "Patient/b".to_owned()));
    let service = service(dir.path(), recorder.clone());
    let context = RequestContext::system("import", "http://localhost");
    let options = ImportOptions {
        workers: 2,
        ..ImportOptions::default()
    };
    let mut issues = Issues::default();
    let report = vigil_bulk::import::run(&service, &context, &inputs, &options, &mut issues);

    assert_eq!(report.counts.errors, 1, "{:?}", issues.0.len());
    assert_eq!(issues.0[0].error.kind(), ServiceErrorKind::Forbidden);
    assert_eq!(report.counts.created, 3, "a, c and the Observation");
    assert_eq!(report.counts.updated, 1, "the conditional update of a");
    for line in [
        "create Patient/a +content",
        "create Patient/b +content",
        "create Patient/c +content",
        "search-type Patient",
        "update Patient/a +content +previous",
    ] {
        assert!(
            recorder.asked(line),
            "'{line}': {:?}",
            recorder.log.lock().unwrap()
        );
    }
    assert!(
        recorder
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("create Observation/") && l.ends_with("+content"))
    );
    let system = RequestContext::system("check", "http://localhost");
    assert!(service.read(&system, "Patient", "a").is_ok());
    assert_eq!(
        service.read(&system, "Patient", "b").unwrap_err().kind(),
        ServiceErrorKind::NotFound
    );

    // A refused conditional reference search fails the entry that holds it.
    recorder.log.lock().unwrap().clear();
    recorder
        .refused
        .lock()
        .unwrap()
        .push(("search-type".to_owned(), "Patient".to_owned()));
    let mut issues = Issues::default();
    let report = vigil_bulk::import::run(&service, &context, &inputs[1..], &options, &mut issues);
    assert_eq!(report.counts.errors, 2, "both entries search Patient");
    assert!(
        issues
            .0
            .iter()
            .all(|i| i.error.kind() == ServiceErrorKind::Forbidden)
    );
}
