//! The RESTful interactions on single resources: create, read, vread, update, patch, delete and
//! their conditional forms. One file per interaction; shared checks live here.

mod create;
mod delete;
mod patch;
mod read;
mod update;

pub use delete::ConditionalDeleteOutcome;
pub use update::check_id_syntax;

use crate::{FhirService, ServiceError, ServiceErrorKind};
use serde_json::{Map, Value};
use vigil_model::{Issue, IssueType, Severity};
use vigil_store::StoredVersion;

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
/// happens before the unit of work, outside the writer lock ([`FhirService::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) resource_type: String,
    pub(crate) id: String,
    /// The id the client put in the resource, before the service chose one.
    pub(crate) body_id: Option<String>,
    pub(crate) object: Map<String, Value>,
    pub(crate) index: Vec<vigil_store::IndexRow>,
    pub(crate) now: i64,
    /// The committed version seen outside the lock ([`FhirService::look_ahead`]).
    pub(crate) seen: Option<Seen>,
}

/// What [`FhirService::look_ahead`] found committed, and the text to store if it still holds.
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    /// No such resource: `content` is version 1.
    Absent { content: String },
    /// Equal to the live version `version`: nothing to write.
    Same { version: u64 },
    /// A different live version, or a deletion marker: `content` is version + 1.
    Differs {
        version: u64,
        deleted: bool,
        content: String,
    },
}

impl Prepared {
    /// The resource type.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The id it will be written under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id the client put in the resource, if any.
    pub fn body_id(&self) -> Option<&str> {
        self.body_id.as_deref()
    }

    /// The resource as it will be stored (without `meta.versionId`/`lastUpdated` of the
    /// final version).
    pub fn object(&self) -> &Map<String, Value> {
        &self.object
    }

    /// The same resource under another id (index rows do not depend on the id).
    pub(crate) fn with_id(self, id: String) -> Prepared {
        Prepared {
            id,
            seen: None,
            ..self
        }
    }
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
    pub fn validate_body(
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
            // An array over the model's size limit makes the whole request too large (413).
            let kind = if errors
                .iter()
                .any(|issue| issue.code == IssueType::TooCostly)
            {
                ServiceErrorKind::TooLarge
            } else {
                ServiceErrorKind::Invalid
            };
            return Err(ServiceError::with_issues(kind, errors));
        }
        let Value::Object(object) = value else {
            return Err(ServiceError::internal(
                "validated body is no longer an object",
            ));
        };
        Ok((object, warnings))
    }

    /// Extracts the index rows of `object` (validated by [`FhirService::validate_body`]) as it
    /// will be stored under `id` (the version number and time do not change index rows). Runs
    /// outside any unit of work.
    pub fn prepare(
        &self,
        resource_type: &str,
        id: &str,
        object: Map<String, Value>,
    ) -> Result<Prepared, ServiceError> {
        let now = crate::now_micros();
        let body_id = object.get("id").and_then(Value::as_str).map(str::to_owned);
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
            body_id,
            object,
            index,
            now,
            seen: None,
        })
    }
}

/// The stored text of a resource: compact JSON, decimals as written.
/// Its bytes are counted as `Stage::Serialize` work (issue 20).
pub(crate) fn to_text<T: serde::Serialize + ?Sized>(resource: &T) -> Result<String, ServiceError> {
    let text = serde_json::to_string(resource)
        .map_err(|error| ServiceError::internal(format!("serializing a resource: {error}")))?;
    vigil_model::work::add(vigil_model::work::Stage::Serialize, text.len() as u64);
    Ok(text)
}
