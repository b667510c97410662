//! The writer's part: a batch of planned writes in one unit of work of the service door.
//! Little is left to do under the lock: the workers prepared each resource and looked ahead at
//! its committed version ([`FhirService::look_ahead`]), so the common case is one lookup and
//! one write; whenever the store no longer looks as the worker saw it (the same resource
//! twice in one import, another writer), the unit decides afresh.

use super::plan::{PlannedWrite, WriteKind};
use vigil_service::{
    FhirService, Preconditions, RequestContext, ServiceError, Unit, WriteOutcome, breaks_unit,
};

/// What became of one write of a batch.
pub(crate) type WriteResult = Result<WriteOutcome, ServiceError>;

/// Commits `writes` in one unit of work. A write failing for its own reasons (several
/// conditional matches, a failed `ifMatch`, a refused access) is reported alone and the others
/// commit; a storage failure fails the whole batch.
pub(crate) fn commit_batch(
    service: &FhirService,
    context: &RequestContext,
    writes: Vec<PlannedWrite>,
    unit_nanos: &mut u64,
) -> Vec<WriteResult> {
    let count = writes.len();
    let result = service.unit(context, |unit| {
        let started = std::time::Instant::now();
        let mut results = Vec::with_capacity(count);
        for write in writes {
            match apply(unit, write) {
                Err(error) if breaks_unit(&error) => return Err(error),
                other => results.push(other),
            }
        }
        Ok((results, started.elapsed()))
    });
    match result {
        Ok((results, inside)) => {
            *unit_nanos += u64::try_from(inside.as_nanos()).unwrap_or(u64::MAX);
            results
        }
        Err(error) => vec![Err(error); count],
    }
}

fn apply(unit: &mut Unit<'_>, write: PlannedWrite) -> Result<WriteOutcome, ServiceError> {
    let PlannedWrite { prepared, kind } = write;
    match kind {
        WriteKind::Put { if_match } => unit.update(prepared, &Preconditions { if_match }),
        // An import keeps the id it chose (from the fullUrl or the resource) when nothing
        // matches, so the write is an update-as-create of that id.
        WriteKind::CreateIfNoneExist { criteria } => {
            let resource_type = prepared.resource_type().to_owned();
            match unit.resolve_for(
                vigil_service::Conditional::Create,
                &resource_type,
                &criteria,
                None,
            )? {
                vigil_service::Decision::Existing(id) => {
                    let version = unit.read(&resource_type, &id)?.ok_or_else(|| {
                        ServiceError::internal(
                            "a matching resource vanished inside its unit of work",
                        )
                    })?;
                    Ok(WriteOutcome {
                        version,
                        created: false,
                        unchanged: true,
                        warnings: Vec::new(),
                    })
                }
                _ => unit.update(prepared, &Preconditions::default()),
            }
        }
        WriteKind::ConditionalUpdate { criteria } => {
            unit.conditional_update(prepared, &criteria, &Preconditions::default())
        }
        WriteKind::Create => unit.create(prepared, None),
    }
}
