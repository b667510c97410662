//! What a search asks of the authorizer before it runs: [`Action::Search`] on every type it
//! can return or look into, the searched types, the types reached by chained parameters
//! (`subject:Patient.name`, `subject.name` through the parameter's target types) and by
//! `_has`, and the types `_include`/`_revinclude` add. Each resource returned is then asked
//! for [`Action::Read`] on its own (see `search.rs`), and the includes of refused matches are
//! left out with them ([`linked_includes`]).

use crate::authz::{Access, Action};
use crate::bundle::for_each_reference;
use crate::{FhirService, RequestContext, ServiceError};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use vigil_search::{SearchRequest, SearchScope};
use vigil_store::StoredVersion;

impl FhirService {
    /// Asks for a type-level search of every type `request` reaches; the first refusal is
    /// `Forbidden`.
    pub(crate) fn allow_search(
        &self,
        context: &RequestContext,
        request: &SearchRequest,
    ) -> Result<(), ServiceError> {
        for resource_type in self.searched_types(request) {
            self.allow(context, &Access::to_type(Action::Search, &resource_type))?;
        }
        Ok(())
    }

    /// A system search without `_type` reads every type: it is narrowed to the types the
    /// caller may search ([`FhirService::allowed_types`]), so one refused type does not refuse
    /// the whole search.
    pub(crate) fn narrow_system_search(
        &self,
        context: &RequestContext,
        request: &mut SearchRequest,
    ) -> Result<(), ServiceError> {
        let SearchScope::System(types) = &request.scope else {
            return Ok(());
        };
        if !types.is_empty() {
            return Ok(());
        }
        let mut every: Vec<String> = vigil_model::schema::r4()
            .resource_types()
            .map(str::to_owned)
            .collect();
        every.sort_unstable();
        let allowed = self.allowed_types(context, Action::Search, every)?;
        request.scope = SearchScope::System(allowed);
        Ok(())
    }

    /// The types of `types` the caller may act on at the type level, for a request that
    /// named none (a system search or export without `_type`). The types left out are not
    /// refusals of the request, so they are neither audited nor logged one by one; when none
    /// is allowed, the first type's refusal is the answer (audited as such).
    pub fn allowed_types(
        &self,
        context: &RequestContext,
        action: Action<'_>,
        types: Vec<String>,
    ) -> Result<Vec<String>, ServiceError> {
        let first = types.first().cloned();
        let allowed: Vec<String> = types
            .into_iter()
            .filter(|resource_type| {
                self.confine_access(context, &Access::to_type(action, resource_type))
                    .is_ok()
                    && self
                        .authorizer
                        .authorize(context, &Access::to_type(action, resource_type))
                        .is_ok()
            })
            .collect();
        if !allowed.is_empty() {
            return Ok(allowed);
        }
        // None allowed: never an empty list (a system search over no type lists every type).
        let first = first.unwrap_or_default();
        let access = Access::to_type(action, &first);
        self.allow(context, &access)?;
        Err(crate::authz::forbidden(
            &access,
            &crate::authz::Denied::new("no type is allowed"),
        ))
    }

    /// The types a search reads: the scope's, then chains, `_has` and includes.
    pub(crate) fn searched_types(&self, request: &SearchRequest) -> BTreeSet<String> {
        let mut types = BTreeSet::new();
        let scope_types: Vec<&str> = match &request.scope {
            SearchScope::Type(resource_type) => vec![resource_type.as_str()],
            SearchScope::Compartment { resource_type, .. } => vec![resource_type.as_str()],
            SearchScope::System(list) => list.iter().map(String::as_str).collect(),
        };
        for resource_type in &scope_types {
            types.insert((*resource_type).to_owned());
            for (name, _) in &request.filters {
                self.reached_types(resource_type, name, 0, &mut types);
            }
        }
        let registry = self.search.registry();
        for include in &request.include {
            let sources: Vec<&str> = if include.source_type == "*" {
                scope_types.clone()
            } else {
                vec![include.source_type.as_str()]
            };
            for source in sources {
                types.extend(self.targets(source, &include.param, include.target_type.as_deref()));
            }
        }
        for include in &request.revinclude {
            if include.source_type != "*" && registry.is_resource_type(&include.source_type) {
                types.insert(include.source_type.clone());
            }
        }
        types
    }

