//! The SMART on FHIR access policy: [`SmartAuthorizer`] decides every [`Access`] from the
//! request's scopes (SMART App Launch v1 and v2), its principal and its roles.
//!
//! - Scope forms: v1 `patient/Observation.read`, `user/*.write`, `system/*.*`; v2
//!   `patient/Observation.rs`, `user/*.cruds`, `system/*.read` with the permissions in the
//!   order c, r, u, d, s; v2 search-parameter restrictions
//!   `patient/Observation.rs?category=vital-signs` (the resource must match the query, evaluated
//!   by the in-memory matcher with the semantics of search).
//! - Which scopes count: `patient/` scopes when the request has a patient in context (the door
//!   confines it to that compartment, see `confine.rs`), `user/` scopes for an authenticated
//!   user (a user whose FHIR resource is a Patient always has that patient in context, so
//!   its `user/` scopes reach only its own record), `system/` scopes for a client acting on
//!   its own behalf (backend services).
//! - Interactions to permissions: read, vread and history entries need `r` (v1 `read`);
//!   search needs `s` (v1 `read`); create `c`, update and patch `u`, delete `d` (v1 `write`);
//!   an operation (`$everything`, `$export`) needs `r` on each type it returns.
//! - AuditEvent: read and searched only by a user with the `auditor` role and a scope naming
//!   it, or by a backend service whose scopes name AuditEvent itself (`system/AuditEvent.rs`,
//!   a wildcard does not count); never written through the API.
//! - Subscription: created, updated or patched only by users with the `admin` role or
//!   backend services (its notifications carry whatever matches, to any endpoint).
//! - Development and local system principals (`--dev`, `vigil import`, ingest, CDS) are
//!   allowed everything: they are not network callers with tokens.

use crate::authz::{Access, Action, Authorizer, Denied};
use crate::care::CarePolicy;
use crate::{Principal, RequestContext};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vigil_search::{CompiledQuery, NoContext, SearchEngine};
use vigil_store::Store;

/// Who a scope is for: `patient/`, `user/` or `system/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeContext {
    /// `patient/`: the patient in context.
    Patient,
    /// `user/`: what the user may access.
    User,
    /// `system/`: a backend service.
    System,
}

/// One parsed resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    /// `patient/`, `user/` or `system/`.
    pub context: ScopeContext,
    /// The resource type, `None` for `*`.
    pub resource_type: Option<String>,
    /// Permissions granted, as v2 letters (`c`, `r`, `u`, `d`, `s`).
    pub create: bool,
    /// `r`
    pub read: bool,
    /// `u`
    pub update: bool,
    /// `d`
    pub delete: bool,
    /// `s`
    pub search: bool,
    /// A v2 search-parameter restriction (`category=vital-signs`), as written.
    pub restriction: Option<String>,
}

impl ResourceScope {
    /// Parses one scope; `None` for scopes that are not resource scopes (`openid`, `launch`,
    /// `offline_access`, ...) or are malformed (a malformed scope grants nothing).
    pub fn parse(scope: &str) -> Option<ResourceScope> {
        let (context, rest) = scope.split_once('/')?;
        let context = match context {
            "patient" => ScopeContext::Patient,
            "user" => ScopeContext::User,
            "system" => ScopeContext::System,
            _ => return None,
        };
        let (rest, restriction) = match rest.split_once('?') {
            Some((rest, query)) if !query.is_empty() => (rest, Some(query.to_owned())),
            Some(_) => return None,
            None => (rest, None),
        };
        let (resource_type, permissions) = rest.split_once('.')?;
        let resource_type = match resource_type {
            "*" => None,
            name if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Some(name.to_owned())
            }
            _ => return None,
        };
        let mut parsed = ResourceScope {
            context,
            resource_type,
            create: false,
            read: false,
            update: false,
            delete: false,
            search: false,
            restriction,
        };
        match permissions {
            // SMART v1.
            "read" => {
                parsed.read = true;
                parsed.search = true;
            }
            "write" => {
                parsed.create = true;
                parsed.update = true;
                parsed.delete = true;
            }
            "*" => {
                parsed.create = true;
                parsed.read = true;
                parsed.update = true;
                parsed.delete = true;
                parsed.search = true;
            }
            // SMART v2: a non-empty subsequence of "cruds", in that order.
            letters => {
                let mut order = "cruds".chars();
                for letter in letters.chars() {
                    if !order.by_ref().any(|c| c == letter) {
                        return None;
                    }
                    match letter {
                        'c' => parsed.create = true,
                        'r' => parsed.read = true,
                        'u' => parsed.update = true,
                        'd' => parsed.delete = true,
                        _ => parsed.search = true,
                    }
                }
                if letters.is_empty() {
                    return None;
                }
            }
        }
        if parsed.restriction.is_some() && (parsed.create || parsed.update || parsed.delete) {
            // A restriction is defined for read and search; on writes it is not meaningful.
            return None;
        }
        Some(parsed)
    }

    fn covers_type(&self, resource_type: &str) -> bool {
        self.resource_type
            .as_deref()
            .is_none_or(|own| own == resource_type)
    }

    fn permits(&self, action: Action<'_>) -> bool {
        match action {
            Action::Read | Action::VRead | Action::History | Action::Operation(_) => self.read,
            Action::Search => self.search,
            Action::Create => self.create,
            Action::Update | Action::Patch => self.update,
            Action::Delete => self.delete,
        }
    }
}

