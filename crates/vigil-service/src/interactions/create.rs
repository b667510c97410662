//! create (`POST [type]`) and conditional create (`If-None-Exist`).

use super::{Prepared, WriteOutcome, to_text};
use crate::authz::{Action, Content};
use crate::conditional::{Conditional, Decision};
use crate::{FhirService, RequestContext, ServiceError, Unit, meta};
use serde_json::Value;
use vigil_store::{NewVersion, WriteMethod};

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
        context: &RequestContext,
        resource_type: &str,
        body: Value,
        if_none_exist: Option<&str>,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        let (object, warnings) = self.validate_body(resource_type, body)?;
        let prepared = self.prepare(resource_type, &uuid::Uuid::new_v4().to_string(), object)?;
        let outcome = self.unit(context, |unit| unit.create(prepared, if_none_exist))?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }
}

impl Unit<'_> {
    /// Creates `prepared` under its id (version 1). With `if_none_exist`, resolves the
    /// criteria first: one match is returned unchanged (and must be readable), several fail.
    pub fn create(
        &mut self,
        prepared: Prepared,
        if_none_exist: Option<&str>,
    ) -> Result<WriteOutcome, ServiceError> {
        crate::audit::refuse_audit_write(self, "create", &prepared.resource_type)?;
        if let Some(criteria) = if_none_exist {
            let resource_type = prepared.resource_type.clone();
            match self.resolve_for(Conditional::Create, &resource_type, criteria, None)? {
                Decision::Existing(existing) => {
                    let version = self.read(&resource_type, &existing)?.ok_or_else(|| {
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
                Decision::Create | Decision::Nothing => {}
            }
        }
        {
            let content = Content::object(&prepared.object);
            self.allow_write(
                Action::Create,
                &prepared.resource_type,
                &prepared.id,
                Some(&content),
                None,
            )?;
        }
        let stamped = Value::Object(meta::stamp(prepared.object, &prepared.id, 1, prepared.now));
        let version = self.put(NewVersion {
            resource_type: prepared.resource_type,
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
