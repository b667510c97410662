//! Filters -> [`Criterion`]s, with the registry at hand: parameter lookup, `:missing`, chains
//! (`subject:Patient.name=x`, any depth), reverse chains (`_has:Observation:patient:code=x`,
//! nested), `_id`, `_content`/`_text`, and compartments. Unknown parameters are collected as
//! warnings (or are errors under strict handling); empty values are ignored; a filter repeated
//! as written is one criterion.

use std::collections::{BTreeSet, HashSet};

use super::{Criterion, RowCriterion, RowTest, composite, date, number, quantity, reference};
use super::{string, token, unsupported_modifier, uri};
use crate::error::{SearchError, SearchErrorKind};
use crate::query::value::{split_unescaped, unescape};
use crate::registry::{BoundParameter, ParamType, SearchParameterRegistry};
use crate::sql::clause::{Table, rank};
use crate::terminology::Expansions;

/// Deepest nesting of chains and `_has`.
const MAX_DEPTH: usize = 4;

/// Most distinct criteria (ANDed parameters) one search may have.
pub const MAX_CRITERIA: usize = 1_000;

/// Search parameters that exist in FHIR but that this server does not implement: treated as
/// unknown (a warning, or an error under strict handling).
const NOT_IMPLEMENTED: [&str; 5] = ["_list", "_query", "_filter", "_contained", "_containedType"];

/// A parameter that was ignored, for the OperationOutcome warning of the Bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWarning {
    /// The parameter as written.
    pub parameter: String,
    /// Why it was ignored.
    pub message: String,
}

/// Parses filters against a registry.
pub struct Parser<'r> {
    registry: &'r SearchParameterRegistry,
    now_micros: i64,
    strict: bool,
    full_text: bool,
    expansions: Expansions,
    /// Parameters ignored so far.
    pub warnings: Vec<SearchWarning>,
}

/// The table of a parameter type (none for composite and special).
pub fn table_of(kind: ParamType) -> Option<Table> {
    Some(match kind {
        ParamType::String => Table::String,
        ParamType::Token => Table::Token,
        ParamType::Date => Table::Date,
        ParamType::Number => Table::Number,
        ParamType::Quantity => Table::Quantity,
        ParamType::Reference => Table::Reference,
        ParamType::Uri => Table::Uri,
        ParamType::Composite | ParamType::Special => return None,
    })
}

/// The values of a list, split at unescaped commas, without the empty ones.
pub fn non_empty(value: &str) -> Vec<&str> {
    let mut values = split_unescaped(value, ',');
    values.retain(|v| !v.is_empty());
    values
}

impl<'r> Parser<'r> {
    /// A parser; `now_micros` anchors `ap` on dates.
    pub fn new(registry: &'r SearchParameterRegistry, now_micros: i64, strict: bool) -> Self {
        Parser {
            registry,
            now_micros,
            strict,
            full_text: false,
            expansions: Expansions::default(),
            warnings: Vec::new(),
        }
    }

    /// The terminology sets resolved for this search (token `:in`, `:not-in`, `:above`,
    /// `:below`); without them those modifiers are refused.
    pub fn with_expansions(mut self, expansions: Expansions) -> Self {
        self.expansions = expansions;
        self
    }

    /// Whether `_content`/`_text` may be served (from the full-text index); off, they are
    /// refused.
    pub fn with_full_text(mut self, enabled: bool) -> Self {
        self.full_text = enabled;
        self
    }

    /// The criteria of every filter (AND), for resources of `types` (all types when empty). A
    /// filter repeated as written is one criterion; more than [`MAX_CRITERIA`] distinct ones
    /// are refused.
    pub fn parse_filters(
        &mut self,
        types: &[String],
        filters: &[(String, String)],
    ) -> Result<Vec<Criterion>, SearchError> {
        let mut distinct = HashSet::new();
        let filters: Vec<&(String, String)> = filters
            .iter()
            .filter(|pair| distinct.insert(*pair))
            .collect();
        if filters.len() > MAX_CRITERIA {
            return Err(SearchError::new(
                SearchErrorKind::Unsupported,
                filters.first().map(|(name, _)| name.as_str()),
                format!(
                    "a search has at most {MAX_CRITERIA} distinct criteria, this one has {}",
                    filters.len()
                ),
            ));
        }
        let mut criteria = Vec::new();
        for (name, value) in filters {
            if let Some(criterion) = self.parse(types, name, value, 0)? {
                criteria.push(criterion);
            }
        }
        Ok(criteria)
    }

    fn ignore(&mut self, error: SearchError) -> Result<Option<Criterion>, SearchError> {
        if self.strict {
            return Err(error);
        }
        self.warnings.push(SearchWarning {
            parameter: error.parameter().unwrap_or_default().to_owned(),
            message: error.message().to_owned(),
        });
        Ok(None)
    }

