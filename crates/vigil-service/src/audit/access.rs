//! The audited entry points of the read side: read, vread, search, history and `$everything`
//! call the service's own implementation, then hand one [`AuditRecord`] per request to the
//! hook ([`AuditHook::on_event`], written in background batches), whatever the outcome.
//! `AuditEvent` itself is served from the audit log (`events.rs`), and those reads are audited
//! too. Reads in an internal context ([`RequestContext::internal`]: the NEWS2, rules and
//! medication-safety consumers, ingest lookups, import) are not: nothing they read leaves the
//! server except through what they write, and that is audited. Subscription delivery and CDS
//! Hooks answers disclose what they read and stay audited.
//!
//! A refusal is recorded where it is decided, in [`FhirService::audit_denied`] (called by the
//! one place an authorizer's refusal becomes `Forbidden`), so it is recorded once for reads,
//! writes, transaction and batch entries and operations alike; the wrappers here skip
//! `Forbidden` results.
//!
//! [`AuditHook::on_event`]: super::AuditHook::on_event

use super::AuditRecord;
use crate::authz::Access;
use crate::{
    FhirService, HistoryParams, ReadResult, RequestContext, SearchScope, ServiceError,
    ServiceErrorKind,
};
use serde_json::Value;
use std::collections::HashSet;
use vigil_store::HistoryScope;

impl FhirService {
    /// The current version of a resource; `Gone` when it was deleted, `NotFound` when it never
    /// existed. Audited (`read`).
    pub fn read(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
    ) -> Result<ReadResult, ServiceError> {
        let result = if resource_type == super::events::AUDIT_EVENT {
            self.read_audit_event(context, id, None)
        } else {
            self.read_unaudited(context, resource_type, id)
        };
        self.audit_read(context, "read", resource_type, id, &result);
        result
    }

    /// [`FhirService::read`] answered from the read cache: `None` when the resource is not
    /// cached (or a check for writes by other processes is due), and the caller then calls
    /// `read`, on a blocking thread. The same checks (confinement, the authorizer) and the
    /// same audit record as `read`; no store access for the resource, so an HTTP handler may
    /// call it on its own thread (the authorizer may still consult its own caches, and the
    /// audit queue waits briefly when full).
    pub fn read_cached(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
    ) -> Option<Result<ReadResult, ServiceError>> {
        if resource_type == super::events::AUDIT_EVENT {
            return None;
        }
        let result = self.read_cached_unaudited(context, resource_type, id)?;
        self.audit_read(context, "read", resource_type, id, &result);
        Some(result)
    }

    /// One version of a resource; `Gone` when that version is a deletion marker. Audited
    /// (`vread`).
    pub fn vread(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        version_id: &str,
    ) -> Result<ReadResult, ServiceError> {
        let result = if resource_type == super::events::AUDIT_EVENT {
            self.read_audit_event(context, id, Some(version_id))
        } else {
            self.vread_unaudited(context, resource_type, id, version_id)
        };
        self.audit_read(context, "vread", resource_type, id, &result);
        result
    }

    /// Runs a search. `pairs` are the query parameters as sent (GET query or POST form body);
    /// `strict` is `Prefer: handling=strict` (unknown parameters are errors, not warnings).
    /// Audited (`search-type`, `search-system`, `search-compartment`, with the query).
    pub fn search(
        &self,
        context: &RequestContext,
        scope: SearchScope,
        pairs: Vec<(String, String)>,
        strict: bool,
    ) -> Result<Value, ServiceError> {
        let (action, patient) = match &scope {
            SearchScope::Type(_) => ("search-type", None),
            SearchScope::System(_) => ("search-system", None),
            SearchScope::Compartment {
                compartment, id, ..
            } => (
                "search-compartment",
                (compartment == "Patient").then(|| id.clone()),
            ),
        };
        let query = (!context.is_internal()).then(|| query_string(&pairs));
        let result = match &scope {
            SearchScope::Type(t) if t == super::events::AUDIT_EVENT => {
                self.search_audit_events(context, &pairs)
            }
            _ => self.search_unaudited(context, scope, pairs, strict),
        };
        if let Some(query) = query {
            let mut record =
                AuditRecord::for_context(context, action).with_patient(patient.as_deref());
            record.query = Some(query);
            self.audit_bundle(record, &result);
        }
        result
    }

    /// A history page as a FHIR Bundle of type `history`. Audited (`history-instance`,
    /// `history-type`, `history-system`).
    pub fn history(
        &self,
        context: &RequestContext,
        scope: HistoryScope,
        params: &HistoryParams,
    ) -> Result<Value, ServiceError> {
        let (action, target) = match &scope {
            HistoryScope::System => ("history-system", None),
            HistoryScope::Type(_) => ("history-type", None),
            HistoryScope::Instance(t, id) => ("history-instance", Some(format!("{t}/{id}"))),
        };
        let patient = match &scope {
            HistoryScope::Instance(t, id) if t == "Patient" => Some(id.clone()),
            _ => None,
        };
        let result = self.history_unaudited(context, scope, params);
        if !context.is_internal() {
            let record = AuditRecord::for_context(context, action)
                .with_entities(target.into_iter().collect())
                .with_patient(patient.as_deref());
            self.audit_bundle(record, &result);
        }
        result
    }

    /// `Patient/[id]/$everything` with `pairs` as sent (`_since`, `_type`, `_count`, `_page`).
    /// Audited (`everything`, the patient as its entity).
    pub fn everything(
        &self,
        context: &RequestContext,
        patient_id: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let result = self.everything_unaudited(context, patient_id, pairs);
        if !context.is_internal() {
            let mut record = AuditRecord::for_context(context, "everything")
                .with_entities(vec![format!("Patient/{patient_id}")])
                .with_patient(Some(patient_id));
            record.query = (!pairs.is_empty()).then(|| query_string(pairs));
            self.audit_bundle(record, &result);
        }
        result
    }

