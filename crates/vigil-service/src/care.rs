//! Beyond scopes: who may see a patient's data. Part of the SMART policy
//! ([`crate::SmartAuthorizer`]), asked for every resource of a patient's compartment a user or
//! a client reads or writes (never for the patient reading their own record):
//!
//! - **Consent.** An active Consent of the patient whose provision (or a nested provision)
//!   of type `deny` applies refuses the access. A provision applies when each criterion it
//!   states holds: `period` contains now; `actor` names the caller's FHIR user
//!   (`Practitioner/7`); `securityLabel` matches one of the resource's `meta.security`;
//!   `class` names the resource type; `code` matches one of the resource's `category` or
//!   `code` codings. A provision with no criteria denies all sharing.
//! - **Care relationship.** A user whose FHIR user is a Practitioner sees a patient's data
//!   only while they have a care relationship: an Encounter of the patient naming them as
//!   participant, a CareTeam of the patient naming them as participant, or the patient's
//!   `generalPractitioner`.
//! - **Break-the-glass.** A request stating a reason (`X-Break-Glass-Reason`) is allowed
//!   past both, and audited with purpose of use BTG (the audit trail reads the reason from
//!   the request context).
//!
//! Answers are cached for at most a second and dropped as soon as the door authorizes a write
//! to a Consent (consents) or an Encounter, CareTeam or Patient (relationships); for two
//! seconds after such a write nothing of that kind is cached (the write may not be committed
//! yet). With no active Consent in the store and no practitioner calling, nothing is looked up
//! at all.

use crate::RequestContext;
use crate::authz::Denied;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_search::SearchEngine;
use vigil_store::Store;

/// One cached answer: valid while no write to the types it depends on was authorized since
/// (`generation`) and for at most [`FRESH_FOR`] (a write authorized but not yet committed when
/// the answer was read is seen on the next read at the latest).
struct Cached<V> {
    value: V,
    generation: u64,
    at: Instant,
}

/// How long a cached answer is trusted without a newer write.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// After a write is authorized, answers are not cached for this long: the write may not be
/// committed yet, and an answer read before its commit must not outlive it.
const SETTLE: Duration = Duration::from_secs(2);

/// Most active Consents of one patient evaluated; more is refused (fail closed).
const MAX_CONSENTS: usize = 1000;

/// Most cached answers per kind (cleared when full).
const MAX_CACHED: usize = 4096;

type Cache<K, V> = Mutex<HashMap<K, Cached<V>>>;

/// Consent and care-relationship checks over the store.
pub(crate) struct CarePolicy {
    search: Arc<SearchEngine>,
    store: Arc<dyn Store>,
    /// Bumped by every write to a Consent.
    consent_generation: AtomicU64,
    /// Bumped by every write to an Encounter, CareTeam or Patient.
    care_generation: AtomicU64,
    /// When each was last bumped.
    consent_written: Mutex<Option<Instant>>,
    care_written: Mutex<Option<Instant>>,
    /// Whether any active Consent exists at all (the common case, none, costs nothing).
    any_consent: Mutex<Option<Cached<bool>>>,
    /// Patient id -> the deny provisions of their active Consents.
    consents: Cache<String, Arc<Vec<Value>>>,
    /// (practitioner, patient) -> whether a care relationship exists.
    relationships: Cache<(String, String), bool>,
}

impl CarePolicy {
    pub(crate) fn new(search: Arc<SearchEngine>, store: Arc<dyn Store>) -> Self {
        CarePolicy {
            search,
            store,
            consent_generation: AtomicU64::new(0),
            care_generation: AtomicU64::new(0),
            consent_written: Mutex::new(None),
            care_written: Mutex::new(None),
            any_consent: Mutex::new(None),
            consents: Mutex::new(HashMap::new()),
            relationships: Mutex::new(HashMap::new()),
        }
    }