/// The SMART policy (see the module).
pub struct SmartAuthorizer {
    search: Arc<SearchEngine>,
    care: CarePolicy,
    /// Compiled v2 restrictions by `Type?query` (bounded: cleared when full).
    restrictions: Mutex<HashMap<String, Arc<CompiledQuery>>>,
}

/// Most compiled restrictions kept.
const MAX_RESTRICTIONS: usize = 1024;

impl SmartAuthorizer {
    /// The policy, evaluating v2 restrictions with `search`'s registry and looking up
    /// Consents and care relationships in `store`.
    pub fn new(search: Arc<SearchEngine>, store: Arc<dyn Store>) -> Self {
        SmartAuthorizer {
            care: CarePolicy::new(search.clone(), store),
            search,
            restrictions: Mutex::new(HashMap::new()),
        }
    }

    /// Whether scopes of `kind` count for `context`: `patient/` with a patient in context,
    /// `user/` for a user (confined too when a patient is in context), `system/` for a
    /// client on its own behalf.
    fn counts(context: &RequestContext, kind: ScopeContext) -> bool {
        match kind {
            ScopeContext::Patient => context.patient.is_some(),
            ScopeContext::User => matches!(context.principal, Principal::User { .. }),
            ScopeContext::System => {
                matches!(context.principal, Principal::Client { .. }) && context.patient.is_none()
            }
        }
    }

    /// Whether the resource at stake satisfies a v2 restriction (`false` when it cannot be
    /// evaluated: a restriction grants only what it can show).
    fn satisfies(&self, resource_type: &str, query: &str, access: &Access<'_>) -> bool {
        let Some(resource) = access.resource.and_then(|content| content.get()) else {
            // A type-level ask: the search runs, each returned resource is checked.
            return access.id.is_none();
        };
        let key = format!("{resource_type}?{query}");
        let compiled = {
            let mut cache = self
                .restrictions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(compiled) = cache.get(&key) {
                Some(compiled.clone())
            } else {
                match self.search.compile_criteria(resource_type, query) {
                    Ok(compiled) => {
                        if cache.len() >= MAX_RESTRICTIONS {
                            cache.clear();
                        }
                        let compiled = Arc::new(compiled);
                        cache.insert(key, compiled.clone());
                        Some(compiled)
                    }
                    Err(error) => {
                        tracing::info!(%error, resource_type, "a scope restriction cannot be evaluated");
                        None
                    }
                }
            }
        };
        compiled.is_some_and(|compiled| compiled.matches(resource, &mut NoContext).unwrap_or(false))
    }
}

impl SmartAuthorizer {
    /// Consent and care relationships, for a resource of a patient's compartment (see
    /// `care.rs`): the content at stake (new or replaced) decides; a type-level ask passes (each
    /// returned resource is asked again).
    fn beyond_scopes(&self, context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        let Some(id) = access.id else {
            return Ok(());
        };
        if !self.care.applies_to(context) {
            // No practitioner and no Consent anywhere: nothing to look at.
            return Ok(());
        }
        for content in [access.resource, access.previous].into_iter().flatten() {
            let Some(resource) = content.get() else {
                continue;
            };
            let patients =
                crate::jobs::patient_compartments(&self.search, access.resource_type, id, resource)
                    .map_err(|_| Denied::new("the resource's patients cannot be determined"))?;
            if !patients.is_empty() {
                self.care
                    .check(context, access.resource_type, resource, &patients)?;
            }
        }
        Ok(())
    }
}