    /// Records an access refused by the authorizer (outcome `8`) and returns the error: the
    /// one place refusals are audited, whatever the interaction.
    pub(crate) fn audit_denied(
        &self,
        context: &RequestContext,
        access: &Access<'_>,
        error: ServiceError,
    ) -> ServiceError {
        let what = match access.id {
            Some(id) => format!("{}/{id}", access.resource_type),
            None => access.resource_type.to_owned(),
        };
        let patient = (access.resource_type == "Patient")
            .then_some(access.id)
            .flatten();
        let record = AuditRecord::for_context(context, access.action.name())
            .with_entities(vec![what])
            .with_patient(patient)
            .failed(&error);
        self.audit.on_event(record);
        error
    }

    /// Records a read or vread (success or failure other than a refusal).
    fn audit_read(
        &self,
        context: &RequestContext,
        action: &str,
        resource_type: &str,
        id: &str,
        result: &Result<ReadResult, ServiceError>,
    ) {
        if context.is_internal() {
            return;
        }
        let record = AuditRecord::for_context(context, action)
            .with_patient((resource_type == "Patient").then_some(id));
        let record = match result {
            Ok(found) => {
                let record = record.with_entities(vec![format!(
                    "{resource_type}/{id}/_history/{}",
                    found.version.meta.version_id
                )]);
                if record.patient.is_none() {
                    // The hook may find the patient in the content (off the request path).
                    self.audit.on_read(record, &found.version.content);
                    return;
                }
                record
            }
            Err(error) if error.kind() == ServiceErrorKind::Forbidden => return,
            Err(error) => record
                .with_entities(vec![format!("{resource_type}/{id}")])
                .failed(error),
        };
        self.audit.on_event(record);
    }

    /// Records a Bundle-returning access: the resources it returned and their patients.
    fn audit_bundle(&self, mut record: AuditRecord, result: &Result<Value, ServiceError>) {
        match result {
            Ok(bundle) => {
                let (entities, patients) = bundle_entities(bundle);
                // Sets beside the lists: a 10,000-entry Bundle is de-duplicated in linear time.
                let mut seen: HashSet<String> = record.entities.iter().cloned().collect();
                for entity in entities {
                    if seen.insert(entity.clone()) {
                        record.entities.push(entity);
                    }
                }
                if patients.len() == 1 {
                    record = record.with_patient(patients.first().map(String::as_str));
                }
                for patient in patients {
                    if record.patient.as_ref() != Some(&patient) && seen.insert(patient.clone()) {
                        record.entities.push(patient);
                    }
                }
            }
            Err(error) if error.kind() == ServiceErrorKind::Forbidden => return,
            Err(error) => record = record.failed(error),
        }
        self.audit.on_event(record);
    }
}

/// The query string as sent, re-encoded (kept only inside the AuditEvent).
fn query_string(pairs: &[(String, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    query.finish()
}

/// The resources of a Bundle (`Type/id`, versioned when the entry says its version) and the
/// patients they belong to (Patient resources, and `subject`/`patient` references to one).
fn bundle_entities(bundle: &Value) -> (Vec<String>, Vec<String>) {
    let mut entities: Vec<String> = Vec::new();
    let mut entity_set: HashSet<String> = HashSet::new();
    let mut patients: Vec<String> = Vec::new();
    let mut patient_set: HashSet<String> = HashSet::new();
    let mut add_patient = |reference: String| {
        if patient_set.insert(reference.clone()) {
            patients.push(reference);
        }
    };
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for resource in entries.iter().filter_map(|e| e.get("resource")) {
        let (Some(kind), Some(id)) = (
            resource.get("resourceType").and_then(Value::as_str),
            resource.get("id").and_then(Value::as_str),
        ) else {
            continue;
        };
        if kind == "OperationOutcome" {
            continue;
        }
        let reference = match resource.pointer("/meta/versionId").and_then(Value::as_str) {
            Some(version) => format!("{kind}/{id}/_history/{version}"),
            None => format!("{kind}/{id}"),
        };
        if entity_set.insert(reference.clone()) {
            entities.push(reference);
        }
        if kind == "Patient" {
            add_patient(format!("Patient/{id}"));
        }
        for field in ["subject", "patient"] {
            if let Some(target) = resource
                .get(field)
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Patient/").map(|id| format!("Patient/{id}")))
            {
                add_patient(target);
            }
        }
    }
    (entities, patients)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bundle_entities_name_resources_and_their_patients() {
        let bundle = json!({"entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "2"}}},
            {"resource": {"resourceType": "Observation", "id": "o1",
                          "subject": {"reference": "Patient/p1"}}},
            {"resource": {"resourceType": "Encounter", "id": "e1",
                          "subject": {"reference": "Group/g"}}},
            {"resource": {"resourceType": "AllergyIntolerance", "id": "a1",
                          "patient": {"reference": "Patient/p2"}}},
            {"resource": {"resourceType": "OperationOutcome", "id": "x"}},
        ]});
        let (entities, patients) = bundle_entities(&bundle);
        assert_eq!(
            entities,
            [
                "Patient/p1/_history/2",
                "Observation/o1",
                "Encounter/e1",
                "AllergyIntolerance/a1"
            ]
        );
        assert_eq!(patients, ["Patient/p1", "Patient/p2"]);
        assert_eq!(bundle_entities(&json!({})), (vec![], vec![]));
    }

    #[test]
    fn the_query_is_re_encoded() {
        let pairs = vec![("name".to_owned(), "O'Brien & co".to_owned())];
        assert_eq!(query_string(&pairs), "name=O%27Brien+%26+co");
    }
}
