//! patch (`PATCH [type]/[id]`) and conditional patch (`PATCH [type]?criteria`), http.html#patch.
//!
//! The patch is applied to the version current inside the unit of work that writes the
//! result, so `If-Match` is checked against the version the patch was applied to and no
//! concurrent writer can slip in between. The patch document is parsed (and its FHIRPath
//! compiled) before the unit. For `PATCH [type]/[id]` the patch is also applied, validated and
//! indexed optimistically before the unit, against the committed version, so that the CPU work
//! does not hold the writer lock; inside the unit that draft is written only if its version is
//! still current, and is redone there otherwise. Conditional patches and PATCH entries of a
//! transaction do all the work inside the unit (their target is only known there).
//!
//! Errors: a resource never seen is `NotFound` (404), a deleted one `Gone` (410), a stale
//! `If-Match` `PreconditionFailed` (412). A patch that cannot be applied, or whose result is not
//! a valid resource of the same type and id, is `Invalid` (400, as HAPI answers), with the
//! operation at fault named; nothing is stored.

use super::{Preconditions, Prepared, WriteOutcome, to_text};
use crate::authz::{Action, Content};
use crate::conditional::{Conditional, Decision};
use crate::{
    FhirService, PatchDocument, RequestContext, ServiceError, ServiceErrorKind, Unit, meta,
};
use serde_json::{Map, Value};
use vigil_model::IssueType;
use vigil_store::{NewVersion, StoredVersion, WriteMethod};

impl FhirService {
    /// Applies `patch` to the current version of `resource_type/id` and stores the result as
    /// a new version. A patch that changes nothing writes nothing (`unchanged`).
    pub fn patch(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.refuse_audit_write(context, "patch", resource_type)?;
        let mut drafted = self.draft_outside(resource_type, id, patch)?;
        self.unit(context, |unit| {
            let current = unit.current_patchable(resource_type, id, preconditions)?;
            match drafted.take() {
                // Nobody wrote since the draft was made: it is the patch of the current version.
                Some((committed, draft))
                    if committed.meta.version_id == current.meta.version_id =>
                {
                    unit.write_draft(resource_type, id, current, draft)
                }
                _ => {
                    let draft = self.draft(resource_type, id, &current, patch)?;
                    unit.write_draft(resource_type, id, current, draft)
                }
            }
        })
    }

    /// Conditional patch: `criteria` must match exactly one resource, which is patched. No
    /// match is `NotFound`, several are `PreconditionFailed`. Matching and writing happen in
    /// one unit of work.
    pub fn conditional_patch(
        &self,
        context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.refuse_audit_write(context, "patch", resource_type)?;
        self.unit(context, |unit| {
            unit.conditional_patch(resource_type, criteria, patch, preconditions)
        })
    }

    /// The patch of `patch`'s target prepared against the committed version, outside the unit
    /// of work (index extraction is the expensive part of a write and should not hold the
    /// writer lock). `None` when the committed version cannot be patched: the unit then finds
    /// the authoritative answer.
    fn draft_outside(
        &self,
        resource_type: &str,
        id: &str,
        patch: &PatchDocument,
    ) -> Result<Option<(StoredVersion, Draft)>, ServiceError> {
        let Some(committed) = self.store.read(resource_type, id)? else {
            return Ok(None);
        };
        if committed.meta.deleted {
            return Ok(None);
        }
        Ok(self
            .draft(resource_type, id, &committed, patch)
            .ok()
            .map(|draft| (committed, draft)))
    }

    /// Applies the patch to `current` and checks and indexes the result.
    fn draft(
        &self,
        resource_type: &str,
        id: &str,
        current: &StoredVersion,
        patch: &PatchDocument,
    ) -> Result<Draft, ServiceError> {
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
            return Ok(Draft {
                prepared: None,
                warnings,
            });
        }
        Ok(Draft {
            prepared: Some(self.prepare(resource_type, id, object)?),
            warnings,
        })
    }
}

/// A patched resource ready to be written over the version it was made from.
struct Draft {
    /// `None` when the patch changed nothing.
    prepared: Option<Prepared>,
    warnings: Vec<vigil_model::Issue>,
}

impl Unit<'_> {
    /// Patches `resource_type/id` inside this unit: current version, If-Match, apply,
    /// validate, index, write.
    pub fn patch(
        &mut self,
        resource_type: &str,
        id: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        crate::audit::refuse_audit_write(self, "patch", resource_type)?;
        let current = self.current_patchable(resource_type, id, preconditions)?;
        let draft = self.service.draft(resource_type, id, &current, patch)?;
        self.write_draft(resource_type, id, current, draft)
    }

    /// Conditional patch inside this unit (see [`crate::decide`]): exactly one match is
    /// patched.
    pub fn conditional_patch(
        &mut self,
        resource_type: &str,
        criteria: &str,
        patch: &PatchDocument,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        match self.resolve_for(Conditional::Patch, resource_type, criteria, None)? {
            Decision::Existing(id) => self.patch(resource_type, &id, patch, preconditions),
            Decision::Create | Decision::Nothing => Err(ServiceError::internal(
                "a conditional patch decided to create",
            )),
        }
    }

    /// The current version of the target, if it can be patched under `preconditions`.
    fn current_patchable(
        &mut self,
        resource_type: &str,
        id: &str,
        preconditions: &Preconditions,
    ) -> Result<StoredVersion, ServiceError> {
        let Some(current) = self.tx.current(resource_type, id)? else {
            return Err(ServiceError::not_found(format!(
                "{resource_type}/{id} is not known"
            )));
        };
        preconditions.check(Some(&current), resource_type, id)?;
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
        Ok(current)
    }

    /// Writes a draft as the version after `current`.
    fn write_draft(
        &mut self,
        resource_type: &str,
        id: &str,
        current: StoredVersion,
        draft: Draft,
    ) -> Result<WriteOutcome, ServiceError> {
        {
            let new = match &draft.prepared {
                Some(prepared) => Content::object(&prepared.object),
                None => Content::text(&current.content),
            };
            self.allow_write(Action::Patch, resource_type, id, Some(&new), Some(&current))?;
        }
        let Some(prepared) = draft.prepared else {
            return Ok(WriteOutcome {
                version: current,
                created: false,
                unchanged: true,
                warnings: draft.warnings,
            });
        };
        let version_id = current.meta.version_id + 1;
        let stamped = Value::Object(meta::stamp(prepared.object, id, version_id, prepared.now));
        let version = self.put(NewVersion {
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
            warnings: draft.warnings,
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