impl Authorizer for SmartAuthorizer {
    fn authorize(&self, context: &RequestContext, access: &Access<'_>) -> Result<(), Denied> {
        if matches!(
            access.action,
            Action::Create | Action::Update | Action::Patch | Action::Delete
        ) {
            // Whoever writes (local tools included): cached consent and care answers about
            // this type are dropped.
            self.care.note_write(access.resource_type);
        }
        match context.principal {
            Principal::Developer | Principal::System(_) => return Ok(()),
            _ => {}
        }
        let resource_type = access.resource_type;
        if resource_type == "AuditEvent" {
            let reads = matches!(
                access.action,
                Action::Read | Action::VRead | Action::Search | Action::History
            );
            // Auditors: users with the `auditor` role, or a backend service (a SIEM) whose
            // registered scopes name AuditEvent itself (a wildcard does not count).
            let auditor = match context.principal {
                Principal::User { .. } => context.roles.iter().any(|role| role == "auditor"),
                Principal::Client { .. } => context
                    .scopes
                    .iter()
                    .filter_map(|scope| ResourceScope::parse(scope))
                    .any(|scope| scope.resource_type.as_deref() == Some("AuditEvent")),
                _ => false,
            };
            if !reads || !auditor {
                return Err(Denied::new("AuditEvent is for auditors, read only"));
            }
        }
        if resource_type == "Subscription"
            && matches!(
                access.action,
                Action::Create | Action::Update | Action::Patch
            )
        {
            // Notifications are delivered with the server's authority (every matching
            // resource, to any endpoint): only administrators and backend services on their
            // own behalf may set one up.
            let trusted = match context.principal {
                Principal::User { .. } => context.roles.iter().any(|role| role == "admin"),
                Principal::Client { .. } => context.patient.is_none(),
                _ => false,
            };
            if !trusted {
                return Err(Denied::new(
                    "Subscriptions are set up by administrators and backend services only",
                ));
            }
        }
        // For a write, the v1/v2 permission decides; for reads, one scope without a
        // restriction or one whose restriction the resource satisfies.
        let mut granted_by_restriction = false;
        for scope in context
            .scopes
            .iter()
            .filter_map(|s| ResourceScope::parse(s))
        {
            if !Self::counts(context, scope.context)
                || !scope.covers_type(resource_type)
                || !scope.permits(access.action)
            {
                continue;
            }
            match &scope.restriction {
                None => return self.beyond_scopes(context, access),
                Some(query) => {
                    if !granted_by_restriction && self.satisfies(resource_type, query, access) {
                        granted_by_restriction = true;
                    }
                }
            }
        }
        if granted_by_restriction {
            self.beyond_scopes(context, access)
        } else {
            Err(Denied::new(format!(
                "no granted scope allows {} on {resource_type}",
                access.action.name()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_in_both_versions() {
        let v1 = ResourceScope::parse("patient/Observation.read").unwrap();
        assert!(v1.read && v1.search && !v1.create && !v1.update && !v1.delete);
        assert_eq!(v1.context, ScopeContext::Patient);
        let v1w = ResourceScope::parse("user/*.write").unwrap();
        assert!(v1w.create && v1w.update && v1w.delete && !v1w.read);
        assert_eq!(v1w.resource_type, None);
        let v2 = ResourceScope::parse("user/*.cruds").unwrap();
        assert!(v2.create && v2.read && v2.update && v2.delete && v2.search);
        let rs = ResourceScope::parse("patient/Observation.rs?category=vital-signs").unwrap();
        assert!(rs.read && rs.search && !rs.create);
        assert_eq!(rs.restriction.as_deref(), Some("category=vital-signs"));
        let system = ResourceScope::parse("system/*.read").unwrap();
        assert_eq!(system.context, ScopeContext::System);
        for bad in [
            "openid",
            "launch/patient",
            "fhirUser",
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.",
            "patient/.rs",
            "nurse/Observation.rs",
            "patient/Obs-ervation.rs",
            "patient/Observation.cu?category=x",
            "patient/Observation.rs?",
        ] {
            assert_eq!(ResourceScope::parse(bad), None, "{bad}");
        }
    }
}
