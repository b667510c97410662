//! update (`PUT [type]/[id]`), update-as-create, and conditional update (`PUT [type]?criteria`).

use super::{Preconditions, Prepared, WriteOutcome, multiple_matches, to_text};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind, meta};
use serde_json::{Map, Value};
use vigil_model::IssueType;
use vigil_store::{NewVersion, Transaction, WriteMethod};

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
    /// it is created again). The check and the write happen in one unit of work.
    pub fn update_if_absent(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        body: Value,
    ) -> Result<WriteOutcome, ServiceError> {
        self.update_checked(
            context,
            resource_type,
            id,
            body,
            &Preconditions::default(),
            true,
        )
    }

    fn update_checked(
        &self,
        _context: &RequestContext,
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
        let outcome = self.run_unit(|tx| {
            if if_absent {
                refuse_existing(tx, resource_type, id)?;
            }
            self.update_in(tx, prepared, preconditions)
        })?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }

    /// Conditional update: `criteria` selects the resource to update. No match creates it (with
    /// the body's id when it has one), one match updates it, several fail. Matching and writing
    /// happen in one unit of work.
    pub fn conditional_update(
        &self,
        _context: &RequestContext,
        resource_type: &str,
        criteria: &str,
        body: Value,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        self.check_type(resource_type)?;
        let (object, warnings) = self.validate_body(resource_type, body)?;
        let body_id = object.get("id").and_then(Value::as_str).map(str::to_owned);
        if let Some(body_id) = &body_id {
            check_id_syntax(body_id)?;
        }
        // Index rows do not depend on the id, so they are extracted before the unit of work with
        // a provisional one.
        let provisional = body_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let prepared = self.prepare(resource_type, &provisional, object)?;
        let outcome = self.run_unit(|tx| {
            let id = match (self.conditional_matches_in(tx, resource_type, criteria)?.as_slice(), body_id) {
                ([], Some(body_id)) => body_id,
                ([], None) => provisional,
                ([found], Some(body_id)) if *found != body_id => {
                    return Err(ServiceError::invalid(
                        format!("the id in the body ('{body_id}') differs from the matching resource's id ('{found}')"),
                        &format!("{resource_type}.id"),
                    ));
                }
                ([found], _) => found.clone(),
                _ => return Err(multiple_matches(resource_type, criteria)),
            };
            self.update_in(tx, Prepared { id, ..prepared }, preconditions)
        })?;
        Ok(WriteOutcome {
            warnings,
            ..outcome
        })
    }

    /// The update step inside a unit of work: If-Match, update-as-create, no-op detection,
    /// the new version with its index rows.
    pub(crate) fn update_in(
        &self,
        tx: &mut dyn Transaction,
        prepared: Prepared,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ServiceError> {
        let (resource_type, id) = (prepared.resource_type.as_str(), prepared.id.as_str());
        let current = tx.current(resource_type, id)?;
        let live = current.as_ref().filter(|v| !v.meta.deleted);
        preconditions.check(current.as_ref(), resource_type, id)?;
        if current.is_none() && !self.config.allow_update_create {
            return Err(ServiceError::new(
                ServiceErrorKind::NotSupported,
                IssueType::NotSupported,
                format!(
                    "{resource_type}/{id} does not exist and this server does not create resources by update"
                ),
            ));
        }
        if let Some(live) = live {
            let current_object: Map<String, Value> = serde_json::from_str(&live.content)
                .map_err(|e| ServiceError::internal(format!("stored content unreadable: {e}")))?;
            let candidate = meta::stamp(
                prepared.object.clone(),
                id,
                live.meta.version_id,
                live.meta.last_updated_micros,
            );
            if meta::same_content(&candidate, &current_object) {
                return Ok(WriteOutcome {
                    version: live.clone(),
                    created: false,
                    unchanged: true,
                    warnings: Vec::new(),
                });
            }
        }
        let version_id = current.as_ref().map_or(1, |v| v.meta.version_id + 1);
        let created = live.is_none();
        let stamped = Value::Object(meta::stamp(prepared.object, id, version_id, prepared.now));
        let version = tx.put(NewVersion {
            resource_type: prepared.resource_type.clone(),
            id: prepared.id.clone(),
            version_id,
            last_updated_micros: prepared.now,
            method: WriteMethod::Update,
            content: to_text(&stamped)?,
            index: prepared.index,
        })?;
        Ok(WriteOutcome {
            version,
            created,
            unchanged: false,
            warnings: Vec::new(),
        })
    }
}
/// `If-None-Match: *`: fails with `PreconditionFailed` when `resource_type/id` has a current
/// (not deleted) version.
pub(crate) fn refuse_existing(
    tx: &mut dyn Transaction,
    resource_type: &str,
    id: &str,
) -> Result<(), ServiceError> {
    match tx.current(resource_type, id)? {
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

/// A FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub(crate) fn check_id_syntax(id: &str) -> Result<(), ServiceError> {
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
