//! The RESTful interactions on single resources: create, read, vread, update, patch, delete and
//! their conditional forms. One file per interaction; shared checks live here.

mod create;
mod delete;
mod patch;
mod read;
mod update;

pub use delete::ConditionalDeleteOutcome;
pub(crate) use update::{check_id_syntax, refuse_existing};

use crate::{FhirService, ServiceError, ServiceErrorKind};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use vigil_model::{Issue, IssueType, Severity};
use vigil_store::{StoreError, StoreErrorKind, StoredVersion, Transaction};

/// Preconditions a client attached to a write.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// `If-Match`: the version the client last saw; the write fails unless it is current.
    pub if_match: Option<u64>,
}

impl Preconditions {
    /// Checks `If-Match` against the current version (`None` when the resource never existed):
    /// it holds only when that version is current and not a deletion.
    pub(crate) fn check(
        &self,
        current: Option<&StoredVersion>,
        resource_type: &str,
        id: &str,
    ) -> Result<(), ServiceError> {
        let Some(expected) = self.if_match else {
            return Ok(());
        };
        match current {
            Some(version) if version.meta.version_id == expected && !version.meta.deleted => Ok(()),
            _ => Err(ServiceError::new(
                ServiceErrorKind::PreconditionFailed,
                IssueType::Conflict,
                format!(
                    "If-Match expected version {expected} of {resource_type}/{id}, but the current version is {}",
                    current.map_or("none".to_owned(), |v| v.meta.version_id.to_string())
                ),
            )),
        }
    }
}

/// What a create, update or delete did.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The version now current (for deletes: the deletion marker).
    pub version: StoredVersion,
    /// True when the interaction created the resource (HTTP 201).
    pub created: bool,
    /// True when nothing was written because the request changed nothing (an update equal to
    /// the current version, or a conditional create that matched an existing resource).
    pub unchanged: bool,
    /// Warnings and information from validation.
    pub warnings: Vec<Issue>,
}

/// A resource ready to be written: validated, its id chosen, its index rows extracted. Index
/// extraction (FHIRPath over every search parameter) is the expensive part of a write, so it
/// happens before the unit of work, outside the writer lock.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) resource_type: String,
    pub(crate) id: String,
    pub(crate) object: Map<String, Value>,
    pub(crate) index: Vec<vigil_store::IndexRow>,
    pub(crate) now: i64,
}

/// The result of a read or vread: the stored version (never a deletion marker).
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// The version read.
    pub version: StoredVersion,
}

impl FhirService {
    /// Fails with `UnknownType` unless `resource_type` is a concrete R4 resource type.
    pub fn check_type(&self, resource_type: &str) -> Result<(), ServiceError> {
        if vigil_model::schema::r4().is_resource_type(resource_type) {
            Ok(())
        } else {
            Err(ServiceError::new(
                ServiceErrorKind::UnknownType,
                IssueType::NotSupported,
                format!("unknown resource type '{resource_type}'"),
            ))
        }
    }

    /// Validates a resource sent for `resource_type`: a JSON object of that type that passes the
    /// model's validation. Returns the object and the non-error issues.
    pub(crate) fn validate_body(
        &self,
        resource_type: &str,
        body: Value,
    ) -> Result<(Map<String, Value>, Vec<Issue>), ServiceError> {
        let Value::Object(object) = body else {
            return Err(ServiceError::invalid(
                "the body must be a JSON object holding one resource",
                resource_type,
            ));
        };
        match object.get("resourceType").and_then(Value::as_str) {
            Some(found) if found == resource_type => {}
            Some(found) => {
                return Err(ServiceError::invalid(
                    format!(
                        "resourceType '{found}' does not match the type in the URL, '{resource_type}'"
                    ),
                    "resourceType",
                ));
            }
            None => {
                return Err(ServiceError::invalid(
                    "the resource has no resourceType",
                    "resourceType",
                ));
            }
        }
        let value = Value::Object(object);
        let issues = vigil_model::validate::validate_resource(&value);
        let (errors, warnings): (Vec<Issue>, Vec<Issue>) = issues
            .into_iter()
            .partition(|issue| matches!(issue.severity, Severity::Error | Severity::Fatal));
        if !errors.is_empty() {
            return Err(ServiceError::with_issues(ServiceErrorKind::Invalid, errors));
        }
        let Value::Object(object) = value else {
            return Err(ServiceError::internal(
                "validated body is no longer an object",
            ));
        };
        Ok((object, warnings))
    }

    /// Extracts the index rows of `object` as it will be stored under `id` (the version number
    /// and time do not change index rows).
    pub(crate) fn prepare(
        &self,
        resource_type: &str,
        id: &str,
        object: Map<String, Value>,
    ) -> Result<Prepared, ServiceError> {
        let now = crate::now_micros();
        let stamped = Value::Object(crate::meta::stamp(object, id, 1, now));
        let index = self.search.index_rows(resource_type, &stamped)?;
        let Value::Object(object) = stamped else {
            return Err(ServiceError::internal(
                "stamped resource is no longer an object",
            ));
        };
        Ok(Prepared {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            object,
            index,
            now,
        })
    }

    /// Runs `work` as one durable unit of work, carrying service errors out of the store.
    pub(crate) fn run_unit<T: Send>(
        &self,
        work: impl FnOnce(&mut dyn Transaction) -> Result<T, ServiceError> + Send,
    ) -> Result<T, ServiceError> {
        let failure: Arc<Mutex<Option<ServiceError>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&failure);
        let result = vigil_store::write_with(self.store.as_ref(), move |tx| {
            work(tx).map_err(|error| {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                StoreError::new(StoreErrorKind::Aborted, "aborted by the service")
            })
        });
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let carried = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(carried.unwrap_or_else(|| ServiceError::from(error)))
            }
        }
    }

    /// The ids matching conditional criteria inside a unit of work (so the answer cannot change
    /// before the write): at most two, enough to tell none, one and several apart.
    pub(crate) fn conditional_matches_in(
        &self,
        tx: &mut dyn Transaction,
        resource_type: &str,
        criteria: &str,
    ) -> Result<Vec<String>, ServiceError> {
        if criteria.trim().is_empty() {
            return Err(ServiceError::new(
                ServiceErrorKind::PreconditionFailed,
                IssueType::Processing,
                "a conditional interaction needs search criteria",
            ));
        }
        Ok(self
            .search
            .matching_ids_in(tx, resource_type, criteria, 2)?)
    }
}

pub(crate) fn multiple_matches(resource_type: &str, criteria: &str) -> ServiceError {
    ServiceError::new(
        ServiceErrorKind::PreconditionFailed,
        IssueType::MultipleMatches,
        format!("more than one {resource_type} matches the criteria '{criteria}'"),
    )
}

/// The stored text of a resource: compact JSON, decimals as written.
pub(crate) fn to_text(resource: &Value) -> Result<String, ServiceError> {
    serde_json::to_string(resource)
        .map_err(|error| ServiceError::internal(format!("serializing a resource: {error}")))
}