    /// The parameter `code` common to all `types` (all types: a `Resource` parameter).
    fn lookup(&self, types: &[String], code: &str) -> Option<&'r BoundParameter> {
        match types {
            [] => self
                .registry
                .get("Basic", code)
                .filter(|bound| {
                    bound
                        .def
                        .base
                        .iter()
                        .any(|base| base == "Resource" || base == "DomainResource")
                })
                .map(|bound| &**bound),
            [first, rest @ ..] => {
                let bound = self.registry.get(first, code)?;
                let same = rest.iter().all(|t| {
                    self.registry
                        .get(t, code)
                        .is_some_and(|b| b.kind() == bound.kind())
                });
                same.then_some(&**bound)
            }
        }
    }

    /// One filter; `None` when it was ignored.
    fn parse(
        &mut self,
        types: &[String],
        name: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Criterion>, SearchError> {
        // A parameter with an empty value is ignored (FHIR search, "Searching"), and so are the
        // empty values of a list.
        let values = non_empty(value);
        if values.is_empty() {
            return Ok(None);
        }
        if depth > MAX_DEPTH {
            return Err(SearchError::unsupported(
                name,
                format!("chains and _has nest at most {MAX_DEPTH} deep"),
            ));
        }
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.parse_has(name, rest, value, depth);
        }
        let (head, chain) = match name.split_once('.') {
            Some((head, chain)) => (head, Some(chain)),
            None => (name, None),
        };
        let (code, modifier) = match head.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (head, None),
        };
        let scope = types.first().map_or("any resource type", String::as_str);
        if chain.is_none()
            && code.starts_with('_')
            && let Some(special) = self.parse_special(name, code, modifier, &values)
        {
            return special;
        }
        let Some(bound) = self.lookup(types, code) else {
            return self.ignore(SearchError::unknown_parameter(name, scope));
        };
        if modifier == Some("missing") {
            if chain.is_some() {
                return Err(SearchError::unsupported(
                    name,
                    ":missing cannot be chained further",
                ));
            }
            return missing(bound, name, value).map(|c| Some(Criterion::Rows(c)));
        }
        if let Some(chain) = chain {
            return self.parse_chain(bound, name, modifier, chain, value, depth);
        }
        self.parse_values(bound, name, code, modifier, &values)
    }

    /// `_id`, `_content`/`_text` and the parameters not implemented; `None` for the others.
    fn parse_special(
        &mut self,
        name: &str,
        code: &str,
        modifier: Option<&str>,
        values: &[&str],
    ) -> Option<Result<Option<Criterion>, SearchError>> {
        match code {
            "_id" => {
                if let Some(modifier) = modifier {
                    return Some(Err(unsupported_modifier(name, modifier)));
                }
                let ids = values.iter().map(|raw| unescape(raw)).collect();
                Some(Ok(Some(Criterion::Id(ids))))
            }
            "_content" | "_text" if !self.full_text => Some(Err(SearchError::unsupported(
                name,
                "full-text search (_content, _text) is not enabled on this server (an operator \
                 enables it with `vigil reindex --full-text on`)",
            ))),
            "_content" | "_text" => {
                if let Some(modifier) = modifier {
                    return Some(Err(unsupported_modifier(name, modifier)));
                }
                let phrases: BTreeSet<Vec<String>> = values
                    .iter()
                    .map(|raw| crate::full_text::words(&unescape(raw)))
                    .filter(|words| !words.is_empty())
                    .collect();
                if phrases.is_empty() {
                    return Some(Err(SearchError::malformed(
                        name,
                        "the value has no words (letters or digits) to search for",
                    )));
                }
                let narrative = code == "_text";
                Some(Ok(Some(Criterion::Content { narrative, phrases })))
            }
            _ if NOT_IMPLEMENTED.contains(&code) => Some(self.ignore(SearchError::unsupported(
                name,
                format!("'{code}' is not implemented"),
            ))),
            _ => None,
        }
    }

    /// The values of a parameter of `bound`'s type (no chain, no `:missing`).
    fn parse_values(
        &mut self,
        bound: &BoundParameter,
        name: &str,
        code: &str,
        modifier: Option<&str>,
        values: &[&str],
    ) -> Result<Option<Criterion>, SearchError> {
        let criterion = match bound.kind() {
            ParamType::String => string::criterion(code, name, modifier, values)?,
            ParamType::Token => token::criterion(code, name, modifier, values, &self.expansions)?,
            ParamType::Date => date::criterion(code, name, modifier, values, self.now_micros)?,
            ParamType::Number => number::criterion(code, name, modifier, values)?,
            ParamType::Quantity => quantity::criterion(code, name, modifier, values)?,
            ParamType::Uri => uri::criterion(code, name, modifier, values)?,
            ParamType::Reference => {
                let is_type = |t: &str| self.registry.is_resource_type(t);
                reference::criterion(code, name, modifier, values, is_type)?
            }
            ParamType::Composite => {
                let kinds: Vec<ParamType> = bound
                    .def
                    .component
                    .iter()
                    .filter_map(|component| {
                        self.registry
                            .by_url(&component.definition)
                            .map(|def| def.param_type)
                    })
                    .collect();
                composite::criterion(code, name, modifier, values, &kinds)?
            }
            ParamType::Special => {
                return self.ignore(SearchError::unsupported(
                    name,
                    format!("special parameter '{code}' is not implemented"),
                ));
            }
        };
        Ok(Some(Criterion::Rows(criterion)))
    }

    /// `ref[:Type].rest=value`: references to resources matching `rest=value`.
    fn parse_chain(
        &mut self,
        bound: &BoundParameter,
        name: &str,
        modifier: Option<&str>,
        chain: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Criterion>, SearchError> {
        if bound.kind() != ParamType::Reference {
            return Err(SearchError::unsupported(
                name,
                "only reference parameters can be chained",
            ));
        }
        let next_code = chain.split(['.', ':']).next().unwrap_or_default();
        let targets: Vec<String> = match modifier {
            Some(target) if self.registry.is_resource_type(target) => vec![target.to_owned()],
            Some(other) => return Err(unsupported_modifier(name, other)),
            None => bound
                .def
                .target
                .iter()
                .filter(|t| self.registry.get(t, next_code).is_some())
                .cloned()
                .collect(),
        };
        if targets.is_empty() {
            return self.ignore(SearchError::unknown_parameter(
                name,
                "the chain's target types",
            ));
        }
        let Some(inner) = self.parse(&targets, chain, value, depth + 1)? else {
            return Ok(None);
        };
        Ok(Some(Criterion::Chain {
            code: bound.code().to_owned(),
            targets,
            inner: Box::new(inner),
        }))
    }

    /// `_has:Type:ref:rest=value`: resources referenced (through `ref`) by a `Type` matching
    /// `rest=value`.
    fn parse_has(
        &mut self,
        name: &str,
        rest: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Criterion>, SearchError> {
        let mut parts = rest.splitn(3, ':');
        let (Some(source), Some(reference), Some(inner_name)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SearchError::malformed(
                name,
                "_has is written _has:Type:reference:parameter",
            ));
        };
        if !self.registry.is_resource_type(source) {
            return Err(SearchError::malformed(
                name,
                format!("'{source}' is not a resource type"),
            ));
        }
        match self.registry.get(source, reference) {
            Some(bound) if bound.kind() == ParamType::Reference => {}
            _ => return self.ignore(SearchError::unknown_parameter(name, source)),
        }
        let source_types = [source.to_owned()];
        let Some(inner) = self.parse(&source_types, inner_name, value, depth + 1)? else {
            return Ok(None);
        };
        Ok(Some(Criterion::Has {
            source_type: source.to_owned(),
            reference: reference.to_owned(),
            inner: Box::new(inner),
        }))
    }
}

