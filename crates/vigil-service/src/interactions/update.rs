//! update (`PUT [type]/[id]`), update-as-create, and conditional update (`PUT [type]?criteria`).

use super::{Preconditions, Prepared, Seen, WriteOutcome, to_text};
use crate::authz::{Action, Content};
use crate::conditional::{Conditional, Decision};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind, Unit, meta};
use serde_json::{Map, Value};
use vigil_model::IssueType;
use vigil_store::{NewVersion, StoredVersion, WriteMethod};

impl FhirService {
    /// Updates (or, if allowed, creates) the resource `resource_type/id`.
    ///
    /// The body must carry the same `id` as the URL. With `If-Match`, the write fails with
    /// `PreconditionFailed` unless that version is current. An update whose content equals the
    /// current version (apart from `meta.versionId`/`lastUpdated`) writes nothing and returns the
    /// current version, as HAPI does; this keeps re-imports from piling up versions.
    pub fn update(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        body: Value,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.update_checked(context, resource_type, id, body, preconditions, false)
    }

    /// `PUT [type]/[id]` with `If-None-Match: *`: creates the resource at that id, and fails with
    /// `PreconditionFailed` (412) when a current version exists (a deleted resource has none, so
    /// it is created again). An `If-Match` in `preconditions` is checked too (so with both, the
    /// answer is always 412). The check and the write happen in one unit of work.
    pub fn update_if_absent(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        body: Value,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.update_checked(context, resource_type, id, body, preconditions, true)
    }

    fn update_checked(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        body: Value,
        preconditions: &Preconditions,
        if_absent: bool,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        check_id_syntax(id)?;
        let (object, warnings) = self.validate_body(resource_type, body)?;
        match object.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => {}
            Some(body_id) => {
                return Err(ServiceError::invalid(
                    format!(
                        "the id in the body ('{body_id}') differs from the id in the URL ('{id}')"
                    ),
                    &format!("{resource_type}.id"),
                ));
            }
            None => {
                return Err(ServiceError::invalid(
                    "an update needs the resource id in the body, equal to the id in the URL",
                    &format!("{resource_type}.id"),
                ));
            }
        }
        let prepared = self.prepare(resource_type, id, object)?;
        let outcome = self.unit(context, |unit| {
            if if_absent {
                unit.refuse_existing(resource_type, id)?;
            }
            unit.update(prepared, preconditions)
        })?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }

    /// Conditional update: `criteria` selects the resource to update. No match creates it (with
    /// the body's id when it has one), one match updates it (a body id naming another resource
    /// is refused), several fail. Matching and writing happen in one unit of work.
    pub fn conditional_update(
        &self,
        context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        body: Value,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        let (object, warnings) = self.validate_body(resource_type, body)?;
        let prepared = self.prepare_conditional(resource_type, object)?;
        let outcome = self.unit(context, |unit| {
            unit.conditional_update(prepared, criteria, preconditions)
        })?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }

    /// Prepares the body of a conditional update: index rows do not depend on the id, so they
    /// are extracted before the unit of work under the body's id or a provisional one.
    pub fn prepare_conditional(
        &self,
        resource_type: &str,
        object: Map<String, Value>,
    ) -> Result<Prepared, ServiceError> {
        let body_id = object.get("id").and_then(Value::as_str).map(str::to_owned);
        if let Some(body_id) = &body_id {
            check_id_syntax(body_id)?;
        }
        let provisional = body_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.prepare(resource_type, &provisional, object)
    }

    /// Looks up the committed version of `prepared` and serializes the version that would
    /// follow it, outside any unit of work, so that [`Unit::update`] has only to check that
    /// nobody wrote meanwhile (bulk import's fast path).
    pub fn look_ahead(&self, prepared: &mut Prepared) -> Result<(), ServiceError> {
        let committed = self.store.read(&prepared.resource_type, &prepared.id)?;
        let seen = match committed {
            None => Seen::Absent {
                content: to_text(&prepared.object)?,
            },
            Some(current) if current.meta.deleted => Seen::Differs {
                version: current.meta.version_id,
                deleted: true,
                content: next_text(prepared, current.meta.version_id)?,
            },
            Some(current) if same_as(prepared, &current)? => Seen::Same {
                version: current.meta.version_id,
            },
            Some(current) => Seen::Differs {
                version: current.meta.version_id,
                deleted: false,
                content: next_text(prepared, current.meta.version_id)?,
            },
        };
        prepared.seen = Some(seen);
        Ok(())
    }
}

