//! A search as the client asked for it: [`SearchRequest`] parsed from the query pairs (GET query
//! string or POST `_search` form body), with the filters kept raw (they are compiled against the
//! registry later) and the result parameters read here.

pub mod value;

use crate::error::SearchError;

/// Where the search looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchScope {
    /// `GET /Patient?...`
    Type(String),
    /// `GET /?_type=Patient,Observation&...` (no `_type`: every type).
    System(Vec<String>),
    /// `GET /Patient/123/Observation?...`: the resources of one type in a compartment.
    Compartment {
        /// Compartment type (`Patient`, `Encounter`, `Practitioner`, `RelatedPerson`, `Device`).
        compartment: String,
        /// Id of the compartment's resource.
        id: String,
        /// The type searched within the compartment.
        resource_type: String,
    },
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalMode {
    /// No total.
    None,
    /// An estimate is enough (this server counts exactly anyway).
    Estimate,
    /// An exact count.
    Accurate,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    /// Only the elements marked isSummary.
    True,
    /// Only text, id, meta and mandatory elements.
    Text,
    /// Everything but the narrative.
    Data,
    /// Only the count.
    Count,
    /// Everything (`_summary=false`).
    False,
}

/// A `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Parameter code.
    pub param: String,
    /// Written with a leading `-`.
    pub descending: bool,
}

/// An `_include` or `_revinclude`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeSpec {
    /// Source type (`Observation` in `Observation:subject`), `*` for any.
    pub source_type: String,
    /// Reference parameter, `*` for all.
    pub param: String,
    /// Optional target type restriction.
    pub target_type: Option<String>,
    /// `:iterate` (or the R3 `:recurse`).
    pub iterate: bool,
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// Where to search.
    pub scope: SearchScope,
    /// Filter parameters as (name, value), URL-decoded, in the order given.
    pub filters: Vec<(String, String)>,
    /// `_sort` keys in order.
    pub sort: Vec<SortKey>,
    /// `_count`.
    pub count: Option<usize>,
    /// `_total`.
    pub total: Option<TotalMode>,
    /// `_summary`.
    pub summary: Option<SummaryMode>,
    /// `_elements`.
    pub elements: Vec<String>,
    /// `_include`s.
    pub include: Vec<IncludeSpec>,
    /// `_revinclude`s.
    pub revinclude: Vec<IncludeSpec>,
    /// The paging cursor (`_cursor`), as issued in a `next`/`previous` link.
    pub cursor: Option<String>,
    /// `Prefer: handling=strict`: unknown parameters are errors instead of warnings.
    pub strict: bool,
    /// Set by the server, never by the client: the compartment every resource the search
    /// matches or looks into (through chains and `_has`) must belong to (a patient-context
    /// token's patient). See [`crate::criteria::confine`].
    pub confine: Option<Confinement>,
}

/// A compartment a search is confined to: `Patient/123` for a patient-context token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The compartment type (`Patient`).
    pub compartment: String,
    /// The id of the compartment's resource.
    pub id: String,
}

/// Most distinct `_sort` keys of one search (a key repeated adds nothing to the order).
pub const MAX_SORT_KEYS: usize = 8;

/// Most distinct `_include` plus `_revinclude` specs of one search.
pub const MAX_INCLUDE_SPECS: usize = 32;

/// Parameters that only shape the HTTP response and are not search criteria.
const FORMAT_PARAMS: [&str; 3] = ["_format", "_pretty", "_method"];

impl SearchRequest {
    /// An empty request.
    pub fn new(scope: SearchScope) -> Self {
        SearchRequest {
            scope,
            filters: Vec::new(),
            sort: Vec::new(),
            count: None,
            total: None,
            summary: None,
            elements: Vec::new(),
            include: Vec::new(),
            revinclude: Vec::new(),
            cursor: None,
            strict: false,
            confine: None,
        }
    }

