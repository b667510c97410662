//! Patient-context confinement, a rule of the door whatever the [`crate::Authorizer`]: a
//! request whose context names a patient ([`RequestContext::patient`], a SMART patient-context
//! token) sees and writes only that patient's compartment, as the R4 CompartmentDefinition
//! `Patient` defines it.
//!
//! - Searches, conditional criteria and `_typeFilter`s are confined in the query
//!   ([`vigil_search::Confinement`]): the searched resources and everything a chain or `_has`
//!   looks into must be in the compartment.
//! - Every resource the service reads, returns or replaces is checked here before the
//!   authorizer is asked ([`FhirService::allow`], [`FhirService::allows_version`]): another
//!   patient's resource answers exactly as an unknown id does (404, the same text), and is left
//!   out of every Bundle (includes, history, `$everything`, export).
//! - New content must be in the compartment: writing a resource about another patient is 403.
//! - Types outside the compartment (Medication, Organization, Practitioner, ...) hold no
//!   patient's data and are not confined; the authorizer's scopes still apply.

use crate::authz::{Access, Action, Content};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind};
use vigil_model::IssueType;
use vigil_search::Confinement;
use vigil_store::StoredVersion;

/// The compartment a request is confined to: its patient in context, if any.
pub(crate) fn confinement(context: &RequestContext) -> Option<Confinement> {
    let patient = context.patient.as_deref()?;
    let id = patient.strip_prefix("Patient/").unwrap_or(patient);
    Some(Confinement::new("Patient", id))
}

/// The answer for a resource the caller may not know of: the same as for an unknown id.
pub(crate) fn unknown(resource_type: &str, id: &str) -> ServiceError {
    ServiceError::not_found(format!("{resource_type}/{id} is not known"))
}

impl FhirService {
    /// Checks one access against the patient in context (see the module): `NotFound` for
    /// another patient's resource, `Forbidden` for new content outside the compartment.
    pub(crate) fn confine_access(
        &self,
        context: &RequestContext,
        access: &Access<'_>,
    ) -> Result<(), ServiceError> {
        let Some(confinement) = confinement(context) else {
            return Ok(());
        };
        // Type-level asks: the query itself is confined.
        let Some(id) = access.id else {
            return Ok(());
        };
        if !confinement.confines(access.resource_type) {
            return Ok(());
        }
        if let Some(previous) = access.previous
            && !self.in_compartment(&confinement, access.resource_type, id, previous)
        {
            return Err(unknown(access.resource_type, id));
        }
        if let Some(resource) = access.resource
            && !self.in_compartment(&confinement, access.resource_type, id, resource)
        {
            return Err(match access.action {
                Action::Create | Action::Update | Action::Patch => ServiceError::new(
                    ServiceErrorKind::Forbidden,
                    IssueType::Forbidden,
                    format!(
                        "a {} in context may only write resources of its own compartment",
                        confinement.compartment
                    ),
                ),
                _ => unknown(access.resource_type, id),
            });
        }
        Ok(())
    }

    /// Whether a stored version may be shown to the caller under its confinement (a deletion
    /// marker of a confined type never is: it shows no compartment).
    pub(crate) fn version_visible(
        &self,
        context: &RequestContext,
        version: &StoredVersion,
    ) -> bool {
        let Some(confinement) = confinement(context) else {
            return true;
        };
        if !confinement.confines(&version.resource_type) {
            return true;
        }
        !version.meta.deleted
            && self.in_compartment(
                &confinement,
                &version.resource_type,
                &version.id,
                &Content::text(&version.content),
            )
    }

    /// For a read or vread of `found`: whether the caller may learn of it. A deletion marker
    /// is judged by the version before it, so a patient's own deleted resource still answers
    /// 410 while another patient's answers 404.
    pub(crate) fn read_visible(
        &self,
        context: &RequestContext,
        found: Option<&StoredVersion>,
    ) -> Result<bool, ServiceError> {
        let Some(version) = found else {
            return Ok(true);
        };
        let Some(confinement) = confinement(context) else {
            return Ok(true);
        };
        if !confinement.confines(&version.resource_type) {
            return Ok(true);
        }
        if !version.meta.deleted {
            return Ok(self.version_visible(context, version));
        }
        let before = match version.meta.version_id.checked_sub(1) {
            Some(number) if number > 0 => {
                self.store
                    .vread(&version.resource_type, &version.id, number)?
            }
            _ => None,
        };
        Ok(before.is_some_and(|before| self.version_visible(context, &before)))
    }

    fn in_compartment(
        &self,
        confinement: &Confinement,
        resource_type: &str,
        id: &str,
        content: &Content<'_>,
    ) -> bool {
        if resource_type == confinement.compartment {
            return id == confinement.id;
        }
        let Some(resource) = content.get() else {
            return false;
        };
        match self.patient_compartments(resource_type, id, resource) {
            Ok(patients) => patients.contains(&confinement.id),
            Err(error) => {
                tracing::warn!(%error, resource_type, "cannot extract compartment references");
                false
            }
        }
    }
}
