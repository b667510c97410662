//! What background jobs (bulk export, later other durable work) need from the door: durable
//! job records, snapshot scans of the history, and the filtering and compartment questions
//! an export asks of each resource, each resource passing the authorizer.

use crate::authz::{Access, Action};
use crate::{FhirService, RequestContext, ServiceError};
use serde_json::Value;
use std::collections::HashSet;
use vigil_search::{SearchEngine, SearchRequest, SearchScope, TotalMode};
use vigil_store::{IndexValue, JobRecord, StoredVersion};

pub use vigil_store::SnapshotScan;

/// One page of a snapshot scan.
#[derive(Debug, Clone, Default)]
pub struct SnapshotPage {
    /// The versions the authorizer allowed, in id order.
    pub versions: Vec<StoredVersion>,
    /// The cursor for the next page (`SnapshotScan::after_id`): the last id scanned, allowed
    /// or not; `None` when the scan is complete.
    pub after_id: Option<String>,
}

impl FhirService {
    /// Asks the authorizer; a refusal is `Forbidden`. For callers composing their own
    /// operations on top of the door (bulk export asks per type at kick-off).
    pub fn authorize(
        &self,
        context: &RequestContext,
        access: &Access<'_>,
    ) -> Result<(), ServiceError> {
        self.allow(context, access)
    }

    /// The position of the last committed change: a snapshot taken now sees everything up
    /// to it.
    pub fn history_position(&self) -> Result<u64, ServiceError> {
        Ok(self.store.last_seq()?)
    }

    /// One page of the resources of a type as of a history position; each resource is
    /// asked of the authorizer as `Operation(operation)` and left out when refused.
    pub fn scan_snapshot(
        &self,
        context: &RequestContext,
        operation: &str,
        scan: &SnapshotScan,
    ) -> Result<SnapshotPage, ServiceError> {
        let page = self.store.scan_as_of(scan)?;
        let after_id = page.last().map(|v| v.id.clone());
        let versions = page
            .into_iter()
            .filter(|v| self.allows_version(context, Action::Operation(operation), v))
            .collect();
        Ok(SnapshotPage { versions, after_id })
    }

    /// Which of `among` (or, with `None`, whether any resource at all: the query is compiled
    /// and run as a count-free check) match `query`, a search of `resource_type` without
    /// result parameters (`_typeFilter` of an export). Unknown parameters are refused.
    pub fn filter_ids(
        &self,
        context: &RequestContext,
        resource_type: &str,
        query: &str,
        among: Option<&[&str]>,
    ) -> Result<HashSet<String>, ServiceError> {
        self.check_type(resource_type)?;
        self.allow(context, &Access::to_type(Action::Search, resource_type))?;
        let parsed =
            SearchRequest::from_query(SearchScope::Type(resource_type.to_owned()), query, true)?;
        let mut request = SearchRequest::new(parsed.scope);
        request.filters = parsed.filters;
        if let Some(ids) = among {
            request.filters.push(("_id".to_owned(), ids.join(",")));
        }
        request.strict = true;
        request.count = Some(among.map_or(0, <[&str]>::len));
        request.total = Some(TotalMode::None);
        request.confine = crate::confine::confinement(context);
        let result = self.search.search(self.store.as_ref(), &request)?;
        Ok(result.matches.into_iter().map(|v| v.id).collect())
    }

    /// The Patient ids `resource` (of `resource_type`) refers to through the Patient
    /// compartment's parameters; for a Patient, its own id. Empty for types outside the
    /// compartment.
    pub fn patient_compartments(
        &self,
        resource_type: &str,
        id: &str,
        resource: &Value,
    ) -> Result<Vec<String>, ServiceError> {
        patient_compartments(&self.search, resource_type, id, resource)
    }

    /// Stores a new durable job; `Conflict` if its id exists.
    pub fn insert_job(&self, job: &JobRecord) -> Result<(), ServiceError> {
        Ok(self.store.insert_job(job)?)
    }

    /// Replaces a job, only while its state is still `expected_state`; false otherwise.
    pub fn update_job(&self, job: &JobRecord, expected_state: &str) -> Result<bool, ServiceError> {
        Ok(self.store.update_job(job, expected_state)?)
    }

    /// One job by id.
    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, ServiceError> {
        Ok(self.store.job(id)?)
    }

    /// Jobs of a kind (optionally in one state), oldest first, at most `limit`.
    pub fn jobs(
        &self,
        kind: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, ServiceError> {
        Ok(self.store.jobs(kind, state, limit)?)
    }

    /// Deletes a job; false when there was none.
    pub fn delete_job(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self.store.delete_job(id)?)
    }
}

/// The Patient ids `resource` (of `resource_type`) refers to through the Patient compartment's
/// parameters; for a Patient, its own id. Empty for types outside the compartment.
pub(crate) fn patient_compartments(
    search: &SearchEngine,
    resource_type: &str,
    id: &str,
    resource: &Value,
) -> Result<Vec<String>, ServiceError> {
    if resource_type == "Patient" {
        return Ok(vec![id.to_owned()]);
    }
    let Some(compartment) = vigil_model::schema::compartment("Patient") else {
        return Ok(Vec::new());
    };
    let params = compartment.params(resource_type);
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for param in params {
        rows.extend(search.parameter_rows(resource_type, param, resource)?);
    }
    let mut ids: Vec<String> = rows
        .into_iter()
        .filter_map(|row| match row.value {
            IndexValue::Reference {
                target_type: Some(t),
                target_id: Some(id),
                ..
            } if t == "Patient" => Some(id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
