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
//! Lookups are cached per request (a search page checks each patient once).

use crate::RequestContext;
use crate::authz::Denied;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vigil_search::SearchEngine;
use vigil_store::Store;

/// Answers cached per (request id, question).
type Cache<V> = Mutex<HashMap<(String, String), V>>;

/// Most cached answers (cleared when full).
const MAX_CACHED: usize = 4096;

/// Consent and care-relationship checks over the store.
pub(crate) struct CarePolicy {
    search: Arc<SearchEngine>,
    store: Arc<dyn Store>,
    /// (request id, question) -> answer; consent answers hold the patient's deny provisions.
    relationships: Cache<bool>,
    consents: Cache<Arc<Vec<Value>>>,
}

impl CarePolicy {
    pub(crate) fn new(search: Arc<SearchEngine>, store: Arc<dyn Store>) -> Self {
        CarePolicy {
            search,
            store,
            relationships: Mutex::new(HashMap::new()),
            consents: Mutex::new(HashMap::new()),
        }
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
        let others: Vec<&String> = patients
            .iter()
            .filter(|patient| context.patient.as_deref() != Some(patient.as_str()))
            .collect();
        if others.len() < patients.len() {
            // The patient's own record (or a launch in this patient's context): the door
            // confines it; consent and care relationships speak about others.
            return Ok(());
        }
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
                .any(|patient| self.cares_for(context, practitioner, patient))
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

    fn cares_for(&self, context: &RequestContext, practitioner: &str, patient: &str) -> bool {
        let key = (
            context.request_id.clone(),
            format!("{practitioner}|{patient}"),
        );
        if let Some(answer) = lock(&self.relationships).get(&key) {
            return *answer;
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
        remember(&self.relationships, key, answer);
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
        let provisions = self.deny_provisions(context, patient);
        let now = vigil_model::instant::now_micros();
        provisions
            .iter()
            .any(|provision| applies(provision, context, resource_type, resource, now))
            .then(|| "the patient's consent denies this access".to_owned())
    }

    /// The `deny` provisions of the patient's active Consents (nested ones included).
    fn deny_provisions(&self, context: &RequestContext, patient: &str) -> Arc<Vec<Value>> {
        let key = (context.request_id.clone(), patient.to_owned());
        if let Some(found) = lock(&self.consents).get(&key) {
            return found.clone();
        }
        let mut provisions = Vec::new();
        let query = format!("patient=Patient/{patient}&status=active");
        match self
            .search
            .matching_ids(self.store.as_ref(), "Consent", &query, 100)
        {
            Ok(ids) => {
                for id in ids {
                    let Ok(Some(version)) = self.store.read("Consent", &id) else {
                        continue;
                    };
                    if let Ok(consent) = serde_json::from_str::<Value>(&version.content)
                        && let Some(provision) = consent.get("provision")
                    {
                        collect_denies(provision, &mut provisions);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "consent lookup failed"),
        }
        let provisions = Arc::new(provisions);
        remember(&self.consents, key, provisions.clone());
        provisions
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn remember<V>(cache: &Cache<V>, key: (String, String), value: V) {
    let mut cache = lock(cache);
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(key, value);
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