    /// Parses a URL query string (without `?`) or a form-encoded `_search` body.
    pub fn from_query(scope: SearchScope, query: &str, strict: bool) -> Result<Self, SearchError> {
        let pairs = form_urlencoded::parse(query.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()));
        Self::from_pairs(scope, pairs, strict)
    }

    /// Reads decoded (name, value) pairs.
    pub fn from_pairs(
        scope: SearchScope,
        pairs: impl IntoIterator<Item = (String, String)>,
        strict: bool,
    ) -> Result<Self, SearchError> {
        let mut request = SearchRequest::new(scope);
        request.strict = strict;
        for (name, value) in pairs {
            request.read_pair(name, value)?;
        }
        Ok(request)
    }

    fn read_pair(&mut self, name: String, value: String) -> Result<(), SearchError> {
        let (base, modifier) = match name.split_once(':') {
            Some((base, modifier)) => (base, Some(modifier)),
            None => (name.as_str(), None),
        };
        match base {
            "_type" if matches!(self.scope, SearchScope::System(_)) => {
                if let SearchScope::System(types) = &mut self.scope {
                    for name in value.split(',').filter(|t| !t.is_empty()) {
                        if !types.iter().any(|t| t == name) {
                            types.push(name.to_owned());
                        }
                    }
                }
            }
            "_sort" => {
                for key in value.split(',').filter(|key| !key.is_empty()) {
                    let (param, descending) = match key.strip_prefix('-') {
                        Some(param) => (param, true),
                        None => (key, false),
                    };
                    if self.sort.iter().any(|key| key.param == param) {
                        continue;
                    }
                    if self.sort.len() == MAX_SORT_KEYS {
                        return Err(SearchError::unsupported(
                            "_sort",
                            format!("a search sorts by at most {MAX_SORT_KEYS} keys"),
                        ));
                    }
                    self.sort.push(SortKey {
                        param: param.to_owned(),
                        descending,
                    });
                }
            }
            "_count" => {
                let count = value.parse().map_err(|_| {
                    SearchError::malformed("_count", format!("'{value}' is not a count"))
                })?;
                self.count = Some(count);
            }
            "_total" => {
                self.total = Some(match value.as_str() {
                    "none" => TotalMode::None,
                    "estimate" => TotalMode::Estimate,
                    "accurate" => TotalMode::Accurate,
                    _ => {
                        return Err(SearchError::malformed(
                            "_total",
                            format!("'{value}' is not none, estimate or accurate"),
                        ));
                    }
                });
            }
            "_summary" => {
                self.summary = Some(match value.as_str() {
                    "true" => SummaryMode::True,
                    "text" => SummaryMode::Text,
                    "data" => SummaryMode::Data,
                    "count" => SummaryMode::Count,
                    "false" => SummaryMode::False,
                    _ => {
                        return Err(SearchError::malformed(
                            "_summary",
                            format!("'{value}' is not a _summary mode"),
                        ));
                    }
                });
            }
            "_elements" => self.elements.extend(
                value
                    .split(',')
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned),
            ),
            "_include" | "_revinclude" => {
                let iterate = match modifier {
                    None => false,
                    Some("iterate" | "recurse") => true,
                    Some(other) => {
                        return Err(SearchError::malformed(
                            base,
                            format!("unknown modifier ':{other}'"),
                        ));
                    }
                };
                let spec = parse_include(base, &value, iterate)?;
                let specs = if base == "_include" {
                    &mut self.include
                } else {
                    &mut self.revinclude
                };
                if !specs.contains(&spec) {
                    specs.push(spec);
                }
                if self.include.len() + self.revinclude.len() > MAX_INCLUDE_SPECS {
                    return Err(SearchError::unsupported(
                        base,
                        format!(
                            "a search has at most {MAX_INCLUDE_SPECS} _include and _revinclude \
                             parameters"
                        ),
                    ));
                }
            }
            "_cursor" => self.cursor = Some(value),
            _ if FORMAT_PARAMS.contains(&base) => {}
            _ => self.filters.push((name, value)),
        }
        Ok(())
    }
}

fn parse_include(parameter: &str, value: &str, iterate: bool) -> Result<IncludeSpec, SearchError> {
    if value == "*" {
        return Ok(IncludeSpec {
            source_type: "*".into(),
            param: "*".into(),
            target_type: None,
            iterate,
        });
    }
    let mut parts = value.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(source), Some(param), target, None) if !source.is_empty() && !param.is_empty() => {
            Ok(IncludeSpec {
                source_type: source.to_owned(),
                param: param.to_owned(),
                target_type: target.filter(|t| !t.is_empty()).map(str::to_owned),
                iterate,
            })
        }
        _ => Err(SearchError::malformed(
            parameter,
            format!("'{value}' is not Type:param[:Target]"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_parameters_are_read_and_filters_kept() {
        let request = SearchRequest::from_query(
            SearchScope::Type("Observation".into()),
            "subject=Patient%2F1&code=http://loinc.org|8867-4&_sort=-date,code&_count=10&_total=accurate\
             &_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target&_format=json&_summary=true",
            false,
        )
        .unwrap();
        assert_eq!(
            request.filters,
            [
                ("subject".into(), "Patient/1".into()),
                ("code".into(), "http://loinc.org|8867-4".into())
            ]
        );
        assert_eq!(
            request.sort,
            [
                SortKey {
                    param: "date".into(),
                    descending: true
                },
                SortKey {
                    param: "code".into(),
                    descending: false
                }
            ]
        );
        assert_eq!(request.count, Some(10));
        assert_eq!(request.total, Some(TotalMode::Accurate));
        assert_eq!(request.summary, Some(SummaryMode::True));
        assert_eq!(request.include[0].target_type.as_deref(), Some("Patient"));
        assert!(request.revinclude[0].iterate);
    }

    #[test]
    fn malformed_result_parameters_are_errors() {
        for query in [
            "_count=x",
            "_total=maybe",
            "_summary=yes",
            "_include=Observation",
            "_include:deep=Observation:subject",
        ] {
            let error =
                SearchRequest::from_query(SearchScope::Type("Observation".into()), query, false)
                    .unwrap_err();
            assert!(error.is_client_error(), "{query}");
        }
    }

    #[test]
    fn system_scope_reads_types() {
        let request = SearchRequest::from_query(
            SearchScope::System(Vec::new()),
            "_type=Patient,Observation&_id=1",
            false,
        )
        .unwrap();
        assert_eq!(
            request.scope,
            SearchScope::System(vec!["Patient".into(), "Observation".into()])
        );
        assert_eq!(request.filters.len(), 1);
    }
}
