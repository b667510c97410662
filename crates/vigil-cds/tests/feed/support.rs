//! A service over a fresh SQLite store, and vital-sign Observations.

use serde_json::{Value, json};
use std::sync::Arc;
use vigil_service::{FhirService, Preconditions, RequestContext, SearchScope, ServiceConfig};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{ChangeEvent, ChangeLog};

pub struct World {
    pub service: FhirService,
    pub store: Arc<SqliteStore>,
    pub context: RequestContext,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let service = FhirService::open(store.clone(), ServiceConfig::default()).unwrap();
        let context = RequestContext::system("test", "http://localhost");
        World {
            service,
            store,
            context,
            _dir: dir,
        }
    }

    pub fn create(&self, resource: Value) -> String {
        let kind = resource["resourceType"].as_str().unwrap().to_owned();
        let out = self
            .service
            .create(&self.context, &kind, resource, None)
            .unwrap();
        format!("{kind}/{}", out.version.id)
    }

    pub fn update(&self, resource: Value) {
        let kind = resource["resourceType"].as_str().unwrap().to_owned();
        let id = resource["id"].as_str().unwrap().to_owned();
        self.service
            .update(
                &self.context,
                &kind,
                &id,
                resource,
                &Preconditions::default(),
            )
            .unwrap();
    }

    pub fn search(&self, kind: &str, pairs: &[(&str, &str)]) -> Vec<Value> {
        let pairs = pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let bundle = self
            .service
            .search(&self.context, SearchScope::Type(kind.into()), pairs, true)
            .unwrap();
        bundle["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect()
    }

    /// Every event after `after`.
    pub fn events(&self, after: u64) -> Vec<ChangeEvent> {
        self.store.changes_after(after, 100_000).unwrap()
    }

    pub fn last_seq(&self) -> u64 {
        self.events(0).last().map_or(0, |e| e.seq)
    }
}

pub fn minutes_ago(minutes: i64) -> String {
    vigil_service::format_instant(vigil_service::now_micros() - minutes * 60_000_000)
}

pub fn vital(patient: &str, loinc: &str, value: f64, unit: &str, when: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": patient},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    })
}

pub fn consciousness(patient: &str, code: &str, when: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "67775-7"}]},
        "subject": {"reference": patient},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    })
}

/// A full set of seven readings; `bad` makes it score high (NEWS2 >= 7).
pub fn full_set(world: &World, patient: &str, bad: bool, when: &str) -> Vec<String> {
    let (rr, spo2, sbp, pulse, temp) = if bad {
        (26.0, 89.0, 92.0, 131.0, 38.0)
    } else {
        (16.0, 97.0, 120.0, 70.0, 37.0)
    };
    vec![
        world.create(vital(patient, "9279-1", rr, "/min", when)),
        world.create(vital(patient, "59408-5", spo2, "%", when)),
        world.create(vital(patient, "3151-8", 0.0, "L/min", when)),
        world.create(vital(patient, "8480-6", sbp, "mm[Hg]", when)),
        world.create(vital(patient, "8867-4", pulse, "/min", when)),
        world.create(consciousness(patient, "248234008", when)),
        world.create(vital(patient, "8310-5", temp, "Cel", when)),
    ]
}