    /// Told of every write the door authorizes: cached answers about the written type are
    /// dropped.
    pub(crate) fn note_write(&self, resource_type: &str) {
        match resource_type {
            "Consent" => {
                *lock(&self.consent_written) = Some(Instant::now());
                self.consent_generation.fetch_add(1, Ordering::SeqCst);
            }
            "Encounter" | "CareTeam" | "Patient" => {
                *lock(&self.care_written) = Some(Instant::now());
                self.care_generation.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    /// Whether these checks can matter for `context`: a practitioner user, or any active
    /// Consent in the store. When not, a resource's patients need not even be extracted.
    pub(crate) fn applies_to(&self, context: &RequestContext) -> bool {
        let practitioner = context
            .fhir_user
            .as_deref()
            .is_some_and(|user| user.starts_with("Practitioner/"));
        practitioner || self.any_consent()
    }

    fn any_consent(&self) -> bool {
        let generation = self.consent_generation.load(Ordering::SeqCst);
        if let Some(cached) = lock(&self.any_consent).as_ref()
            && fresh(cached, generation)
        {
            return cached.value;
        }
        let found =
            match self
                .search
                .matching_ids(self.store.as_ref(), "Consent", "status=active", 1)
            {
                Ok(ids) => !ids.is_empty(),
                Err(error) => {
                    tracing::warn!(%error, "consent lookup failed");
                    // Fail closed: look at each patient's consents.
                    true
                }
            };
        if settled(&self.consent_written) {
            *lock(&self.any_consent) = Some(Cached {
                value: found,
                generation,
                at: Instant::now(),
            });
        }
        found
    }

    /// Whether `context` may access `resource` (of `resource_type`), which belongs to the
    /// compartments of `patients`.
    pub(crate) fn check(
        &self,
        context: &RequestContext,
        resource_type: &str,
        resource: &Value,
        patients: &[String],
    ) -> Result<(), Denied> {
        let break_glass = context.break_glass_reason.is_some();
        // The patient's own record (the caller's FHIR user is that Patient): consent and care
        // relationships speak about others. A patient merely in context (a launch) is not
        // enough to skip them.
        let own = context
            .fhir_user
            .as_deref()
            .and_then(|user| user.strip_prefix("Patient/"));
        if own.is_some_and(|own| patients.iter().any(|patient| patient == own)) {
            return Ok(());
        }
        let others: Vec<&String> = patients.iter().collect();
        for patient in &others {
            if let Some(reason) = self.consent_denies(context, patient, resource_type, resource) {
                if break_glass {
                    tracing::info!(resource_type, "consent overridden by break-the-glass");
                    continue;
                }
                return Err(Denied::new(reason));
            }
        }
        // A resource in several patients' compartments: a relationship with one of them is
        // enough.
        if let Some(practitioner) = context
            .fhir_user
            .as_deref()
            .filter(|user| user.starts_with("Practitioner/"))
            && !others
                .iter()
                .any(|patient| self.cares_for(practitioner, patient))
        {
            if break_glass {
                tracing::info!(
                    resource_type,
                    "access outside care relationships by break-the-glass"
                );
                return Ok(());
            }
            return Err(Denied::new(
                "no care relationship with the patient (break-the-glass needs a stated reason)",
            ));
        }
        Ok(())
    }

    fn cares_for(&self, practitioner: &str, patient: &str) -> bool {
        let generation = self.care_generation.load(Ordering::SeqCst);
        let key = (practitioner.to_owned(), patient.to_owned());
        if let Some(cached) = lock(&self.relationships).get(&key)
            && fresh(cached, generation)
        {
            return cached.value;
        }
        let questions = [
            (
                "Encounter",
                format!("subject=Patient/{patient}&participant={practitioner}"),
            ),
            (
                "CareTeam",
                format!("subject=Patient/{patient}&participant={practitioner}"),
            ),
            (
                "Patient",
                format!("_id={patient}&general-practitioner={practitioner}"),
            ),
        ];
        let answer = questions.iter().any(|(resource_type, query)| {
            match self
                .search
                .matching_ids(self.store.as_ref(), resource_type, query, 1)
            {
                Ok(ids) => !ids.is_empty(),
                Err(error) => {
                    tracing::warn!(%error, resource_type, "care relationship lookup failed");
                    false
                }
            }
        });
        if settled(&self.care_written) {
            remember(&self.relationships, key, answer, generation);
        }
        answer
    }

    /// The reason a deny provision of the patient's active Consents refuses the access.
    fn consent_denies(
        &self,
        context: &RequestContext,
        patient: &str,
        resource_type: &str,
        resource: &Value,
    ) -> Option<String> {
        let Some(provisions) = self.deny_provisions(patient) else {
            // Fail closed: consents that cannot be read might deny.
            return Some("the patient's consents cannot be read".to_owned());
        };
        let now = vigil_model::instant::now_micros();
        provisions
            .iter()
            .any(|provision| applies(provision, context, resource_type, resource, now))
            .then(|| "the patient's consent denies this access".to_owned())
    }

    /// The `deny` provisions of the patient's active Consents (nested ones included).
    /// The `deny` provisions of the patient's active Consents (nested ones included); `None`
    /// when they cannot all be read (a storage fault, an unreadable Consent, more than
    /// [`MAX_CONSENTS`]), which the caller treats as a refusal. Nothing is cached then.
    fn deny_provisions(&self, patient: &str) -> Option<Arc<Vec<Value>>> {
        let generation = self.consent_generation.load(Ordering::SeqCst);
        if let Some(cached) = lock(&self.consents).get(patient)
            && fresh(cached, generation)
        {
            return Some(cached.value.clone());
        }
        let query = format!("patient=Patient/{patient}&status=active");
        let ids = self
            .search
            .matching_ids(self.store.as_ref(), "Consent", &query, MAX_CONSENTS + 1)
            .map_err(|error| tracing::warn!(%error, "consent lookup failed"))
            .ok()?;
        if ids.len() > MAX_CONSENTS {
            tracing::warn!("a patient has more active Consents than are evaluated");
            return None;
        }
        let mut provisions = Vec::new();
        for id in ids {
            let version = self.store.read("Consent", &id).ok().flatten()?;
            let consent: Value = serde_json::from_str(&version.content).ok()?;
            if let Some(provision) = consent.get("provision") {
                collect_denies(provision, &mut provisions);
            }
        }
        let provisions = Arc::new(provisions);
        if settled(&self.consent_written) {
            remember(
                &self.consents,
                patient.to_owned(),
                provisions.clone(),
                generation,
            );
        }
        Some(provisions)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the last write of a kind was long enough ago for answers to be cached.
fn settled(written: &Mutex<Option<Instant>>) -> bool {
    lock(written).is_none_or(|at| at.elapsed() >= SETTLE)
}

fn fresh<V>(cached: &Cached<V>, generation: u64) -> bool {
    cached.generation == generation && cached.at.elapsed() < FRESH_FOR
}

fn remember<K: std::hash::Hash + Eq, V>(cache: &Cache<K, V>, key: K, value: V, generation: u64) {
    let mut cache = lock(cache);
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(
        key,
        Cached {
            value,
            generation,
            at: Instant::now(),
        },
    );
}

fn collect_denies(provision: &Value, out: &mut Vec<Value>) {
    if provision.get("type").and_then(Value::as_str) == Some("deny") {
        out.push(provision.clone());
    }
    if let Some(nested) = provision.get("provision").and_then(Value::as_array) {
        for inner in nested {
            collect_denies(inner, out);
        }
    }
}

/// Whether a deny provision applies to this access (see the module).
fn applies(
    provision: &Value,
    context: &RequestContext,
    resource_type: &str,
    resource: &Value,
    now: i64,
) -> bool {
    if let Some(period) = provision.get("period") {
        let bound = |name: &str| {
            period
                .get(name)
                .and_then(Value::as_str)
                .and_then(vigil_model::instant::parse_instant_micros)
        };
        if bound("start").is_some_and(|start| now < start)
            || bound("end").is_some_and(|end| now > end)
        {
            return false;
        }
    }
    if let Some(actors) = non_empty(provision, "actor") {
        let Some(user) = context.fhir_user.as_deref() else {
            return false;
        };
        let named = actors.iter().any(|actor| {
            actor["reference"]["reference"]
                .as_str()
                .is_some_and(|reference| {
                    reference == user || reference.ends_with(&format!("/{user}"))
                })
        });
        if !named {
            return false;
        }
    }
    if let Some(labels) = non_empty(provision, "securityLabel") {
        let security = resource["meta"]["security"].as_array();
        let labelled = security.is_some_and(|security| {
            security
                .iter()
                .any(|coding| labels.iter().any(|label| same_coding(label, coding)))
        });
        if !labelled {
            return false;
        }
    }
    if let Some(classes) = non_empty(provision, "class")
        && !classes
            .iter()
            .any(|class| class["code"].as_str() == Some(resource_type))
    {
        return false;
    }
    if let Some(codes) = non_empty(provision, "code") {
        let wanted: Vec<&Value> = codes
            .iter()
            .filter_map(|concept| concept["coding"].as_array())
            .flatten()
            .collect();
        let mut held = Vec::new();
        for element in ["category", "code"] {
            match &resource[element] {
                Value::Array(concepts) => held.extend(concepts.iter()),
                concept @ Value::Object(_) => held.push(concept),
                _ => {}
            }
        }
        let matched = held
            .iter()
            .filter_map(|concept| concept["coding"].as_array())
            .flatten()
            .any(|coding| wanted.iter().any(|w| same_coding(w, coding)));
        if !matched {
            return false;
        }
    }
    true
}

fn non_empty<'a>(value: &'a Value, name: &str) -> Option<&'a Vec<Value>> {
    value
        .get(name)
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
}

/// Same code, and the same system when the provision states one.
fn same_coding(wanted: &Value, coding: &Value) -> bool {
    let code = wanted["code"].as_str();
    code.is_some()
        && code == coding["code"].as_str()
        && wanted["system"]
            .as_str()
            .is_none_or(|system| Some(system) == coding["system"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Principal;
    use serde_json::json;

    fn context(user: Option<&str>) -> RequestContext {
        let mut context = RequestContext::new(Principal::User { id: "u".into() }, "http://x");
        context.fhir_user = user.map(str::to_owned);
        context
    }

    #[test]
    fn deny_provisions_apply_by_each_criterion_they_state() {
        let observation = json!({"resourceType": "Observation",
            "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "social-history"}]}]});
        let now = vigil_model::instant::now_micros();
        let nurse = context(Some("Practitioner/n1"));
        let cases = [
            (json!({"type": "deny"}), true),
            (
                json!({"type": "deny", "class": [{"code": "Observation"}]}),
                true,
            ),
            (
                json!({"type": "deny", "class": [{"code": "Condition"}]}),
                false,
            ),
            (
                json!({"type": "deny", "securityLabel": [{"code": "R"}]}),
                true,
            ),
            (
                json!({"type": "deny", "securityLabel": [{"code": "V"}]}),
                false,
            ),
            (
                json!({"type": "deny", "code": [{"coding": [{"code": "social-history"}]}]}),
                true,
            ),
            (
                json!({"type": "deny", "code": [{"coding": [{"code": "laboratory"}]}]}),
                false,
            ),
            (
                json!({"type": "deny", "actor": [{"reference": {"reference": "Practitioner/n1"}}]}),
                true,
            ),
            (
                json!({"type": "deny", "actor": [{"reference": {"reference": "Practitioner/n2"}}]}),
                false,
            ),
            (
                json!({"type": "deny", "period": {"end": "2001-01-01T00:00:00Z"}}),
                false,
            ),
            (
                json!({"type": "deny", "class": [{"code": "Observation"}], "securityLabel": [{"code": "V"}]}),
                false,
            ),
        ];
        for (provision, expected) in cases {
            assert_eq!(
                applies(&provision, &nurse, "Observation", &observation, now),
                expected,
                "{provision}"
            );
        }
        // An actor-specific provision does not apply to a caller with no FHIR user.
        let client = context(None);
        let named =
            json!({"type": "deny", "actor": [{"reference": {"reference": "Practitioner/n1"}}]});
        assert!(!applies(&named, &client, "Observation", &observation, now));
    }

    #[test]
    fn nested_deny_provisions_are_found() {
        let provision = json!({"type": "permit", "provision": [
            {"type": "deny", "class": [{"code": "Observation"}]},
            {"type": "permit", "provision": [{"type": "deny", "securityLabel": [{"code": "R"}]}]}]});
        let mut found = Vec::new();
        collect_denies(&provision, &mut found);
        assert_eq!(found.len(), 2);
    }
}
