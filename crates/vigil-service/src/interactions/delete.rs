//! delete (`DELETE [type]/[id]`) and conditional delete (`DELETE [type]?criteria`).
//!
//! A delete appends a deletion marker version; history keeps every earlier version and the
//! resource can be created again by update. Deleting something already deleted writes nothing.

use super::{Preconditions, WriteOutcome};
use crate::authz::Action;
use crate::conditional::{Conditional, Decision};
use crate::{FhirService, RequestContext, ServiceError, Unit, now_micros};
use vigil_store::{NewVersion, WriteMethod};

/// What a conditional delete did.
#[derive(Debug, Clone)]
pub struct ConditionalDeleteOutcome {
    /// The deletion written, or `None` when nothing matched.
    pub deleted: Option<WriteOutcome>,
}

impl FhirService {
    /// Deletes `resource_type/id`. `NotFound` when it never existed; when it is already deleted,
    /// nothing is written and the outcome is `unchanged`.
    pub fn delete(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.unit(context, |unit| {
            unit.delete(resource_type, id, preconditions)
        })
    }

    /// Deletes the one resource matching `criteria`; no match deletes nothing, several matches
    /// fail with `PreconditionFailed` (this server declares `conditionalDelete: single`).
    pub fn conditional_delete(
        &self,
        context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        preconditions: &Preconditions,
    ) -> Result<ConditionalDeleteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.unit(context, |unit| {
            unit.conditional_delete(resource_type, criteria, preconditions)
        })
    }
}

impl Unit<'_> {
    /// Deletes `resource_type/id` inside this unit (see [`FhirService::delete`]).
    pub fn delete(
        &mut self,
        resource_type: &str,
        id: &str,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        crate::audit::refuse_audit_write(self, "delete", resource_type)?;
        let Some(current) = self.tx.current(resource_type, id)? else {
            return Err(ServiceError::not_found(format!(
                "{resource_type}/{id} is not known"
            )));
        };
        preconditions.check(Some(&current), resource_type, id)?;
        self.allow_write(Action::Delete, resource_type, id, None, Some(&current))?;
        if current.meta.deleted {
            return Ok(WriteOutcome {
                version: current,
                created: false,
                unchanged: true,
                warnings: Vec::new(),
            });
        }
        let version = self.put(NewVersion {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version_id: current.meta.version_id + 1,
            last_updated_micros: now_micros(),
            method: WriteMethod::Delete,
            content: String::new(),
            index: Vec::new(),
        })?;
        Ok(WriteOutcome {
            version,
            created: false,
            unchanged: false,
            warnings: Vec::new(),
        })
    }

    /// Conditional delete inside this unit (see [`crate::decide`]).
    pub fn conditional_delete(
        &mut self,
        resource_type: &str,
        criteria: &str,
        preconditions: &Preconditions,
    ) -> Result<ConditionalDeleteOutcome, ServiceError> {
        crate::audit::refuse_audit_write(self, "delete", resource_type)?;
        match self.resolve_for(Conditional::Delete, resource_type, criteria, None)? {
            Decision::Existing(id) => Ok(ConditionalDeleteOutcome {
                deleted: Some(self.delete(resource_type, &id, preconditions)?),
            }),
            Decision::Create | Decision::Nothing => Ok(ConditionalDeleteOutcome { deleted: None }),
        }
    }
}
