//! create (`POST [type]`) and conditional create (`If-None-Exist`).

use super::{Prepared, WriteOutcome, multiple_matches, to_text};
use crate::{FhirService, RequestContext, ServiceError, meta};
use serde_json::Value;
use vigil_store::{NewVersion, Transaction, WriteMethod};

impl FhirService {
    /// Creates a resource with a server-assigned id. An `id` in the body is ignored, as the FHIR
    /// http page asks.
    ///
    /// With `if_none_exist` (the query of the `If-None-Exist` header), nothing is written when
    /// one resource matches (its current version is returned, `unchanged` set); several matches
    /// fail with `PreconditionFailed`. The criteria are evaluated inside the same unit of work as
    /// the write, so two concurrent conditional creates cannot both create.
    pub fn create(
        &self,
        _context: &RequestContext,
        resource_type: &str,
        body: Value,
        if_none_exist: Option<&str>,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        let (object, warnings) = self.validate_body(resource_type, body)?;
        let prepared = self.prepare(resource_type, &uuid::Uuid::new_v4().to_string(), object)?;
        let outcome = self.run_unit(|tx| self.create_in(tx, prepared, if_none_exist))?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }

    /// The create step inside a unit of work.
    pub(crate) fn create_in(
        &self,
        tx: &mut dyn Transaction,
        prepared: Prepared,
        if_none_exist: Option<&str>,
    ) -> Result<WriteOutcome, ServiceError> {
        let resource_type = prepared.resource_type.as_str();
        if let Some(criteria) = if_none_exist {
            match self
                .conditional_matches_in(tx, resource_type, criteria)?
                .as_slice()
            {
                [] => {}
                [existing] => {
                    let version = tx.current(resource_type, existing)?.ok_or_else(|| {
                        ServiceError::internal(
                            "a matching resource vanished inside its unit of work",
                        )
                    })?;
                    return Ok(WriteOutcome {
                        version,
                        created: false,
                        unchanged: true,
                        warnings: Vec::new(),
                    });
                }
                _ => return Err(multiple_matches(resource_type, criteria)),
            }
        }
        let stamped = Value::Object(meta::stamp(prepared.object, &prepared.id, 1, prepared.now));
        let version = tx.put(NewVersion {
            resource_type: prepared.resource_type.clone(),
            id: prepared.id,
            version_id: 1,
            last_updated_micros: prepared.now,
            method: WriteMethod::Create,
            content: to_text(&stamped)?,
            index: prepared.index,
        })?;
        Ok(WriteOutcome {
            version,
            created: true,
            unchanged: false,
            warnings: Vec::new(),
        })
    }
}
