//! delete (`DELETE [type]/[id]`) and conditional delete (`DELETE [type]?criteria`).
//!
//! A delete appends a deletion marker version; history keeps every earlier version and the
//! resource can be created again by update. Deleting something already deleted writes nothing.

use super::{Preconditions, WriteOutcome, multiple_matches};
use crate::{FhirService, RequestContext, ServiceError, now_micros};
use vigil_store::{NewVersion, Transaction, WriteMethod};

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
        _context: &RequestContext,
        resource_type: &str,
        id: &str,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.run_unit(|tx| self.delete_in(tx, resource_type, id, preconditions))
    }

    /// The delete step inside a unit of work.
    pub(crate) fn delete_in(
        &self,
        tx: &mut dyn Transaction,
        resource_type: &str,
        id: &str,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        let Some(current) = tx.current(resource_type, id)? else {
            return Err(ServiceError::not_found(format!(
                "{resource_type}/{id} is not known"
            )));
        };
        preconditions.check(Some(&current), resource_type, id)?;
        if current.meta.deleted {
            return Ok(WriteOutcome {
                version: current,
                created: false,
                unchanged: true,
                warnings: Vec::new(),
            });
        }
        let version = tx.put(NewVersion {
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

    /// Deletes the one resource matching `criteria`; no match deletes nothing, several matches
    /// fail with `PreconditionFailed` (this server declares `conditionalDelete: single`).
    pub fn conditional_delete(
        &self,
        _context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        preconditions: &Preconditions,
    ) -> Result<ConditionalDeleteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        self.run_unit(|tx| {
            match self
                .conditional_matches_in(tx, resource_type, criteria)?
                .as_slice()
            {
                [] => Ok(ConditionalDeleteOutcome { deleted: None }),
                [id] => Ok(ConditionalDeleteOutcome {
                    deleted: Some(self.delete_in(tx, resource_type, id, preconditions)?),
                }),
                _ => Err(multiple_matches(resource_type, criteria)),
            }
        })
    }
}
