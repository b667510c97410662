//! GET and HEAD entries of a transaction or batch: every read interaction of the REST API
//! (http.html), answered as the entry's `resource` with a `response.status`:
//!
//! | `request.url` | answer |
//! |---|---|
//! | `Type/id`, `Type/id/_history/vid` | the resource, with `etag`, `lastModified`, `location` |
//! | `Type/id/_history`, `Type/_history`, `_history` (with `_count`, `_since`, `_at`, `_page`) | a `history` Bundle |
//! | `Type`, `Type?query`, `?_type=...`, `Compartment/id/Type?query` | a `searchset` Bundle |
//! | `metadata` | the CapabilityStatement |
//! | `Patient/id/$everything?...` | the `$everything` Bundle |
//! | `$export` (any level) | 400: it runs asynchronously, outside a Bundle |
//!
//! A HEAD entry is answered as a GET without the `resource`. In a transaction,
//! [`FhirService::allow_read_entry`] asks the authorizer (and refuses unsupported operations)
//! before the commit, so that a refusal fails the transaction before anything is written.

use super::request_url::EntryTarget;
use super::{BundleReturn, Entry, EntryMethod, version_entry};
use crate::authz::{Access, Action};
use crate::{
    FhirService, HistoryParams, RequestContext, SearchScope, ServiceError, ServiceErrorKind,
};
use serde_json::{Value, json};
use vigil_model::IssueType;
use vigil_store::HistoryScope;

impl FhirService {
    /// A GET or HEAD entry, after the writes of its Bundle committed.
    pub(super) fn read_entry(
        &self,
        context: &RequestContext,
        entry: Entry,
    ) -> Result<Value, ServiceError> {
        let head = entry.method == EntryMethod::Head;
        let mut answer = self.get_entry(context, entry.target)?;
        if head && let Some(object) = answer.as_object_mut() {
            object.remove("resource");
        }
        Ok(answer)
    }

    /// The authorizer's type- or id-level answer for a GET entry, before it runs; an operation
    /// that cannot run in a Bundle is refused here too.
    pub(super) fn allow_read_entry(
        &self,
        context: &RequestContext,
        entry: &Entry,
    ) -> Result<(), ServiceError> {
        let search = |scope: SearchScope, query: &str| {
            let request = vigil_search::SearchRequest::from_query(scope, query, false)?;
            self.allow_search(context, &request)
        };
        let (action, resource_type, id) = match &entry.target {
            EntryTarget::Instance(t, id) => (Action::Read, t.as_str(), Some(id.as_str())),
            EntryTarget::Version(t, id, _) => (Action::VRead, t.as_str(), Some(id.as_str())),
            EntryTarget::History(t, id, _) => (Action::History, t.as_str(), id.as_deref()),
            EntryTarget::Type(t) => (Action::Search, t.as_str(), None),
            EntryTarget::Query(t, query) => return search(SearchScope::Type(t.clone()), query),
            EntryTarget::SystemSearch(query) => {
                return search(SearchScope::System(Vec::new()), query);
            }
            EntryTarget::Compartment {
                compartment,
                id,
                resource_type,
                query,
            } => {
                let scope = SearchScope::Compartment {
                    compartment: compartment.clone(),
                    id: id.clone(),
                    resource_type: resource_type.clone(),
                };
                return search(scope, query);
            }
            // The statement is public; system history asks per version as it runs.
            EntryTarget::Metadata | EntryTarget::SystemHistory(_) => return Ok(()),
            EntryTarget::Operation {
                resource_type,
                id,
                name,
                ..
            } => {
                supported_operation(resource_type.as_deref(), id.as_deref(), name)?;
                (Action::Operation("everything"), "Patient", id.as_deref())
            }
        };
        self.allow(
            context,
            &Access {
                action,
                resource_type,
                id,
                resource: None,
                previous: None,
            },
        )
    }

