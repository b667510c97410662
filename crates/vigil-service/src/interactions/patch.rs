//! patch (`PATCH [type]/[id]`) and conditional patch (`PATCH [type]?criteria`), http.html#patch.
//!
//! Reading the current version, applying the patch, validating the result and writing it all
//! happen in one unit of work, so `If-Match` is checked against the version the patch was
//! applied to and no concurrent writer can slip in between. The patch document is parsed (and
//! its FHIRPath compiled) before the unit; the index rows of the result are extracted inside
//! it, because they depend on the current version.
//!
//! Errors: a resource never seen is `NotFound` (404), a deleted one `Gone` (410), a stale
//! `If-Match` `PreconditionFailed` (412). A patch that cannot be applied, or whose result is not
//! a valid resource of the same type and id, is `Invalid` (400, as HAPI answers), with the
//! operation at fault named; nothing is stored.

use super::{Preconditions, WriteOutcome, multiple_matches, to_text};
use crate::{FhirService, PatchDocument, RequestContext, ServiceError, ServiceErrorKind, meta};
use serde_json::{Map, Value};
use vigil_model::IssueType;
use vigil_store::{NewVersion, Transaction, WriteMethod};

impl FhirService {
    /// Applies `patch` to the current version of `resource_type/id` and stores the result as
    /// a new version. A patch that changes nothing writes nothing (`unchanged`).
    pub fn patch(
        &self,
        _context: &RequestContext,
        resource_type: &str,
        id: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.run_unit(|tx| self.patch_in(tx, resource_type, id, patch, preconditions))
    }

    /// Conditional patch: `criteria` must match exactly one resource, which is patched. No
    /// match is `NotFound`, several are `PreconditionFailed`. Matching and writing happen in
    /// one unit of work.
    pub fn conditional_patch(
        &self,
        _context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.run_unit(|tx| {
            let id = self.patch_target_in(tx, resource_type, criteria)?;
            self.patch_in(tx, resource_type, &id, patch, preconditions)
        })
    }

    /// The one resource a conditional patch applies to.
    pub(crate) fn patch_target_in(
        &self,
        tx: &mut dyn Transaction,
        resource_type: &str,
        criteria: &str,
    ) -> Result<String, ServiceError> {
        match self
            .conditional_matches_in(tx, resource_type, criteria)?
            .as_slice()
        {
            [id] => Ok(id.clone()),
            [] => Err(ServiceError::not_found(format!(
                "no {resource_type} matches the criteria '{criteria}'; a conditional patch needs exactly one"
            ))),
            _ => Err(multiple_matches(resource_type, criteria)),
        }
    }

    /// The patch step inside a unit of work: current version, If-Match, apply, validate,
    /// index, write.
    pub(crate) fn patch_in(
        &self,
        tx: &mut dyn Transaction,
        resource_type: &str,
        id: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        let Some(current) = tx.current(resource_type, id)? else {
            return Err(ServiceError::not_found(format!(
                "{resource_type}/{id} is not known"
            )));
        };
        if let Some(expected) = preconditions.if_match
            && (current.meta.version_id != expected || current.meta.deleted)
        {
            return Err(ServiceError::new(
                ServiceErrorKind::PreconditionFailed,
                IssueType::Conflict,
                format!(
                    "If-Match expected version {expected} of {resource_type}/{id}, but the current version is {}",
                    current.meta.version_id
                ),
            ));
        }
        if current.meta.deleted {
            return Err(ServiceError::new(
                ServiceErrorKind::Gone,
                IssueType::Deleted,
                format!(
                    "{resource_type}/{id} was deleted (version {}); a deleted resource cannot be patched",
                    current.meta.version_id
                ),
            ));
        }
        let stored: Value = serde_json::from_str(&current.content)
            .map_err(|e| ServiceError::internal(format!("stored content unreadable: {e}")))?;
        let patched = patch.apply(&stored)?;
        let (object, warnings) = self
            .validate_body(resource_type, patched)
            .map_err(|error| result_error(error, resource_type))?;
        check_identity(&object, resource_type, id)?;
        let Value::Object(current_object) = &stored else {
            return Err(ServiceError::internal("stored content is not an object"));
        };
        let candidate = meta::stamp(
            object.clone(),
            id,
            current.meta.version_id,
            current.meta.last_updated_micros,
        );
        if meta::same_content(&candidate, current_object) {
            return Ok(WriteOutcome {
                version: current,
                created: false,
                unchanged: true,
                warnings,
            });
        }
        let prepared = self.prepare(resource_type, id, object)?;
        let version_id = current.meta.version_id + 1;
        let stamped = Value::Object(meta::stamp(prepared.object, id, version_id, prepared.now));
        let version = tx.put(NewVersion {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version_id,
            last_updated_micros: prepared.now,
            method: WriteMethod::Patch,
            content: to_text(&stamped)?,
            index: prepared.index,
        })?;
        Ok(WriteOutcome {
            version,
            created: false,
            unchanged: false,
            warnings,
        })
    }
}

/// The patched resource must keep its `id` (the server's `meta.versionId`/`lastUpdated` are
/// re-stamped whatever the patch did to them).
fn check_identity(
    object: &Map<String, Value>,
    resource_type: &str,
    id: &str,
) -> Result<(), ServiceError> {
    match object.get("id").and_then(Value::as_str) {
        Some(found) if found == id => Ok(()),
        Some(found) => Err(ServiceError::invalid(
            format!(
                "the patch changes the id from '{id}' to '{found}'; a patch may not change the id"
            ),
            &format!("{resource_type}.id"),
        )),
        None => Err(ServiceError::invalid(
            "the patch removes the id; a patch may not change the id",
            &format!("{resource_type}.id"),
        )),
    }
}

/// Validation problems of the patched result, said to be the patch's.
fn result_error(error: ServiceError, resource_type: &str) -> ServiceError {
    let mut issues = error.issues().to_vec();
    for issue in &mut issues {
        issue.diagnostics = format!(
            "the patched {resource_type} is not valid: {}",
            issue.diagnostics
        );
    }
    ServiceError::with_issues(error.kind(), issues)
}
