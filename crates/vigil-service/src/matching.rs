//! In-memory matching through the door: search criteria compiled once and tested against one
//! resource at a time (Subscriptions, CDS rules), with the same semantics as a search.
//!
//! [`FhirService::compile_criteria`] parses `Type?query` criteria with the service's search
//! engine (terminology modifiers resolved against the stored ValueSets now); unknown or
//! ignored parameters are refused rather than dropped, since a dropped filter would match more
//! than the caller asked for. [`FhirService::matches`] tests a resource, reading other
//! resources for chains and `_has` from committed data.

use crate::authz::{Access, Action};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind};
use serde_json::Value;
use vigil_model::IssueType;
use vigil_search::{CompiledQuery, StoreMatchContext};

impl FhirService {
    /// Compiles `criteria` (`Type` or `Type?query`) for [`FhirService::matches`]. The caller
    /// must be allowed to search the type. Unknown types, malformed values, unsupported
    /// modifiers and ignored parameters are `Invalid` errors naming the problem.
    pub fn compile_criteria(
        &self,
        context: &RequestContext,
        criteria: &str,
    ) -> Result<CompiledQuery, ServiceError> {
        let (resource_type, query) = criteria.split_once('?').unwrap_or((criteria, ""));
        let resource_type = resource_type.trim_start_matches('/');
        self.check_type(resource_type)?;
        self.allow(context, &Access::to_type(Action::Search, resource_type))?;
        let compiled = self
            .search
            .compile_criteria_in(self.store.as_ref(), resource_type, query)
            .map_err(|error| {
                let error = ServiceError::from(error);
                ServiceError::new(
                    ServiceErrorKind::Invalid,
                    IssueType::Invalid,
                    format!("criteria {criteria:?}: {error}"),
                )
            })?;
        if let Some(warning) = compiled.warnings().first() {
            return Err(ServiceError::new(
                ServiceErrorKind::Invalid,
                IssueType::NotSupported,
                format!(
                    "criteria {criteria:?}: parameter {} would be ignored: {}",
                    warning.parameter, warning.message
                ),
            ));
        }
        Ok(compiled)
    }

    /// Whether `resource` matches `compiled` exactly when a search would find it; chains and
    /// `_has` read committed resources.
    pub fn matches(
        &self,
        compiled: &CompiledQuery,
        resource: &Value,
    ) -> Result<bool, ServiceError> {
        let mut context = StoreMatchContext::new(&self.search, self.store.as_ref());
        Ok(compiled.matches(resource, &mut context)?)
    }
}
