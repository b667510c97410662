//! `GET /Patient/[id]/$everything`: the patient and every resource in its Patient compartment
//! (R4 CompartmentDefinition), as a `searchset` Bundle with `total`.
//!
//! Without `_count` the whole set comes in one Bundle, up to
//! `ServiceConfig::everything_max_resources` (10,000 by default) matches; a larger set is cut
//! there, never silently: the Bundle carries a warning OperationOutcome entry
//! (`search.mode = outcome`) and a `next` link to the rest. With `_count` the result is paged
//! as a search is (at most `max_page_size` per page).
//!
//! Order: the Patient first, then the compartment's types alphabetically, each in id order.
//! A page walks the types with compartment searches until it is full; the `next` link carries
//! the search cursor of the last resource shown (its type says where to continue), so paging
//! needs no server state. `_since` becomes `_lastUpdated=ge...`, `_type` limits the types.
//! Resources the page's matches reference and that belong to no patient compartment
//! (Practitioner, Organization, Medication, Location, ...: the spec's "may include") are added
//! with `search.mode = include`, once per page.
//!
//! Not covered: `start`/`end` (clinical date range) are refused; Patients that `link` to this
//! one are not walked (they are other records).

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use vigil_model::{Issue, IssueType};
use vigil_search::{Cursor, SearchRequest, SearchScope, TotalMode};
use vigil_store::StoredVersion;

use crate::{
    FhirService, RequestContext, ServiceError, ServiceErrorKind, format_instant, now_micros,
};

/// Referenced types added to a page (`search.mode = include`): shared, non-patient resources.
const INCLUDED_TYPES: [&str; 9] = [
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "Medication",
    "Substance",
    "Device",
    "HealthcareService",
    "Endpoint",
];

/// Parameters that only shape the response, handled by the API.
const FORMAT_PARAMS: [&str; 2] = ["_format", "_pretty"];

/// The parsed request.
struct EverythingRequest {
    types: Vec<String>,
    since: Option<String>,
    count: usize,
    /// True when the client asked for pages (`_count`); false for the whole set in one Bundle.
    paged: bool,
    cursor: Option<Cursor>,
}

fn not_supported(name: &str) -> ServiceError {
    ServiceError::with_issues(
        ServiceErrorKind::Invalid,
        vec![
            Issue::error(
                IssueType::NotSupported,
                format!("the $everything parameter '{name}' is not supported"),
            )
            .at(name),
        ],
    )
}

/// The types of the Patient compartment: Patient first, then the compartment's other member
/// types alphabetically (for `$everything` and Patient/Group `$export`).
pub fn patient_compartment_types() -> Vec<String> {
    let mut types = vec!["Patient".to_owned()];
    if let Some(compartment) = vigil_model::schema::compartment("Patient") {
        types.extend(
            compartment
                .resources
                .keys()
                .filter(|t| t.as_str() != "Patient")
                .cloned(),
        );
    }
    types
}