impl Unit<'_> {
    /// Updates (or, if the server allows it, creates) `prepared` under its id: `If-Match`,
    /// no-op detection, the new version with its index rows.
    pub fn update(
        &mut self,
        mut prepared: Prepared,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        crate::audit::refuse_audit_write(self, "update", &prepared.resource_type)?;
        let (resource_type, id) = (prepared.resource_type.clone(), prepared.id.clone());
        let current = self.tx.current(&resource_type, &id)?;
        preconditions.check(current.as_ref(), &resource_type, &id)?;
        if current.is_none() && !self.service.config.allow_update_create {
            return Err(ServiceError::new(
                ServiceErrorKind::NotSupported,
                IssueType::NotSupported,
                format!(
                    "{resource_type}/{id} does not exist and this server does not create resources by update"
                ),
            ));
        }
        let live = current.as_ref().filter(|v| !v.meta.deleted);
        {
            let content = Content::object(&prepared.object);
            let action = if live.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            self.allow_write(action, &resource_type, &id, Some(&content), live)?;
        }
        let version_id = current.as_ref().map_or(1, |v| v.meta.version_id + 1);
        let created = live.is_none();
        let content = match (prepared.seen.take(), &current) {
            (Some(Seen::Absent { content }), None) => content,
            (Some(Seen::Same { version }), Some(current))
                if current.meta.version_id == version && !current.meta.deleted =>
            {
                return Ok(unchanged(current.clone()));
            }
            (
                Some(Seen::Differs {
                    version,
                    deleted,
                    content,
                }),
                Some(current),
            ) if current.meta.version_id == version && current.meta.deleted == deleted => content,
            _ => {
                if let Some(live) = live
                    && same_as(&prepared, live)?
                {
                    return Ok(unchanged(live.clone()));
                }
                next_text(&prepared, version_id - 1)?
            }
        };
        let version = self.put(NewVersion {
            resource_type,
            id,
            version_id,
            last_updated_micros: prepared.now,
            method: WriteMethod::Update,
            content,
            index: prepared.index,
        })?;
        Ok(WriteOutcome {
            version,
            created,
            unchanged: false,
            warnings: Vec::new(),
        })
    }

    /// Conditional update of `prepared` (see [`crate::decide`]): no match creates it under its
    /// id, one match updates that resource (unless the body names another id: 400), several
    /// fail.
    pub fn conditional_update(
        &mut self,
        prepared: Prepared,
        criteria: &str,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        let resource_type = prepared.resource_type.clone();
        let body_id = prepared.body_id.clone();
        match self.resolve_for(
            Conditional::Update,
            &resource_type,
            criteria,
            body_id.as_deref(),
        )? {
            Decision::Existing(found) => self.update(prepared.with_id(found), preconditions),
            Decision::Create | Decision::Nothing => self.update(prepared, preconditions),
        }
    }
}

impl Unit<'_> {
    /// `If-None-Match: *`: fails with `PreconditionFailed` when `resource_type/id` has a current
    /// (not deleted) version (which the caller must be allowed to read).
    pub fn refuse_existing(&mut self, resource_type: &str, id: &str) -> Result<(), ServiceError> {
        match self.read(resource_type, id)? {
            Some(version) if !version.meta.deleted => Err(ServiceError::new(
                ServiceErrorKind::PreconditionFailed,
                IssueType::Duplicate,
                format!(
                    "If-None-Match: * but {resource_type}/{id} exists (version {})",
                    version.meta.version_id
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn unchanged(version: StoredVersion) -> WriteOutcome {
    WriteOutcome {
        version,
        created: false,
        unchanged: true,
        warnings: Vec::new(),
    }
}

/// Whether `prepared` equals the live version `current` apart from `meta.versionId` and
/// `meta.lastUpdated`.
fn same_as(prepared: &Prepared, current: &StoredVersion) -> Result<bool, ServiceError> {
    let current_object: Map<String, Value> = serde_json::from_str(&current.content)
        .map_err(|e| ServiceError::internal(format!("stored content unreadable: {e}")))?;
    let candidate = meta::stamp(
        prepared.object.clone(),
        &prepared.id,
        current.meta.version_id,
        current.meta.last_updated_micros,
    );
    Ok(meta::same_content(&candidate, &current_object))
}

/// The stored text of the version after `previous` (0: the first).
fn next_text(prepared: &Prepared, previous: u64) -> Result<String, ServiceError> {
    let stamped = meta::stamp(
        prepared.object.clone(),
        &prepared.id,
        previous + 1,
        prepared.now,
    );
    to_text(&stamped)
}

/// A FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn check_id_syntax(id: &str) -> Result<(), ServiceError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            format!(
                "'{}' is not a valid FHIR id (1-64 characters of A-Z, a-z, 0-9, '-', '.')",
                id.chars().take(80).collect::<String>()
            ),
            "id",
        ))
    }
}