/// `:missing=true|false`.
fn missing(bound: &BoundParameter, name: &str, value: &str) -> Result<RowCriterion, SearchError> {
    let missing = match value {
        "true" => true,
        "false" => false,
        _ => {
            return Err(SearchError::malformed(
                name,
                format!("':missing' takes true or false, not '{value}'"),
            ));
        }
    };
    let Some(table) = table_of(bound.kind()) else {
        return Err(SearchError::unsupported(
            name,
            "':missing' is not supported on this parameter",
        ));
    };
    Ok(RowCriterion::new(
        table,
        bound.code(),
        RowTest::Present,
        missing,
        rank::PRESENCE,
    ))
}

/// The criterion restricting `resource_type` to the compartment `compartment/id`.
pub fn compartment(
    compartment: &str,
    id: &str,
    resource_type: &str,
) -> Result<Criterion, SearchError> {
    let def = vigil_model::schema::compartment(compartment).ok_or_else(|| {
        SearchError::new(
            SearchErrorKind::UnknownResourceType,
            None,
            format!("'{compartment}' is not a compartment"),
        )
    })?;
    let params = def.params(resource_type);
    if params.is_empty() {
        return Err(SearchError::unsupported(
            resource_type,
            format!("{resource_type} is not in the {compartment} compartment"),
        ));
    }
    let target = reference::Target::Local(compartment.to_owned(), id.to_owned());
    Ok(Criterion::Rows(RowCriterion {
        table: Table::Reference,
        params: params.to_vec(),
        test: RowTest::Reference([target].into()),
        negated: false,
        rank: rank::REFERENCE,
    }))
}
