//! The workers' part: from the raw text of an entry or line to a write ready for the unit of
//! work (parse, validate, choose the id, rewrite references, extract index rows, look up the
//! current version, serialize). Everything here runs outside the writer lock, through the
//! service's public preparation steps.

use super::scan::UrlTypes;
use super::stream::{ItemKind, RawItem};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use vigil_model::IssueType;
use vigil_service::bundle::{
    Entry, EntryMethod, EntryTarget, as_conditional, for_each_reference, parse_entry,
};
use vigil_service::{
    FhirService, Prepared, RequestContext, ServiceError, ServiceErrorKind, check_id_syntax,
};

/// What the unit of work does with a prepared resource.
#[derive(Debug)]
pub(crate) enum WriteKind {
    /// Update semantics on a known id (the worker looked ahead at its committed version).
    Put { if_match: Option<u64> },
    /// Create unless `criteria` match (`ifNoneExist`, or the identifier rule).
    CreateIfNoneExist { criteria: String },
    /// `PUT Type?criteria`.
    ConditionalUpdate { criteria: String },
    /// A new resource with a new id.
    Create,
}

/// A resource ready for the writer.
#[derive(Debug)]
pub(crate) struct PlannedWrite {
    pub(crate) prepared: Prepared,
    pub(crate) kind: WriteKind,
}

/// Nanoseconds per worker stage, summed over workers.
#[derive(Debug, Default)]
pub(crate) struct StageClock {
    pub(crate) parse: AtomicU64,
    pub(crate) validate: AtomicU64,
    pub(crate) references: AtomicU64,
    pub(crate) index: AtomicU64,
    pub(crate) existing: AtomicU64,
}

fn lap(counter: &AtomicU64, since: &mut Instant) {
    let now = Instant::now();
    let nanos = u64::try_from(now.duration_since(*since).as_nanos()).unwrap_or(u64::MAX);
    counter.fetch_add(nanos, Ordering::Relaxed);
    *since = now;
}

/// What every worker shares.
pub(crate) struct Planner<'a> {
    pub(crate) service: &'a FhirService,
    pub(crate) context: &'a RequestContext,
    pub(crate) url_types: &'a UrlTypes,
    pub(crate) clock: &'a StageClock,
    /// Conditional references resolved so far (only successes are kept).
    pub(crate) resolved: Mutex<HashMap<String, String>>,
}

impl Planner<'_> {
    /// Plans one item; the error is the item's, reported with its position.
    pub(crate) fn plan(&self, item: RawItem) -> Result<PlannedWrite, ServiceError> {
        let mut since = Instant::now();
        let text = item.body?;
        let value: Value = serde_json::from_str(text.as_str())
            .map_err(|e| ServiceError::invalid(format!("invalid JSON: {e}"), "resource"))?;
        drop(text);
        let mut entry = match item.kind {
            ItemKind::Resource => resource_entry(value, None)?,
            ItemKind::BundleEntry => bundle_entry(self.context, value)?,
        };
        lap(&self.clock.parse, &mut since);

        let resource_type = entry.target.resource_type().to_owned();
        self.service.check_type(&resource_type)?;
        let resource = entry.resource.take().unwrap_or(Value::Null);
        let (object, _warnings) = self.service.validate_body(&resource_type, resource)?;
        lap(&self.clock.validate, &mut since);

        let (id, kind) = choose_id(&entry, &resource_type, &object)?;
        let object = self.rewrite_references(object)?;
        lap(&self.clock.references, &mut since);

        let mut prepared = self.service.prepare(&resource_type, &id, object)?;
        lap(&self.clock.index, &mut since);

        let kind = match kind {
            Choice::Put { if_match } => {
                // The committed version, compared and the next version serialized here,
                // outside the writer lock.
                self.service.look_ahead(&mut prepared)?;
                lap(&self.clock.existing, &mut since);
                WriteKind::Put { if_match }
            }
            Choice::Other(kind) => kind,
        };
        Ok(PlannedWrite { prepared, kind })
    }

    /// `fullUrl`s of scanned entries become `Type/id`; conditional references become the one
    /// committed resource they match.
    fn rewrite_references(
        &self,
        object: Map<String, Value>,
    ) -> Result<Map<String, Value>, ServiceError> {
        let mut resource = Value::Object(object);
        let mut failure: Option<ServiceError> = None;
        let rewritten = for_each_reference(&mut resource, &mut |reference| {
            if let Some(resource_type) = self.url_types.get(reference)
                && let Some(id) = id_from_full_url(reference, resource_type)
            {
                *reference = format!("{resource_type}/{id}");
                return Ok(());
            }
            if let Some((resource_type, query)) = as_conditional(reference) {
                match self.resolve_conditional(resource_type, query) {
                    Ok(target) => *reference = target,
                    Err(error) => {
                        let text = error.to_string();
                        failure = Some(error);
                        return Err(text);
                    }
                }
            } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
                return Err(format!(
                    "the reference '{reference}' names no entry of the imported files"
                ));
            }
            Ok(())
        });
        if let Err(problem) = rewritten {
            return Err(failure.unwrap_or_else(|| ServiceError::invalid(problem, "reference")));
        }
        match resource {
            Value::Object(object) => Ok(object),
            _ => Err(ServiceError::internal("a resource is no longer an object")),
        }
    }

    /// A conditional reference must match exactly one committed resource (the service's
    /// one resolver); each distinct one is resolved once.
    fn resolve_conditional(
        &self,
        resource_type: &str,
        query: &str,
    ) -> Result<String, ServiceError> {
        let key = format!("{resource_type}?{query}");
        if let Some(target) = lock(&self.resolved).get(&key) {
            return Ok(target.clone());
        }
        let target = self
            .service
            .resolve_reference(self.context, resource_type, query)?;
        lock(&self.resolved).insert(key, target.clone());
        Ok(target)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum Choice {
    Put { if_match: Option<u64> },
    Other(WriteKind),
}

/// An entry of a Bundle: with a `request`, parsed as a transaction entry; without one (a
/// collection or searchset), the resource on its own.
fn bundle_entry(context: &RequestContext, value: Value) -> Result<Entry, ServiceError> {
    let Value::Object(mut object) = value else {
        return Err(ServiceError::invalid(
            "a Bundle entry must be an object",
            "entry",
        ));
    };
    if object.contains_key("request") {
        return parse_entry(context, 0, Value::Object(object));
    }
    let full_url = match object.remove("fullUrl") {
        Some(Value::String(url)) => Some(url),
        _ => None,
    };
    let resource = object
        .remove("resource")
        .ok_or_else(|| ServiceError::invalid("the entry has no resource", "entry.resource"))?;
    resource_entry(resource, full_url)
}

/// A resource on its own, as if POSTed to its type.
fn resource_entry(resource: Value, full_url: Option<String>) -> Result<Entry, ServiceError> {
    let resource_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| ServiceError::invalid("the resource has no resourceType", "resourceType"))?
        .to_owned();
    Ok(Entry {
        index: 0,
        method: EntryMethod::Post,
        target: EntryTarget::Type(resource_type),
        full_url,
        resource: Some(resource),
        if_match: None,
        if_none_exist: None,
    })
}

