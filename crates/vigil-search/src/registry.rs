//! The SearchParameter registry: every R4 SearchParameter definition (generated from the
//! official package into `vigil-model/schema/r4-search-parameters.json`, committed), plus
//! custom SearchParameter resources added at runtime, indexed by (resource type, code).
//!
//! A definition whose base is `Resource` applies to every resource type, `DomainResource` to
//! every type deriving from it. Multi-base expressions (`AllergyIntolerance.code |
//! Condition.code | ...`) are narrowed to the branches of each type when the registry is built,
//! so extraction evaluates only what can match.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
pub use vigil_model::schema::{SearchParamType as ParamType, SearchParameterDef};

use crate::error::{SearchError, SearchErrorKind};

/// A definition as it applies to one resource type: the expression narrowed to that type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundParameter {
    /// The definition.
    pub def: Arc<SearchParameterDef>,
    /// The resource type it is bound to.
    pub resource_type: String,
    /// The expression's branches for this type, joined again with `|` (None when the
    /// parameter has no expression).
    pub expression: Option<String>,
}

impl BoundParameter {
    /// The parameter code.
    pub fn code(&self) -> &str {
        &self.def.code
    }

    /// The parameter type.
    pub fn kind(&self) -> ParamType {
        self.def.param_type
    }
}

/// Every search parameter by resource type and code, plus the definitions by URL.
#[derive(Debug, Clone)]
pub struct SearchParameterRegistry {
    resource_types: BTreeMap<String, bool>,
    by_type: HashMap<String, BTreeMap<String, Arc<BoundParameter>>>,
    by_url: HashMap<String, Arc<SearchParameterDef>>,
}

impl SearchParameterRegistry {
    /// The registry of the 1,400 R4 definitions.
    pub fn r4() -> Self {
        let mut registry = Self::empty();
        for def in vigil_model::schema::search_parameters() {
            registry.add(def.clone());
        }
        registry
    }

    /// A registry knowing the R4 resource types but no parameter.
    pub fn empty() -> Self {
        let schema = vigil_model::schema::r4();
        let resource_types = schema
            .resource_types()
            .map(|name| (name.to_owned(), schema.is_subtype(name, "DomainResource")))
            .collect();
        SearchParameterRegistry {
            resource_types,
            by_type: HashMap::new(),
            by_url: HashMap::new(),
        }
    }

    /// Adds (or replaces, by URL and by code per type) a definition.
    pub fn add(&mut self, def: SearchParameterDef) {
        let def = Arc::new(def);
        self.by_url.insert(def.url.clone(), def.clone());
        let targets: Vec<String> = def
            .base
            .iter()
            .flat_map(|base| match base.as_str() {
                "Resource" => self.resource_types.keys().cloned().collect::<Vec<_>>(),
                "DomainResource" => self
                    .resource_types
                    .iter()
                    .filter(|(_, domain)| **domain)
                    .map(|(name, _)| name.clone())
                    .collect(),
                other => vec![other.to_owned()],
            })
            .collect();
        for resource_type in targets {
            let expression = def
                .expression
                .as_deref()
                .map(|source| type_filters(&narrow_expression(source, &resource_type)));
            let bound = BoundParameter {
                def: def.clone(),
                resource_type: resource_type.clone(),
                expression,
            };
            self.by_type
                .entry(resource_type)
                .or_default()
                .insert(def.code.clone(), Arc::new(bound));
        }
    }

    /// Adds a SearchParameter resource (as POSTed by a client).
    pub fn add_resource(&mut self, resource: &Value) -> Result<(), SearchError> {
        let def: SearchParameterDef =
            serde_json::from_value(resource.clone()).map_err(|error| {
                SearchError::new(
                    SearchErrorKind::InvalidDefinition,
                    None,
                    format!("SearchParameter: {error}"),
                )
            })?;
        self.add(def);
        Ok(())
    }

    /// The parameter `code` of `resource_type`.
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<BoundParameter>> {
        self.by_type.get(resource_type)?.get(code)
    }

    /// Every parameter of `resource_type`, by code.
    pub fn parameters(&self, resource_type: &str) -> impl Iterator<Item = &Arc<BoundParameter>> {
        self.by_type
            .get(resource_type)
            .into_iter()
            .flat_map(|params| params.values())
    }

    /// A definition by canonical URL.
    pub fn by_url(&self, url: &str) -> Option<&Arc<SearchParameterDef>> {
        self.by_url.get(url)
    }

    /// Whether `name` is a concrete R4 resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.resource_types.contains_key(name)
    }

    /// The concrete resource types, sorted.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resource_types.keys().map(String::as_str)
    }

    /// Number of distinct definitions.
    pub fn definition_count(&self) -> usize {
        self.by_url.len()
    }
}

