//! search: `GET [type]?...`, `POST [type]/_search`, system search `GET /?_type=...` and
//! compartment search `GET /Patient/123/Observation?...`, answered as a `searchset` Bundle.
//!
//! `vigil-search` parses, compiles and runs the query; this module turns its result into the
//! Bundle: `search.mode` match/include, an OperationOutcome entry for ignored parameters,
//! `self`/`next`/`previous` links carrying an opaque cursor, `total` when computed, and
//! `_summary`/`_elements` applied to each matched resource.

use crate::authz::Action;
use crate::{FhirService, RequestContext, ServiceError, format_instant, now_micros};
use serde_json::{Map, Value, json};
use vigil_model::elements::SummaryMode as ModelSummary;
use vigil_model::{Issue, IssueType, Severity};
use vigil_search::{SearchRequest, SearchScope, SummaryMode};
use vigil_store::StoredVersion;

impl FhirService {
    /// Runs a search. `pairs` are the query parameters as sent (GET query or POST form body);
    /// `strict` is `Prefer: handling=strict` (unknown parameters are errors, not warnings).
    pub(crate) fn search_unaudited(
        &self,
        context: &RequestContext,
        scope: SearchScope,
        pairs: Vec<(String, String)>,
        strict: bool,
    ) -> Result<Value, ServiceError> {
        match &scope {
            SearchScope::Type(resource_type) => self.check_type(resource_type)?,
            SearchScope::Compartment {
                compartment,
                resource_type,
                ..
            } => {
                self.check_type(compartment)?;
                self.check_type(resource_type)?;
            }
            SearchScope::System(types) => {
                for resource_type in types {
                    self.check_type(resource_type)?;
                }
            }
        }
        let mut request = SearchRequest::from_pairs(scope.clone(), pairs.iter().cloned(), strict)?;
        if let Some(count) = request.count {
            request.count = Some(count.min(self.config.max_page_size));
        }
        request.confine = crate::confine::confinement(context);
        self.narrow_system_search(context, &mut request)?;
        self.allow_search(context, &request)?;
        let mut result = self.search.search(self.store.as_ref(), &request)?;
        // A resource the caller may not read is left out of the Bundle, not a refusal of the
        // whole search.
        let found = result.matches.len();
        result
            .matches
            .retain(|v| self.allows_version(context, Action::Read, v));
        result
            .included
            .retain(|v| self.allows_version(context, Action::Read, v));
        if result.matches.len() < found {
            let included = std::mem::take(&mut result.included);
            result.included = crate::search_access::linked_includes(&result.matches, included);
            // The index's count includes what was just left out: stating it would tell the
            // caller that hidden resources exist.
            result.total = None;
        }
        let summary = request.summary.map(model_summary);
        let links = Links {
            base: &context.base_url,
            scope: &scope,
            pairs: &pairs,
        };

        let mut entries = Vec::with_capacity(result.matches.len() + result.included.len() + 1);
        if summary != Some(ModelSummary::Count) {
            for version in &result.matches {
                entries.push(entry(
                    &context.base_url,
                    version,
                    "match",
                    summary,
                    &request.elements,
                ));
            }
            for version in &result.included {
                entries.push(entry(
                    &context.base_url,
                    version,
                    "include",
                    summary,
                    &request.elements,
                ));
            }
        }
        if !result.warnings.is_empty() {
            let issues: Vec<Issue> = result
                .warnings
                .iter()
                .map(|w| {
                    Issue::new(
                        Severity::Warning,
                        IssueType::NotSupported,
                        w.message.clone(),
                    )
                    .at(w.parameter.clone())
                })
                .collect();
            entries.push(json!({
                "resource": vigil_model::outcome::operation_outcome(&issues),
                "search": {"mode": "outcome"},
            }));
        }

        let mut link =
            vec![json!({"relation": "self", "url": links.url(request.cursor.as_deref())})];
        if let Some(next) = &result.next_cursor {
            link.push(json!({"relation": "next", "url": links.url(Some(next))}));
        }
        if let Some(previous) = &result.previous_cursor {
            link.push(json!({"relation": "previous", "url": links.url(Some(previous))}));
        }
        let mut bundle = Map::new();
        bundle.insert("resourceType".into(), json!("Bundle"));
        bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        bundle.insert(
            "meta".into(),
            json!({"lastUpdated": format_instant(now_micros())}),
        );
        bundle.insert("type".into(), json!("searchset"));
        if let Some(total) = result.total {
            bundle.insert("total".into(), json!(total));
        }
        bundle.insert("link".into(), Value::Array(link));
        if !entries.is_empty() {
            bundle.insert("entry".into(), Value::Array(entries));
        }
        Ok(Value::Object(bundle))
    }
}

fn model_summary(mode: SummaryMode) -> ModelSummary {
    match mode {
        SummaryMode::True => ModelSummary::True,
        SummaryMode::Text => ModelSummary::Text,
        SummaryMode::Data => ModelSummary::Data,
        SummaryMode::Count => ModelSummary::Count,
        SummaryMode::False => ModelSummary::False,
    }
}

fn entry(
    base: &str,
    version: &StoredVersion,
    mode: &str,
    summary: Option<ModelSummary>,
    elements: &[String],
) -> Value {
    let mut resource: Value = serde_json::from_str(&version.content).unwrap_or(Value::Null);
    match summary {
        Some(mode @ (ModelSummary::True | ModelSummary::Text | ModelSummary::Data)) => {
            resource = vigil_model::elements::summarize(&resource, mode);
        }
        _ if !elements.is_empty() => {
            let names: Vec<&str> = elements.iter().map(String::as_str).collect();
            resource = vigil_model::elements::select_elements(&resource, &names);
        }
        _ => {}
    }
    json!({
        "fullUrl": format!("{base}/{}/{}", version.resource_type, version.id),
        "resource": resource,
        "search": {"mode": mode},
    })
}

/// Builds the Bundle links: the search's own parameters, with the cursor replaced.
struct Links<'a> {
    base: &'a str,
    scope: &'a SearchScope,
    pairs: &'a [(String, String)],
}

impl Links<'_> {
    fn url(&self, cursor: Option<&str>) -> String {
        let path = match self.scope {
            SearchScope::Type(resource_type) => format!("{}/{resource_type}", self.base),
            SearchScope::System(_) => self.base.to_owned(),
            SearchScope::Compartment {
                compartment,
                id,
                resource_type,
            } => format!("{}/{compartment}/{id}/{resource_type}", self.base),
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs.iter().filter(|(name, _)| name != "_cursor") {
            query.append_pair(name, value);
        }
        if let Some(cursor) = cursor {
            query.append_pair("_cursor", cursor);
        }
        let query = query.finish();
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    }
}
