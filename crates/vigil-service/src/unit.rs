//! The public unit of work: the one door every writer goes through.
//!
//! [`FhirService::unit`] runs a closure over a [`Unit`], one durable commit: every step
//! (create, update, patch, delete, their conditional forms, reads and conditional
//! resolution) asks the [`crate::Authorizer`] before it touches a resource, records what it
//! wrote for the [`crate::AuditHook`], and sees the unit's own earlier writes. An error from
//! the closure rolls the whole unit back. REST handlers, transaction and batch entries and
//! bulk import all write through here.

use crate::audit::{Records, WrittenVersion, write_records};
use crate::authz::{Access, Action, Content, forbidden};
use crate::{
    AuditRecord, FhirService, InboundMessage, RequestContext, ServiceError, ServiceErrorKind,
};
use std::sync::{Arc, Mutex};
use vigil_store::{
    ChangeContext, NewVersion, StoreError, StoreErrorKind, StoredVersion, Transaction,
};

/// One unit of work in progress (see the module documentation).
pub struct Unit<'a> {
    pub(crate) service: &'a FhirService,
    pub(crate) context: &'a RequestContext,
    pub(crate) tx: &'a mut dyn Transaction,
    written: Vec<WrittenVersion>,
    records: Records,
}

impl FhirService {
    /// Runs `work` as one durable unit of work for `context`: everything it writes commits
    /// together (with the audit hook's records) when it returns `Ok`, nothing when it fails.
    pub fn unit<T: Send>(
        &self,
        context: &RequestContext,
        work: impl FnOnce(&mut Unit<'_>) -> Result<T, ServiceError> + Send,
    ) -> Result<T, ServiceError> {
        let mut written: Vec<(String, String)> = Vec::new();
        let keys = &mut written;
        let result = self.run_unit_as(&crate::feed::change_context(context), |tx| {
            let mut unit = Unit {
                service: self,
                context,
                tx,
                written: Vec::new(),
                records: Records::default(),
            };
            let value = work(&mut unit)?;
            *keys = unit
                .written
                .iter()
                .map(|w| (w.resource_type.clone(), w.id.clone()))
                .collect();
            unit.finish()?;
            Ok(value)
        });
        // After the commit returned (its versions are what readers now fetch) and before the
        // caller acknowledges it: see the read cache's invalidation rule.
        for (resource_type, id) in &written {
            self.read_cache.invalidate(resource_type, id);
        }
        result
    }

    /// Runs `work` in the store's unit of work on behalf of `change` (the request id and agent
    /// its change events and audit records carry), carrying service errors out of the store.
    pub(crate) fn run_unit_as<T: Send>(
        &self,
        change: &ChangeContext,
        work: impl FnOnce(&mut dyn Transaction) -> Result<T, ServiceError> + Send,
    ) -> Result<T, ServiceError> {
        let failure: Arc<Mutex<Option<ServiceError>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&failure);
        let result = vigil_store::write_with_context(self.store.as_ref(), change, move |tx| {
            work(tx).map_err(|error| {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                StoreError::new(StoreErrorKind::Aborted, "aborted by the service")
            })
        });
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let carried = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(carried.unwrap_or_else(|| ServiceError::from(error)))
            }
        }
    }

    /// Asks the authorizer; a refusal is `Forbidden`.
    pub(crate) fn allow(
        &self,
        context: &RequestContext,
        access: &Access<'_>,
    ) -> Result<(), ServiceError> {
        // A write outside the compartment is a refusal like the authorizer's, audited as one
        // (another patient's resource answers as unknown: a not-found, audited by the caller).
        self.confine_access(context, access).map_err(|error| {
            if error.kind() == crate::ServiceErrorKind::Forbidden {
                self.audit_denied(context, access, error)
            } else {
                error
            }
        })?;
        self.authorizer
            .authorize(context, access)
            .map_err(|denied| self.audit_denied(context, access, forbidden(access, &denied)))
    }

    /// Whether the authorizer allows `action` on a stored version (for filtering the
    /// resources of a Bundle: a refused one is left out).
    pub(crate) fn allows_version(
        &self,
        context: &RequestContext,
        action: Action<'_>,
        version: &StoredVersion,
    ) -> bool {
        if !self.version_visible(context, version) {
            return false;
        }
        let content = Content::text(&version.content);
        let access =
            Access::to_resource(action, &version.resource_type, &version.id, Some(&content));
        self.authorizer.authorize(context, &access).is_ok()
    }
}

