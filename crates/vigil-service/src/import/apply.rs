//! The writer's part: a batch of planned writes in one unit of work. Little is left to do
//! under the lock: the workers serialized the content and looked up the current version, so
//! the common cases are one lookup and one `put`. Whenever the store no longer looks as the
//! worker saw it (the same resource twice in one import, another writer), the write falls back
//! to the interactive path (`update_in`, `create_in`), which decides inside the unit.

use super::plan::{Existing, PlannedWrite, WriteKind};
use crate::interactions::{Preconditions, Prepared, WriteOutcome, multiple_matches};
use crate::{FhirService, ServiceError, ServiceErrorKind};
use vigil_store::{NewVersion, StoredVersion, Transaction, WriteMethod};

/// What became of one write of a batch.
pub(crate) type WriteResult = Result<WriteOutcome, ServiceError>;

impl FhirService {
    /// Commits `writes` in one unit of work. A write failing for its own reasons (several
    /// conditional matches, a failed `ifMatch`) is reported alone and the others commit; a
    /// storage failure fails the whole batch.
    pub(crate) fn commit_import_batch(
        &self,
        writes: Vec<PlannedWrite>,
        unit_nanos: &mut u64,
    ) -> Vec<WriteResult> {
        let count = writes.len();
        let result = self.run_unit(|tx| {
            let started = std::time::Instant::now();
            let mut results = Vec::with_capacity(count);
            for write in writes {
                match self.apply_import_write(tx, write) {
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

    fn apply_import_write(
        &self,
        tx: &mut dyn Transaction,
        write: PlannedWrite,
    ) -> Result<WriteOutcome, ServiceError> {
        let PlannedWrite { prepared, kind } = write;
        match kind {
            WriteKind::Put {
                existing,
                if_match: None,
            } => self.put_as_seen(tx, prepared, existing),
            WriteKind::Put { if_match, .. } => {
                self.update_in(tx, prepared, &Preconditions { if_match })
            }
            WriteKind::CreateIfNoneExist { criteria } => {
                match self
                    .conditional_matches_in(tx, &prepared.resource_type, &criteria)?
                    .as_slice()
                {
                    [] => self.update_in(tx, prepared, &Preconditions::default()),
                    [found] => match tx.current(&prepared.resource_type, found)? {
                        Some(version) => Ok(outcome(version, false, true)),
                        None => Err(ServiceError::internal(
                            "a matching resource vanished inside its unit of work",
                        )),
                    },
                    _ => Err(multiple_matches(&prepared.resource_type, &criteria)),
                }
            }
            WriteKind::ConditionalUpdate { criteria, body_id } => {
                let resource_type = prepared.resource_type.clone();
                let id = match (
                    self.conditional_matches_in(tx, &resource_type, &criteria)?
                        .as_slice(),
                    body_id,
                ) {
                    ([], _) => prepared.id.clone(),
                    ([found], Some(body_id)) if *found != body_id => {
                        return Err(ServiceError::invalid(
                            format!(
                                "the id in the body ('{body_id}') differs from the matching resource's id ('{found}')"
                            ),
                            &format!("{resource_type}.id"),
                        ));
                    }
                    ([found], _) => found.clone(),
                    _ => return Err(multiple_matches(&resource_type, &criteria)),
                };
                self.update_in(tx, Prepared { id, ..prepared }, &Preconditions::default())
            }
            WriteKind::Create => self.create_in(tx, prepared, None),
        }
    }

    /// The fast path: the worker's view of the current version still holds.
    fn put_as_seen(
        &self,
        tx: &mut dyn Transaction,
        prepared: Prepared,
        existing: Existing,
    ) -> Result<WriteOutcome, ServiceError> {
        let current = tx.current(&prepared.resource_type, &prepared.id)?;
        let now = current
            .as_ref()
            .map(|v| (v.meta.version_id, v.meta.deleted));
        match existing {
            Existing::Absent { content } if now.is_none() => {
                let version = put(tx, prepared, 1, content)?;
                Ok(outcome(version, true, false))
            }
            Existing::Same { version } if now == Some((version, false)) => match current {
                Some(current) => Ok(outcome(current, false, true)),
                None => Err(ServiceError::internal("a current version vanished")),
            },
            Existing::Differs {
                version,
                deleted,
                content,
            } if now == Some((version, deleted)) => {
                let stored = put(tx, prepared, version + 1, content)?;
                Ok(outcome(stored, deleted, false))
            }
            _ => self.update_in(tx, prepared, &Preconditions::default()),
        }
    }
}

fn put(
    tx: &mut dyn Transaction,
    prepared: Prepared,
    version_id: u64,
    content: String,
) -> Result<StoredVersion, ServiceError> {
    Ok(tx.put(NewVersion {
        resource_type: prepared.resource_type,
        id: prepared.id,
        version_id,
        last_updated_micros: prepared.now,
        method: if version_id == 1 {
            WriteMethod::Create
        } else {
            WriteMethod::Update
        },
        content,
        index: prepared.index,
    })?)
}

fn outcome(version: StoredVersion, created: bool, unchanged: bool) -> WriteOutcome {
    WriteOutcome {
        version,
        created,
        unchanged,
        warnings: Vec::new(),
    }
}

/// Errors after which the unit of work cannot be trusted (storage failures, and conflicts a
/// worker could not foresee): the whole batch fails with them.
fn breaks_unit(error: &ServiceError) -> bool {
    matches!(
        error.kind(),
        ServiceErrorKind::Internal | ServiceErrorKind::Unavailable | ServiceErrorKind::Conflict
    )
}
