//! Filters -> [`Clause`]s, with the registry at hand: parameter lookup, `:missing`, chains
//! (`subject:Patient.name=x`, any depth), reverse chains (`_has:Observation:patient:code=x`,
//! nested), `_id`, `_content`/`_text`, and compartments. Unknown parameters are collected as
//! warnings (or are errors under strict handling).

use super::clause::{Clause, Table, rank, render_where};
use super::fragment::Fragment;
use super::types;
use vigil_store::SqlDialect;

use crate::error::{SearchError, SearchErrorKind};
use crate::normalize::normalize;
use crate::query::value::{split_unescaped, unescape};
use crate::registry::{BoundParameter, ParamType, SearchParameterRegistry};
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

/// Compiles filters against a registry.
pub struct Compiler<'r> {
    registry: &'r SearchParameterRegistry,
    dialect: &'r dyn SqlDialect,
    now_micros: i64,
    strict: bool,
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

/// The alias of the resource table at a nesting depth.
pub fn alias(depth: usize) -> String {
    if depth == 0 {
        "r".to_owned()
    } else {
        format!("r{depth}")
    }
}

impl<'r> Compiler<'r> {
    /// A compiler writing SQL in `dialect`; `now_micros` anchors `ap` on dates.
    pub fn new(
        registry: &'r SearchParameterRegistry,
        dialect: &'r dyn SqlDialect,
        now_micros: i64,
        strict: bool,
    ) -> Self {
        Compiler {
            registry,
            dialect,
            now_micros,
            strict,
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

    /// The clauses of every filter (AND), for resources of `types` (all types when empty). A
    /// filter repeated as written is one criterion; more than [`MAX_CRITERIA`] distinct ones
    /// are refused.
    pub fn compile_filters(
        &mut self,
        types: &[String],
        filters: &[(String, String)],
    ) -> Result<Vec<Clause>, SearchError> {
        let mut distinct = std::collections::HashSet::new();
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
        let mut clauses = Vec::new();
        for (name, value) in filters {
            if let Some(clause) = self.compile(types, name, value, 0)? {
                clauses.push(clause);
            }
        }
        Ok(clauses)
    }

    fn ignore(&mut self, error: SearchError) -> Result<Option<Clause>, SearchError> {
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
    fn compile(
        &mut self,
        types: &[String],
        name: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Clause>, SearchError> {
        if depth > MAX_DEPTH {
            return Err(SearchError::unsupported(
                name,
                format!("chains and _has nest at most {MAX_DEPTH} deep"),
            ));
        }
        // A parameter with an empty value is ignored (FHIR search, "Searching"), and so are the
        // empty values of a list.
        if split_unescaped(value, ',').iter().all(|v| v.is_empty()) {
            return Ok(None);
        }
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.compile_has(types, name, rest, value, depth);
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
        match (code, chain) {
            ("_id", None) => return self.compile_id(name, modifier, value, depth).map(Some),
            ("_content" | "_text", None) => {
                return Ok(Some(compile_content(self.dialect, code, value, depth)));
            }
            _ if NOT_IMPLEMENTED.contains(&code) => {
                return self.ignore(SearchError::unsupported(
                    name,
                    format!("'{code}' is not implemented"),
                ));
            }
            _ => {}
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
            return compile_missing(bound, name, value).map(Some);
        }
        if let Some(chain) = chain {
            return self.compile_chain(bound, name, modifier, chain, value, depth);
        }
        let values = non_empty(value);
        let dialect = self.dialect;
        let clause = match bound.kind() {
            ParamType::String => types::string::clause(code, name, modifier, &values, dialect)?,
            ParamType::Token => {
                types::token::clause(code, name, modifier, &values, &self.expansions, dialect)?
            }
            ParamType::Date => types::date::clause(code, name, modifier, &values, self.now_micros)?,
            ParamType::Number => types::number::clause(code, name, modifier, &values)?,
            ParamType::Quantity => types::quantity::clause(code, name, modifier, &values)?,
            ParamType::Uri => types::uri::clause(code, name, modifier, &values, dialect)?,
            ParamType::Reference => {
                let is_type = |t: &str| self.registry.is_resource_type(t);
                types::reference::clause(code, name, modifier, &values, is_type, dialect)?
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
                types::composite::clause(code, name, modifier, &values, &kinds)?
            }
            ParamType::Special => {
                return self.ignore(SearchError::unsupported(
                    name,
                    format!("special parameter '{code}' is not implemented"),
                ));
            }
        };
        Ok(Some(clause))
    }

    fn compile_id(
        &self,
        name: &str,
        modifier: Option<&str>,
        value: &str,
        depth: usize,
    ) -> Result<Clause, SearchError> {
        if let Some(modifier) = modifier {
            return Err(types::unsupported_modifier(name, modifier));
        }
        let ids: std::collections::BTreeSet<String> =
            non_empty(value).into_iter().map(unescape).collect();
        let mut condition = Fragment::new();
        condition.in_list(self.dialect, &format!("{}.id", alias(depth)), ids);
        Ok(Clause::Direct {
            condition,
            rank: rank::ID,
        })
    }

    /// `ref[:Type].rest=value`: references to resources matching `rest=value`.
    fn compile_chain(
        &mut self,
        bound: &BoundParameter,
        name: &str,
        modifier: Option<&str>,
        chain: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Clause>, SearchError> {
        if bound.kind() != ParamType::Reference {
            return Err(SearchError::unsupported(
                name,
                "only reference parameters can be chained",
            ));
        }
        let next_code = chain.split(['.', ':']).next().unwrap_or_default();
        let targets: Vec<String> = match modifier {
            Some(target) if self.registry.is_resource_type(target) => vec![target.to_owned()],
            Some(other) => return Err(types::unsupported_modifier(name, other)),
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
        // One sub-query over every target type; several types are matched as (type, id) pairs
        // so the reference index is still used (an OR of per-type terms is not).
        let inner_alias = alias(depth + 1);
        let Some(inner) = self.compile(&targets, chain, value, depth + 1)? else {
            return Ok(None);
        };
        // A chain is as selective as what it ends in (`patient.identifier=..` finds one patient).
        let chain_rank = rank::NESTED.min(inner.rank().max(rank::REFERENCE));
        let mut condition = Fragment::new();
        match targets.as_slice() {
            [only] => {
                condition
                    .push("i.target_type = ")
                    .bind(only.as_str())
                    .push(" AND i.target_id IN (SELECT ");
                condition.push(&inner_alias).push(".id");
            }
            _ => {
                condition
                    .push("(i.target_type, i.target_id) IN (SELECT ")
                    .push(&inner_alias)
                    .push(".type, ");
                condition.push(&inner_alias).push(".id");
            }
        }
        condition
            .push(" FROM resource ")
            .push(&inner_alias)
            .push(" WHERE ");
        condition
            .append(&render_where(
                self.dialect,
                &inner_alias,
                &targets,
                &[inner],
            ))
            .push(")");
        Ok(Some(Clause::index(
            Table::Reference,
            bound.code(),
            vec![condition],
            false,
            chain_rank,
        )))
    }

    /// `_has:Type:ref:rest=value`: resources referenced (through `ref`) by a `Type` matching
    /// `rest=value`.
    fn compile_has(
        &mut self,
        types: &[String],
        name: &str,
        rest: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<Clause>, SearchError> {
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
        let Some(inner) = self.compile(&source_types, inner_name, value, depth + 1)? else {
            return Ok(None);
        };
        let inner_rank = inner.rank();
        let outer = alias(depth);
        let inner_alias = alias(depth + 1);
        let mut condition = Fragment::new();
        match types {
            [only] => {
                condition
                    .push(&outer)
                    .push(".id IN (SELECT i.target_id FROM idx_reference i WHERE i.target_type = ");
                condition.bind(only.as_str());
            }
            _ => {
                condition
                    .push("(")
                    .push(&outer)
                    .push(".type, ")
                    .push(&outer)
                    .push(".id) IN (SELECT i.target_type, ");
                condition.push("i.target_id FROM idx_reference i WHERE 1 = 1");
            }
        }
        condition
            .push(" AND i.param = ")
            .bind(reference)
            .push(" AND i.type = ")
            .bind(source);
        condition
            .push(" AND i.rid IN (SELECT ")
            .push(&inner_alias)
            .push(".rid FROM resource ")
            .push(&inner_alias);
        condition
            .push(" WHERE ")
            .append(&render_where(
                self.dialect,
                &inner_alias,
                &source_types,
                &[inner],
            ))
            .push("))");
        Ok(Some(Clause::Direct {
            condition,
            rank: rank::NESTED.min(inner_rank.max(rank::REFERENCE)),
        }))
    }
}

/// `:missing=true|false`.
fn compile_missing(bound: &BoundParameter, name: &str, value: &str) -> Result<Clause, SearchError> {
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
    Ok(Clause::index(
        table,
        bound.code(),
        Vec::new(),
        missing,
        rank::PRESENCE,
    ))
}

/// The values of a list, split at unescaped commas, without the empty ones.
fn non_empty(value: &str) -> Vec<&str> {
    let mut values = split_unescaped(value, ',');
    values.retain(|v| !v.is_empty());
    values
}

/// `_content` (anywhere in the resource) and `_text` (in the narrative): basic case-insensitive
/// substring search over the stored JSON, without an index.
fn compile_content(dialect: &dyn SqlDialect, code: &str, value: &str, depth: usize) -> Clause {
    let source = if code == "_text" {
        dialect.narrative(&alias(depth))
    } else {
        dialect.content(&alias(depth))
    };
    let column = dialect.lower(&source);
    let needles: std::collections::BTreeSet<String> = non_empty(value)
        .into_iter()
        .map(|raw| normalize(&unescape(raw)))
        .collect();
    let alternatives: Vec<Fragment> = needles
        .into_iter()
        .map(|needle| {
            let mut condition = Fragment::new();
            condition.push_bound(|placeholder| dialect.contains(&column, placeholder), needle);
            condition
        })
        .collect();
    let mut condition = Fragment::new();
    condition.join(&alternatives, " OR ");
    Clause::Direct {
        condition,
        rank: rank::SCAN,
    }
}

/// The clause restricting `resource_type` to the compartment `compartment/id`.
pub fn compartment_clause(
    compartment: &str,
    id: &str,
    resource_type: &str,
) -> Result<Clause, SearchError> {
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
    let mut condition = Fragment::text("(i.target_id = ");
    condition
        .bind(id)
        .push(" AND i.target_type = ")
        .bind(compartment)
        .push(")");
    Ok(Clause::Index {
        table: Table::Reference,
        params: params.to_vec(),
        condition,
        negated: false,
        rank: rank::REFERENCE,
    })
}