impl FhirService {
    /// `Patient/[id]/$everything` with `pairs` as sent (`_since`, `_type`, `_count`, `_page`).
    pub(crate) fn everything_unaudited(
        &self,
        context: &RequestContext,
        patient_id: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        // The authorizer: the operation on the Patient (before telling whether it exists), then
        // each member and reference.
        let operation = crate::authz::Action::Operation("everything");
        self.allow(
            context,
            &crate::authz::Access::to_resource(operation, "Patient", patient_id, None),
        )?;
        let found = self.store.read("Patient", patient_id)?;
        if !self.read_visible(context, found.as_ref())? {
            return Err(crate::confine::unknown("Patient", patient_id));
        }
        match found {
            None => {
                return Err(ServiceError::not_found(format!(
                    "Patient/{patient_id} is not known"
                )));
            }
            Some(version) if version.meta.deleted => {
                return Err(ServiceError::new(
                    ServiceErrorKind::Gone,
                    IssueType::Deleted,
                    format!("Patient/{patient_id} was deleted"),
                ));
            }
            Some(_) => {}
        }
        let request = self.everything_request(pairs)?;
        let (mut matches, next) = self.everything_page(patient_id, &request)?;
        // When this page holds the whole set, its matches are the total; otherwise one count
        // per type. Either way counted before the authorizer's per-resource answers.
        let total = if request.cursor.is_none() && next.is_none() {
            matches.len() as u64
        } else {
            self.everything_total(patient_id, &request)?
        };
        matches.retain(|v| self.allows_version(context, operation, v));
        let mut included = self.referenced(&matches)?;
        included.retain(|v| self.allows_version(context, operation, v));
        let base = &context.base_url;
        let link = |page: Option<&Cursor>| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in pairs.iter().filter(|(name, _)| name != "_page") {
                query.append_pair(name, value);
            }
            if let Some(cursor) = page {
                query.append_pair("_page", &cursor.encode());
            }
            let query = query.finish();
            let path = format!("{base}/Patient/{patient_id}/$everything");
            if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            }
        };
        let mut links = vec![json!({"relation": "self", "url": link(request.cursor.as_ref())})];
        if let Some(next) = &next {
            links.push(json!({"relation": "next", "url": link(Some(next))}));
        }
        let entry = |version: &StoredVersion, mode: &str| {
            json!({
                "fullUrl": format!("{base}/{}/{}", version.resource_type, version.id),
                "resource": serde_json::from_str::<Value>(&version.content).unwrap_or(Value::Null),
                "search": {"mode": mode},
            })
        };
        let mut entries: Vec<Value> = matches
            .iter()
            .map(|v| entry(v, "match"))
            .chain(included.iter().map(|v| entry(v, "include")))
            .collect();
        if !request.paged && next.is_some() {
            entries.push(truncation_outcome(request.count, total));
        }
        let mut bundle = Map::new();
        bundle.insert("resourceType".into(), json!("Bundle"));
        bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        bundle.insert(
            "meta".into(),
            json!({"lastUpdated": format_instant(now_micros())}),
        );
        bundle.insert("type".into(), json!("searchset"));
        bundle.insert("total".into(), json!(total));
        bundle.insert("link".into(), Value::Array(links));
        if !entries.is_empty() {
            bundle.insert("entry".into(), Value::Array(entries));
        }
        Ok(Value::Object(bundle))
    }

    fn everything_request(
        &self,
        pairs: &[(String, String)],
    ) -> Result<EverythingRequest, ServiceError> {
        let all = patient_compartment_types();
        let mut types: Vec<String> = Vec::new();
        let mut since = None;
        let mut count = None;
        let mut cursor = None;
        for (name, value) in pairs {
            match name.as_str() {
                "_since" => {
                    if crate::parse_instant_micros(value).is_none() {
                        return Err(ServiceError::invalid(
                            format!("_since must be a FHIR instant, not '{value}'"),
                            "_since",
                        ));
                    }
                    since = Some(value.clone());
                }
                "_type" => {
                    for resource_type in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        self.check_type(resource_type)?;
                        if !all.iter().any(|t| t == resource_type) {
                            return Err(ServiceError::invalid(
                                format!("{resource_type} is not in the Patient compartment"),
                                "_type",
                            ));
                        }
                        if !types.iter().any(|t| t == resource_type) {
                            types.push(resource_type.to_owned());
                        }
                    }
                }
                "_count" => count = Some(value.as_str()),
                "_page" => cursor = Some(Cursor::decode(value, 0)?),
                name if FORMAT_PARAMS.contains(&name) => {}
                other => return Err(not_supported(other)),
            }
        }
        // Keep the compartment order whatever order `_type` listed.
        let types = if types.is_empty() {
            all
        } else {
            all.into_iter().filter(|t| types.contains(t)).collect()
        };
        let paged = count.is_some();
        Ok(EverythingRequest {
            types,
            since,
            count: if paged {
                self.page_size(count)?
            } else {
                self.config.everything_max_resources
            },
            paged,
            cursor,
        })
    }

    /// The search for one type of the compartment (the Patient itself by id).
    fn everything_search(
        &self,
        patient_id: &str,
        resource_type: &str,
        request: &EverythingRequest,
        cursor: Option<&Cursor>,
        count: usize,
    ) -> Result<Vec<StoredVersion>, ServiceError> {
        Ok(self
            .everything_search_page(patient_id, resource_type, request, cursor, count)?
            .0)
    }

    fn everything_search_page(
        &self,
        patient_id: &str,
        resource_type: &str,
        request: &EverythingRequest,
        cursor: Option<&Cursor>,
        count: usize,
    ) -> Result<(Vec<StoredVersion>, Option<String>), ServiceError> {
        let mut search = everything_search_request(patient_id, resource_type, request);
        search.count = Some(count);
        search.total = Some(TotalMode::None);
        search.cursor = cursor.map(Cursor::encode);
        let result = self.search.search(self.store.as_ref(), &search)?;
        Ok((result.matches, result.next_cursor))
    }

    /// The number of matches over all pages: one count per type.
    fn everything_total(
        &self,
        patient_id: &str,
        request: &EverythingRequest,
    ) -> Result<u64, ServiceError> {
        let mut total = 0;
        for resource_type in &request.types {
            let mut search = everything_search_request(patient_id, resource_type, request);
            search.count = Some(0);
            search.total = Some(TotalMode::Accurate);
            total += self
                .search
                .search(self.store.as_ref(), &search)?
                .total
                .unwrap_or(0);
        }
        Ok(total)
    }

    /// One page of matches and the cursor of the next page.
    fn everything_page(
        &self,
        patient_id: &str,
        request: &EverythingRequest,
    ) -> Result<(Vec<StoredVersion>, Option<Cursor>), ServiceError> {
        let start = match &request.cursor {
            None => 0,
            Some(cursor) => request
                .types
                .iter()
                .position(|t| *t == cursor.resource_type)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "the _page cursor does not belong to this $everything request",
                        "_page",
                    )
                })?,
        };
        let mut matches: Vec<StoredVersion> = Vec::new();
        if request.count == 0 {
            return Ok((matches, None));
        }
        for (at, resource_type) in request.types.iter().enumerate().skip(start) {
            // A type may take several searches (each at most the engine's page size).
            let mut cursor = if at == start {
                request.cursor.clone()
            } else {
                None
            };
            loop {
                let remaining = request.count - matches.len();
                if remaining == 0 {
                    if cursor.is_some() {
                        // This type has more.
                        return Ok((matches, cursor));
                    }
                    // Full at a type boundary: continue at the next type that has anything.
                    for later in &request.types[at..] {
                        if !self
                            .everything_search(patient_id, later, request, None, 1)?
                            .is_empty()
                        {
                            return Ok((matches, Some(type_start(later))));
                        }
                    }
                    return Ok((matches, None));
                }
                let (page, next) = self.everything_search_page(
                    patient_id,
                    resource_type,
                    request,
                    cursor.as_ref(),
                    remaining,
                )?;
                let found = page.len();
                matches.extend(page);
                match next {
                    Some(next) if found > 0 => cursor = Some(Cursor::decode(&next, 0)?),
                    _ => break,
                }
            }
        }
        Ok((matches, None))
    }

    /// Shared resources the matches reference (current versions), each once, not already
    /// matched.
    fn referenced(&self, matches: &[StoredVersion]) -> Result<Vec<StoredVersion>, ServiceError> {
        let mut seen: HashSet<(String, String)> = matches
            .iter()
            .map(|v| (v.resource_type.clone(), v.id.clone()))
            .collect();
        let mut out = Vec::new();
        for version in matches {
            let Ok(resource) = serde_json::from_str::<Value>(&version.content) else {
                continue;
            };
            let mut references = Vec::new();
            collect_references(&resource, &mut references);
            for (resource_type, id) in references {
                if !INCLUDED_TYPES.contains(&resource_type.as_str())
                    || !seen.insert((resource_type.clone(), id.clone()))
                {
                    continue;
                }
                if let Some(found) = self
                    .store
                    .read(&resource_type, &id)?
                    .filter(|v| !v.meta.deleted)
                {
                    out.push(found);
                }
            }
        }
        Ok(out)
    }
}