/// Keeps the top-level `|` branches of `source` that apply to `resource_type`: those starting
/// (after opening parentheses) with `resource_type.`, and those not starting with a type name
/// at all. `Resource.` and `DomainResource.` prefixes are rewritten to the type.
pub fn narrow_expression(source: &str, resource_type: &str) -> String {
    let branches = split_top_level_union(source);
    if branches.len() == 1 {
        return rewrite_generic_root(source.trim(), resource_type);
    }
    let kept: Vec<String> = branches
        .iter()
        .filter(|branch| match leading_type(branch) {
            Some(name) => name == resource_type || name == "Resource" || name == "DomainResource",
            None => true,
        })
        .map(|branch| rewrite_generic_root(branch.trim(), resource_type))
        .collect();
    if kept.is_empty() {
        source.trim().to_owned()
    } else {
        kept.join(" | ")
    }
}

/// R4 search expressions use `as` on paths that can select several items
/// (`Observation.component.value as CodeableConcept`), which FHIRPath N1 makes an error; the
/// intent is a type filter, so `X as T` and `X.as(T)` on a plain path become `X.ofType(T)`.
pub fn type_filters(expression: &str) -> String {
    static PATTERNS: std::sync::OnceLock<Option<[regex::Regex; 2]>> = std::sync::OnceLock::new();
    let Some([infix, call]) = PATTERNS.get_or_init(|| {
        let infix =
            regex::Regex::new(r"(^|\(|\|\s)\s*([A-Za-z][A-Za-z0-9_.]*) as ([A-Za-z][A-Za-z0-9_]*)")
                .ok()?;
        let call = regex::Regex::new(r"\.as\(([A-Za-z][A-Za-z0-9_]*)\)").ok()?;
        Some([infix, call])
    }) else {
        return expression.to_owned();
    };
    let rewritten = infix.replace_all(expression, "$1$2.ofType($3)");
    call.replace_all(&rewritten, ".ofType($1)").into_owned()
}

fn rewrite_generic_root(branch: &str, resource_type: &str) -> String {
    let open = branch.len() - branch.trim_start_matches('(').len();
    let rest = &branch[open..];
    for generic in ["DomainResource.", "Resource."] {
        if let Some(tail) = rest.strip_prefix(generic) {
            return format!("{}{resource_type}.{tail}", &branch[..open]);
        }
    }
    branch.to_owned()
}

/// The capitalised identifier a branch starts with (after parentheses), if followed by `.`.
fn leading_type(branch: &str) -> Option<&str> {
    let rest = branch.trim().trim_start_matches('(').trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let starts_upper = name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    (starts_upper && rest[end..].starts_with('.')).then_some(name)
}

/// Splits on `|` outside parentheses, brackets and string literals.
fn split_top_level_union(source: &str) -> Vec<&str> {
    let mut branches = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (at, c) in source.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '|' if depth == 0 => {
                branches.push(&source[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    branches.push(&source[start..]);
    branches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_holds_all_r4_definitions() {
        let registry = SearchParameterRegistry::r4();
        assert_eq!(registry.definition_count(), 1400);
        assert!(registry.is_resource_type("Patient"));
        assert!(!registry.is_resource_type("DomainResource"));
        let code = registry.get("Observation", "code").unwrap();
        assert_eq!(code.expression.as_deref(), Some("Observation.code"));
        assert_eq!(
            registry
                .get("Patient", "_lastUpdated")
                .unwrap()
                .expression
                .as_deref(),
            Some("Patient.meta.lastUpdated")
        );
        // DomainResource parameters do not apply to Bundle.
        assert!(registry.get("Bundle", "_text").is_none());
        assert!(registry.get("Patient", "_text").is_some());
    }

    #[test]
    fn as_on_paths_becomes_a_type_filter() {
        let cases = [
            (
                "(Observation.value as CodeableConcept) | (Observation.component.value as CodeableConcept)",
                "(Observation.value.ofType(CodeableConcept)) | (Observation.component.value.ofType(CodeableConcept))",
            ),
            (
                "Observation.value as Quantity",
                "Observation.value.ofType(Quantity)",
            ),
            (
                "ActivityDefinition.useContext.value.as(Quantity)",
                "ActivityDefinition.useContext.value.ofType(Quantity)",
            ),
            (
                "Patient.name.where(use = 'as')",
                "Patient.name.where(use = 'as')",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(type_filters(source), expected);
        }
    }

    #[test]
    fn narrowing_keeps_the_type_branches() {
        let cases = [
            ("Patient.name", "Patient", "Patient.name"),
            (
                "AllergyIntolerance.code | Condition.code | (DeviceRequest.code as CodeableConcept)",
                "Condition",
                "Condition.code",
            ),
            (
                "AllergyIntolerance.code | Condition.code | (DeviceRequest.code as CodeableConcept)",
                "DeviceRequest",
                "(DeviceRequest.code as CodeableConcept)",
            ),
            ("Resource.meta.tag", "Observation", "Observation.meta.tag"),
            (
                "Account.subject.where(resolve() is Patient) | Condition.subject.where(resolve() is Patient)",
                "Condition",
                "Condition.subject.where(resolve() is Patient)",
            ),
            ("a | 'x|y'", "Patient", "a | 'x|y'"),
        ];
        for (source, resource_type, expected) in cases {
            assert_eq!(
                narrow_expression(source, resource_type),
                expected,
                "{source} for {resource_type}"
            );
        }
    }
}