/// The id rules of the module documentation.
fn choose_id(
    entry: &Entry,
    resource_type: &str,
    object: &Map<String, Value>,
) -> Result<(String, Choice), ServiceError> {
    let body_id = object.get("id").and_then(Value::as_str).map(str::to_owned);
    let from_url = entry
        .full_url
        .as_deref()
        .and_then(|url| id_from_full_url(url, resource_type));
    let new_id = || uuid::Uuid::new_v4().to_string();
    let (id, choice) = match (&entry.method, &entry.target) {
        (EntryMethod::Put, EntryTarget::Instance(_, id)) => {
            if body_id.as_deref().is_some_and(|b| b != id) {
                return Err(ServiceError::invalid(
                    format!("the resource id must equal the id in request.url ('{id}')"),
                    &format!("{resource_type}.id"),
                ));
            }
            (
                id.clone(),
                Choice::Put {
                    if_match: entry.if_match,
                },
            )
        }
        (EntryMethod::Put, EntryTarget::Query(_, criteria)) => (
            body_id.clone().or(from_url).unwrap_or_else(new_id),
            Choice::Other(WriteKind::ConditionalUpdate {
                criteria: criteria.clone(),
            }),
        ),
        (EntryMethod::Post, EntryTarget::Type(_)) => {
            let known = from_url.or(body_id);
            match (&entry.if_none_exist, known) {
                (Some(criteria), known) => (
                    known.unwrap_or_else(new_id),
                    Choice::Other(WriteKind::CreateIfNoneExist {
                        criteria: criteria.clone(),
                    }),
                ),
                (None, Some(id)) => (id, Choice::Put { if_match: None }),
                (None, None) => match identifier_criteria(object) {
                    Some(criteria) => (
                        new_id(),
                        Choice::Other(WriteKind::CreateIfNoneExist { criteria }),
                    ),
                    None => (new_id(), Choice::Other(WriteKind::Create)),
                },
            }
        }
        (method, _) => {
            return Err(ServiceError::new(
                ServiceErrorKind::NotSupported,
                IssueType::NotSupported,
                format!(
                    "{method:?} entries are not loaded by import (it writes with POST and PUT only)"
                ),
            ));
        }
    };
    check_id_syntax(&id)?;
    Ok((id, choice))
}

/// The id a `fullUrl` gives: `urn:uuid:<uuid>`, `urn:oid:<oid>`, or the last segment of an
/// absolute URL ending in `<resource_type>/<id>`.
pub(crate) fn id_from_full_url(url: &str, resource_type: &str) -> Option<String> {
    if let Some(uuid) = url.strip_prefix("urn:uuid:") {
        return Some(uuid.to_ascii_lowercase());
    }
    if let Some(oid) = url.strip_prefix("urn:oid:") {
        return Some(oid.to_owned());
    }
    let (head, id) = url.rsplit_once('/')?;
    let is_url = url.starts_with("http://") || url.starts_with("https://");
    (is_url && head.ends_with(&format!("/{resource_type}")) && !id.is_empty())
        .then(|| id.to_owned())
}

