//! read (`GET [type]/[id]`) and vread (`GET [type]/[id]/_history/[vid]`).

use super::ReadResult;
use crate::authz::{Access, Action, Content};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind};
use vigil_model::IssueType;
use vigil_store::StoredVersion;

impl FhirService {
    /// The current version of a resource; `Gone` when it was deleted, `NotFound` when it never
    /// existed.
    pub(crate) fn read_unaudited(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
    ) -> Result<ReadResult, ServiceError> {
        self.check_type(resource_type)?;
        let found = self.current_version(resource_type, id)?;
        self.checked_read(context, resource_type, id, found)
    }

    /// [`FhirService::read_unaudited`] when the read cache holds the resource and no check
    /// for other writers is due: no store access for the resource itself. `None` otherwise.
    pub(crate) fn read_cached_unaudited(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
    ) -> Option<Result<ReadResult, ServiceError>> {
        let cache = &self.read_cache;
        if !cache.enabled() || cache.check_due() || self.check_type(resource_type).is_err() {
            return None;
        }
        let version = cache.get(resource_type, id)?;
        Some(self.checked_read(context, resource_type, id, Some(version)))
    }

    /// The checks of a read on what was found: confinement, deletion, the authorizer.
    fn checked_read(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        found: Option<StoredVersion>,
    ) -> Result<ReadResult, ServiceError> {
        if !self.read_visible(context, found.as_ref())? {
            return Err(crate::confine::unknown(resource_type, id));
        }
        let result = live(found, || crate::confine::unknown(resource_type, id));
        self.allow_read(context, Action::Read, resource_type, id, &result)?;
        result
    }

    /// The current version from the read cache, or from the store (then cached). The door's
    /// checks run on it as on any stored version.
    fn current_version(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredVersion>, ServiceError> {
        let cache = &self.read_cache;
        if !cache.enabled() {
            return Ok(self.store.read(resource_type, id)?);
        }
        cache.check_external(self.store.as_ref());
        if let Some(version) = cache.get(resource_type, id) {
            return Ok(Some(version));
        }
        // Noted before the fetch: a commit invalidating this resource after it wins.
        let ticket = cache.begin();
        let found = self.store.read(resource_type, id)?;
        if let Some(version) = &found {
            cache.insert(ticket, version);
        }
        Ok(found)
    }

    /// One version of a resource; `Gone` when that version is a deletion marker.
    pub(crate) fn vread_unaudited(
        &self,
        context: &RequestContext,
        resource_type: &str,
        id: &str,
        version_id: &str,
    ) -> Result<ReadResult, ServiceError> {
        self.check_type(resource_type)?;
        let Ok(number) = version_id.parse::<u64>() else {
            return Err(ServiceError::not_found(format!(
                "{resource_type}/{id} has no version '{version_id}'"
            )));
        };
        let found = self.store.vread(resource_type, id, number)?;
        let missing =
            || ServiceError::not_found(format!("{resource_type}/{id} has no version {number}"));
        if !self.read_visible(context, found.as_ref())? {
            return Err(missing());
        }
        let result = live(found, missing);
        self.allow_read(context, Action::VRead, resource_type, id, &result)?;
        result
    }

    /// Asks the authorizer about a read: with the content when found, without it when the
    /// resource is unknown or deleted (so a refused caller learns nothing of its existence).
    fn allow_read(
        &self,
        context: &RequestContext,
        action: Action<'_>,
        resource_type: &str,
        id: &str,
        result: &Result<ReadResult, ServiceError>,
    ) -> Result<(), ServiceError> {
        let content = result
            .as_ref()
            .ok()
            .map(|found| Content::text(&found.version.content));
        self.allow(
            context,
            &Access::to_resource(action, resource_type, id, content.as_ref()),
        )
    }
}

fn live(
    found: Option<StoredVersion>,
    missing: impl FnOnce() -> ServiceError,
) -> Result<ReadResult, ServiceError> {
    match found {
        None => Err(missing()),
        Some(version) if version.meta.deleted => Err(ServiceError::new(
            ServiceErrorKind::Gone,
            IssueType::Deleted,
            format!(
                "{}/{} was deleted (version {})",
                version.resource_type, version.id, version.meta.version_id
            ),
        )),
        Some(version) => Ok(ReadResult { version }),
    }
}