/// The search for one type of the compartment (the Patient itself by id), without paging.
fn everything_search_request(
    patient_id: &str,
    resource_type: &str,
    request: &EverythingRequest,
) -> SearchRequest {
    let scope = if resource_type == "Patient" {
        SearchScope::Type("Patient".to_owned())
    } else {
        SearchScope::Compartment {
            compartment: "Patient".to_owned(),
            id: patient_id.to_owned(),
            resource_type: resource_type.to_owned(),
        }
    };
    let mut search = SearchRequest::new(scope);
    if resource_type == "Patient" {
        search
            .filters
            .push(("_id".to_owned(), patient_id.to_owned()));
    }
    if let Some(since) = &request.since {
        search
            .filters
            .push(("_lastUpdated".to_owned(), format!("ge{since}")));
    }
    search.strict = true;
    search
}

/// The warning entry of a Bundle cut at the limit: how many of how many, and where the rest is.
fn truncation_outcome(limit: usize, total: u64) -> Value {
    let issue = Issue {
        severity: vigil_model::Severity::Warning,
        code: IssueType::TooCostly,
        diagnostics: format!(
            "$everything holds {total} resources, more than this server returns in one Bundle ({limit}); this Bundle has the first {limit} and its 'next' link continues"
        ),
        expression: Vec::new(),
    };
    json!({
        "resource": vigil_model::outcome::operation_outcome(&[issue]),
        "search": {"mode": "outcome"},
    })
}

/// A cursor placed before the first resource of a type.
fn type_start(resource_type: &str) -> Cursor {
    Cursor {
        backward: false,
        keys: Vec::new(),
        resource_type: resource_type.to_owned(),
        id: String::new(),
    }
}

/// Every relative `Type/id` reference in a resource (contained resources included).
fn collect_references(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "reference"
                    && let Some(text) = item.as_str()
                    && let Some((resource_type, id)) = text.split_once('/')
                    && !id.is_empty()
                    && !id.contains('/')
                    && resource_type.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    out.push((resource_type.to_owned(), id.to_owned()));
                } else {
                    collect_references(item, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_relative_type_and_id() {
        let resource = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d1"}, {"reference": "http://x/Organization/o1"}, {"reference": "#c1"}],
            "contained": [{"resourceType": "Medication", "manufacturer": {"reference": "Organization/o2"}}]});
        let mut out = Vec::new();
        collect_references(&resource, &mut out);
        let names: Vec<String> = out.iter().map(|(t, id)| format!("{t}/{id}")).collect();
        assert_eq!(names, ["Patient/p1", "Practitioner/d1", "Organization/o2"]);
    }

    #[test]
    fn the_patient_comes_first() {
        let types = patient_compartment_types();
        assert_eq!(types[0], "Patient");
        assert!(types[1..].windows(2).all(|w| w[0] < w[1]));
        assert!(types.contains(&"Observation".to_owned()));
    }
}