impl<'a> Unit<'a> {
    /// The request context the unit runs for.
    pub fn context(&self) -> &RequestContext {
        self.context
    }

    /// The current version of a resource as this unit sees it (a deletion marker included),
    /// `None` when it never existed. Asks the authorizer for [`Action::Read`].
    pub fn read(
        &mut self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredVersion>, ServiceError> {
        let current = self.tx.current(resource_type, id)?;
        if let Some(version) = current.as_ref().filter(|v| !v.meta.deleted) {
            let content = Content::text(&version.content);
            self.allow(&Access::to_resource(
                Action::Read,
                resource_type,
                id,
                Some(&content),
            ))?;
        }
        Ok(current)
    }

    /// Adds an audit record, committed with this unit.
    pub fn append_audit(&mut self, record: AuditRecord) {
        self.records.append_audit(record);
    }

    /// Adds an inbound-message record, committed with this unit.
    pub fn record_message(&mut self, message: InboundMessage) {
        self.records.record_message(message);
    }

    /// The inbound message recorded under (sender, control id), as this unit sees it: an
    /// ingest unit checks it first, so a re-sent message is never applied twice.
    pub fn inbound_message(
        &mut self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<InboundMessage>, ServiceError> {
        Ok(self.tx.inbound_message(sender, control_id)?)
    }

    /// The versions this unit wrote so far.
    pub fn written(&self) -> &[WrittenVersion] {
        &self.written
    }

    /// Asks the authorizer; a refusal is `Forbidden`.
    pub(crate) fn allow(&self, access: &Access<'_>) -> Result<(), ServiceError> {
        self.service.allow(self.context, access)
    }

    /// Asks the authorizer about a write of `new` over `previous` (the current version, if
    /// live).
    pub(crate) fn allow_write(
        &self,
        action: Action<'_>,
        resource_type: &str,
        id: &str,
        new: Option<&Content<'_>>,
        previous: Option<&StoredVersion>,
    ) -> Result<(), ServiceError> {
        let previous_content = previous
            .filter(|v| !v.meta.deleted)
            .map(|v| Content::text(&v.content));
        self.allow(&Access {
            action,
            resource_type,
            id: Some(id),
            resource: new,
            previous: previous_content.as_ref(),
        })
    }

    /// Writes a version, remembering it for the audit hook.
    pub(crate) fn put(&mut self, version: NewVersion) -> Result<StoredVersion, ServiceError> {
        let method = version.method;
        let patient = crate::audit::patient_in_index(&version);
        let stored = self.tx.put(version)?;
        self.written.push(WrittenVersion {
            resource_type: stored.resource_type.clone(),
            id: stored.id.clone(),
            version_id: stored.meta.version_id,
            method,
            patient,
        });
        Ok(stored)
    }

    /// The end of the unit: the audit hook's records, then every record to the store.
    fn finish(mut self) -> Result<(), ServiceError> {
        self.service
            .audit
            .on_commit(self.context, &self.written, &mut self.records)?;
        write_records(self.tx, &self.records)
    }
}

/// Errors after which a unit of work cannot be trusted (storage faults, conflicts): a caller
/// that reports entry errors one by one (batch, import) still fails the unit with these.
pub fn breaks_unit(error: &ServiceError) -> bool {
    matches!(
        error.kind(),
        ServiceErrorKind::Internal | ServiceErrorKind::Unavailable | ServiceErrorKind::Conflict
    )
}