    /// Adds the types the filter `name` on `resource_type` looks into.
    fn reached_types(
        &self,
        resource_type: &str,
        name: &str,
        depth: usize,
        types: &mut BTreeSet<String>,
    ) {
        // Chains are bounded by the search engine; this only guards against a crafted name.
        if depth > 8 {
            return;
        }
        if let Some(rest) = name.strip_prefix("_has:") {
            let mut parts = rest.splitn(3, ':');
            if let (Some(source), Some(_param), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
                && self.search.registry().is_resource_type(source)
            {
                types.insert(source.to_owned());
                self.reached_types(source, rest, depth + 1, types);
            }
            return;
        }
        let Some((link, rest)) = name.split_once('.') else {
            return;
        };
        let (code, modifier) = match link.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (link, None),
        };
        for target in self.targets(resource_type, code, modifier) {
            self.reached_types(&target, rest, depth + 1, types);
            types.insert(target);
        }
    }

    /// The types a reference parameter can point to (just `explicit` when given and known).
    fn targets(&self, resource_type: &str, code: &str, explicit: Option<&str>) -> Vec<String> {
        let registry = self.search.registry();
        if let Some(target) = explicit {
            return if registry.is_resource_type(target) {
                vec![target.to_owned()]
            } else {
                Vec::new()
            };
        }
        if code == "*" {
            return registry
                .parameters(resource_type)
                .flat_map(|p| p.def.target.iter().cloned())
                .collect();
        }
        registry
            .get(resource_type, code)
            .map(|p| p.def.target.clone())
            .unwrap_or_default()
    }
}

/// The included resources still linked to what the caller may see, once refused matches are
/// left out: those a kept resource refers to or that refer to a kept resource, transitively
/// (for `:iterate`). Run only when a match was refused, so an allow-all search pays nothing.
pub(crate) fn linked_includes(
    matches: &[StoredVersion],
    included: Vec<StoredVersion>,
) -> Vec<StoredVersion> {
    let mut kept: HashSet<String> = matches.iter().map(key).collect();
    let mut refers: HashSet<String> = matches.iter().flat_map(references).collect();
    let outgoing: Vec<HashSet<String>> = included.iter().map(references).collect();
    let mut linked = vec![false; included.len()];
    loop {
        let mut changed = false;
        for (index, version) in included.iter().enumerate() {
            if linked[index] {
                continue;
            }
            let name = key(version);
            if refers.contains(&name) || outgoing[index].iter().any(|r| kept.contains(r)) {
                linked[index] = true;
                changed = true;
                kept.insert(name);
                refers.extend(outgoing[index].iter().cloned());
            }
        }
        if !changed {
            break;
        }
    }
    included
        .into_iter()
        .zip(linked)
        .filter_map(|(version, linked)| linked.then_some(version))
        .collect()
}

fn key(version: &StoredVersion) -> String {
    format!("{}/{}", version.resource_type, version.id)
}

/// `Type/id` of every reference of a stored resource (absolute URLs by their last two
/// segments).
fn references(version: &StoredVersion) -> HashSet<String> {
    let mut found = HashSet::new();
    let Ok(mut resource) = serde_json::from_str::<Value>(&version.content) else {
        return found;
    };
    let _ = for_each_reference(&mut resource, &mut |reference| {
        // A versioned reference (`Type/id/_history/3`, also absolute) names the resource.
        let reference = match reference.rsplit_once("/_history/") {
            Some((resource, version)) if !version.contains('/') => resource,
            _ => reference,
        };
        let mut parts = reference.rsplit('/');
        if let (Some(id), Some(resource_type)) = (parts.next(), parts.next()) {
            found.insert(format!("{resource_type}/{id}"));
        }
        Ok(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::{StoredVersion, VersionMeta, WriteMethod};

    fn version(resource_type: &str, id: &str, refers_to: &[&str]) -> StoredVersion {
        let refs: Vec<Value> = refers_to
            .iter()
            .map(|r| serde_json::json!({"reference": r}))
            .collect();
        let content = serde_json::json!({"resourceType": resource_type, "id": id, "link": refs});
        StoredVersion {
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            seq: 0,
            meta: VersionMeta {
                version_id: 1,
                last_updated_micros: 0,
                deleted: false,
                method: WriteMethod::Create,
            },
            content: content.to_string().into(),
        }
    }

    #[test]
    fn includes_of_refused_matches_are_left_out() {
        let kept = [version("Observation", "o2", &["Patient/p2"])];
        let included = vec![
            version("Patient", "p1", &["Organization/x"]),
            version("Patient", "p2", &["Organization/y"]),
            // Reached from p2 by an iterated include.
            version("Organization", "y", &[]),
            version("Organization", "x", &[]),
            // A revinclude of the kept match.
            version("Provenance", "v", &["http://h/fhir/Observation/o2"]),
            // One naming a version of it.
            version("Provenance", "w", &["Observation/o2/_history/1"]),
        ];
        let names: Vec<String> = linked_includes(&kept, included).iter().map(key).collect();
        assert_eq!(
            names,
            [
                "Patient/p2",
                "Organization/y",
                "Provenance/v",
                "Provenance/w"
            ]
        );
    }
}
