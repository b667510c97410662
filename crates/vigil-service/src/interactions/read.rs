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
        let found = self.store.read(resource_type, id)?;
        if !self.read_visible(context, found.as_ref())? {
            return Err(crate::confine::unknown(resource_type, id));
        }
        let result = live(found, || crate::confine::unknown(resource_type, id));
        self.allow_read(context, Action::Read, resource_type, id, &result)?;
        result
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