/// `identifier=system|value` for the first identifier with both, escaped for search.
fn identifier_criteria(object: &Map<String, Value>) -> Option<String> {
    let identifiers = object.get("identifier")?.as_array()?;
    identifiers.iter().find_map(|identifier| {
        let system = identifier.get("system")?.as_str()?;
        let value = identifier.get("value")?.as_str()?;
        Some(vigil_service::token_criteria(
            "identifier",
            Some(system),
            value,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_from_full_urls() {
        let cases = [
            ("urn:uuid:AB-1", "Patient", Some("ab-1")),
            ("urn:oid:1.2.3", "Patient", Some("1.2.3")),
            ("http://x.org/fhir/Patient/p1", "Patient", Some("p1")),
            ("http://x.org/fhir/Patient/p1", "Observation", None),
            ("Patient/p1", "Patient", None),
            ("http://x.org/fhir/Patient/", "Patient", None),
        ];
        for (url, resource_type, expected) in cases {
            assert_eq!(
                id_from_full_url(url, resource_type).as_deref(),
                expected,
                "{url}"
            );
        }
    }

    #[test]
    fn identifier_rule_escapes_the_token() {
        let object = json!({"identifier": [{"value": "no system"}, {"system": "http://s", "value": "a|b,c"}]});
        assert_eq!(
            identifier_criteria(object.as_object().expect("object")).as_deref(),
            Some("identifier=http%3A%2F%2Fs%7Ca%5C%7Cb%5C%2Cc")
        );
        assert_eq!(identifier_criteria(&Map::new()), None);
    }

    fn choice(entry: Value) -> Result<(String, &'static str), String> {
        let context = RequestContext::system("test", "http://localhost");
        let entry = bundle_entry(&context, entry).map_err(|e| e.to_string())?;
        let resource = entry.resource.clone().unwrap_or(Value::Null);
        let object = resource.as_object().cloned().unwrap_or_default();
        let (id, choice) =
            choose_id(&entry, entry.target.resource_type(), &object).map_err(|e| e.to_string())?;
        let kind = match choice {
            Choice::Put { .. } => "put",
            Choice::Other(WriteKind::CreateIfNoneExist { .. }) => "create-if-none-exist",
            Choice::Other(WriteKind::ConditionalUpdate { .. }) => "conditional-update",
            Choice::Other(_) => "create",
        };
        Ok((id, kind))
    }

    #[test]
    fn id_rules_table() {
        let patient = json!({"resourceType": "Patient", "id": "own"});
        let anonymous = json!({"resourceType": "Patient"});
        let identified =
            json!({"resourceType": "Patient", "identifier": [{"system": "s", "value": "v"}]});
        let post = json!({"method": "POST", "url": "Patient"});
        let cases = [
            (
                json!({"fullUrl": "urn:uuid:u1", "resource": patient, "request": post}),
                Ok(("u1", "put")),
            ),
            (
                json!({"resource": patient, "request": post}),
                Ok(("own", "put")),
            ),
            (
                json!({"fullUrl": "urn:uuid:u1", "resource": patient, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=a|b"}}),
                Ok(("u1", "create-if-none-exist")),
            ),
            (
                json!({"resource": patient, "request": {"method": "PUT", "url": "Patient/own"}}),
                Ok(("own", "put")),
            ),
            (
                json!({"resource": patient, "request": {"method": "PUT", "url": "Patient?identifier=a|b"}}),
                Ok(("own", "conditional-update")),
            ),
            (json!({"resource": patient}), Ok(("own", "put"))),
            (
                json!({"fullUrl": "urn:uuid:u2", "resource": anonymous}),
                Ok(("u2", "put")),
            ),
            (
                json!({"resource": identified}),
                Ok(("", "create-if-none-exist")),
            ),
            (json!({"resource": anonymous}), Ok(("", "create"))),
            (
                json!({"request": {"method": "DELETE", "url": "Patient/1"}}),
                Err("not loaded by import"),
            ),
            (
                json!({"resource": patient, "request": {"method": "PUT", "url": "Patient/other"}}),
                Err("must equal"),
            ),
            (
                json!({"fullUrl": "urn:uuid:not a valid id", "resource": anonymous}),
                Err("not a valid FHIR id"),
            ),
        ];
        for (entry, expected) in cases {
            let got = choice(entry.clone());
            match (expected, got) {
                (Ok((id, kind)), Ok((got_id, got_kind))) => {
                    assert_eq!(got_kind, kind, "{entry}");
                    if !id.is_empty() {
                        assert_eq!(got_id, id, "{entry}");
                    }
                }
                (Err(text), Err(got)) => assert!(got.contains(text), "{entry}: {got}"),
                (expected, got) => panic!("{entry}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