    fn get_entry(
        &self,
        context: &RequestContext,
        target: EntryTarget,
    ) -> Result<Value, ServiceError> {
        let base = &context.base_url;
        match target {
            EntryTarget::Instance(resource_type, id) => {
                let read = self.read(context, &resource_type, &id)?;
                Ok(version_entry(
                    base,
                    &read.version,
                    200,
                    BundleReturn::Representation,
                ))
            }
            EntryTarget::Version(resource_type, id, version) => {
                let read = self.vread(context, &resource_type, &id, &version)?;
                Ok(version_entry(
                    base,
                    &read.version,
                    200,
                    BundleReturn::Representation,
                ))
            }
            EntryTarget::Type(resource_type) => {
                self.search_entry(context, SearchScope::Type(resource_type), "")
            }
            EntryTarget::Query(resource_type, query) => {
                self.search_entry(context, SearchScope::Type(resource_type), &query)
            }
            EntryTarget::SystemSearch(query) => {
                self.search_entry(context, SearchScope::System(Vec::new()), &query)
            }
            EntryTarget::Compartment {
                compartment,
                id,
                resource_type,
                query,
            } => {
                let scope = SearchScope::Compartment {
                    compartment,
                    id,
                    resource_type,
                };
                self.search_entry(context, scope, &query)
            }
            EntryTarget::History(resource_type, id, query) => {
                let scope = match id {
                    Some(id) => HistoryScope::Instance(resource_type, id),
                    None => HistoryScope::Type(resource_type),
                };
                self.history_entry(context, scope, &query)
            }
            EntryTarget::SystemHistory(query) => {
                self.history_entry(context, HistoryScope::System, &query)
            }
            EntryTarget::Metadata => Ok(found(self.capability_statement(base))),
            EntryTarget::Operation {
                resource_type,
                id,
                name,
                query,
            } => self.operation_entry(context, resource_type, id, &name, &query),
        }
    }

    fn search_entry(
        &self,
        context: &RequestContext,
        scope: SearchScope,
        query: &str,
    ) -> Result<Value, ServiceError> {
        let bundle = self.search(context, scope, pairs(query), false)?;
        Ok(found(bundle))
    }

    fn history_entry(
        &self,
        context: &RequestContext,
        scope: HistoryScope,
        query: &str,
    ) -> Result<Value, ServiceError> {
        let pairs = pairs(query);
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let params = HistoryParams {
            count: value("_count"),
            since: value("_since"),
            at: value("_at"),
            page: value("_page"),
        };
        Ok(found(self.history(context, scope, &params)?))
    }

    fn operation_entry(
        &self,
        context: &RequestContext,
        resource_type: Option<String>,
        id: Option<String>,
        name: &str,
        query: &str,
    ) -> Result<Value, ServiceError> {
        let id = supported_operation(resource_type.as_deref(), id.as_deref(), name)?;
        Ok(found(self.everything(context, id, &pairs(query))?))
    }
}

/// The operations a Bundle entry may run: `Patient/[id]/$everything` (returns the id).
fn supported_operation<'a>(
    resource_type: Option<&str>,
    id: Option<&'a str>,
    name: &str,
) -> Result<&'a str, ServiceError> {
    match (resource_type, id, name) {
        (Some("Patient"), Some(id), "everything") => Ok(id),
        (_, _, "export") => Err(ServiceError::new(
            ServiceErrorKind::NotSupported,
            IssueType::NotSupported,
            "$export runs asynchronously and cannot be an entry of a Bundle; send GET [base]/$export with 'Prefer: respond-async'",
        )),
        (resource_type, _, name) => Err(ServiceError::new(
            ServiceErrorKind::NotSupported,
            IssueType::NotSupported,
            format!(
                "the operation ${name} is not supported{}",
                resource_type.map_or(String::new(), |t| format!(" on {t}"))
            ),
        )),
    }
}

fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A 200 entry carrying `resource`.
fn found(resource: Value) -> Value {
    json!({"resource": resource, "response": {"status": "200 OK"}})
}
