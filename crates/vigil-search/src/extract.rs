//! Index extraction at write time: every search parameter of a resource type has its FHIRPath
//! expression compiled once ([`Extractor::new`]); [`Extractor::index_rows`] evaluates them over
//! a resource and turns what they select into [`IndexRow`]s.
//!
//! `resolve()` in expressions such as `Observation.subject.where(resolve() is Patient)` is
//! answered without the store: a reference `Patient/123` (or an absolute URL ending in it)
//! resolves to a stub `{"resourceType": "Patient", "id": "123"}`, which is all the type test
//! needs, and keeps extraction pure and independent of write order.
//!
//! A resource whose rows would exceed [`MAX_INDEX_ROWS`] is refused
//! ([`SearchErrorKind::TooManyRows`], answered 422) as soon as the limit is passed, and the work
//! done (FHIRPath items selected, rows produced, duplicate comparisons) is counted as
//! [`Stage::Extract`] units.

use std::collections::HashMap;

use serde_json::{Value, json};
use vigil_fhirpath::{Context, Expression, Item, Node, ResolveHook, item_to_json};
use vigil_model::work::{self, Stage};
use vigil_store::{IndexRow, IndexValue};

use crate::error::{SearchError, SearchErrorKind};
use crate::index::composite::composite_values;
use crate::index::{
    ParsedReference, RowSet, Selected, parse_reference, quantity_values, rows_for, token_values,
};
use crate::registry::{BoundParameter, ParamType, SearchParameterRegistry, type_filters};

/// The most index rows one resource may have (the full-text row aside). More would be costly to
/// write, to replace on every update and to search; such a resource is refused with
/// [`SearchErrorKind::TooManyRows`].
pub const MAX_INDEX_ROWS: usize = 20_000;

/// One parameter's compiled expression.
struct Program {
    code: String,
    kind: ParamType,
    expression: Expression,
    /// For composites: each component's type and expression (relative to a selected element).
    components: Vec<(ParamType, Expression)>,
}

/// A definition whose expression could not be compiled (reported, not fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDefinition {
    /// Resource type.
    pub resource_type: String,
    /// Parameter code.
    pub code: String,
    /// Why.
    pub reason: String,
}

/// The compiled extraction programs of every resource type.
pub struct Extractor {
    programs: HashMap<String, Vec<Program>>,
    skipped: Vec<SkippedDefinition>,
}

/// The parameter name of the full-text row (`_content` and `_text` both read it).
pub const FULL_TEXT: &str = "_content";

/// Parameters not extracted through expressions: `_id` is the resource's key column.
const NOT_EXTRACTED: [&str; 1] = ["_id"];

struct StubResolver;

impl ResolveHook for StubResolver {
    fn resolve(&self, reference: &str) -> Result<Option<Value>, String> {
        let local = match parse_reference(reference) {
            ParsedReference::Local { resource_type, id } => Some((resource_type, id)),
            ParsedReference::Url(url) => {
                let mut tail = url.trim_end_matches('/').rsplit('/');
                match (tail.next(), tail.next()) {
                    (Some(id), Some(resource_type)) if url.contains("://") => {
                        Some((resource_type, id))
                    }
                    _ => None,
                }
            }
            ParsedReference::Contained => None,
        };
        let stub = local
            .filter(|(resource_type, _)| vigil_model::schema::r4().is_resource_type(resource_type))
            .map(|(resource_type, id)| json!({"resourceType": resource_type, "id": id}));
        Ok(stub)
    }
}

impl Extractor {
    /// Compiles the expression of every parameter in the registry.
    pub fn new(registry: &SearchParameterRegistry) -> Self {
        let mut programs: HashMap<String, Vec<Program>> = HashMap::new();
        let mut skipped = Vec::new();
        for resource_type in registry.resource_types() {
            let list = programs.entry(resource_type.to_owned()).or_default();
            for bound in registry.parameters(resource_type) {
                match compile(bound, registry) {
                    Ok(Some(program)) => list.push(program),
                    Ok(None) => {}
                    Err(reason) => skipped.push(SkippedDefinition {
                        resource_type: resource_type.to_owned(),
                        code: bound.code().to_owned(),
                        reason,
                    }),
                }
            }
        }
        Extractor { programs, skipped }
    }

    /// Definitions left out because their expression does not compile.
    pub fn skipped(&self) -> &[SkippedDefinition] {
        &self.skipped
    }

    /// The index rows of a resource of `resource_type`, with its full-text row when
    /// `full_text` is on.
    pub fn index_rows(
        &self,
        resource_type: &str,
        resource: &Value,
        full_text: bool,
    ) -> Result<Vec<IndexRow>, SearchError> {
        let mut rows = self
            .row_set(resource_type, resource, |_| true, Some(MAX_INDEX_ROWS))?
            .into_rows();
        if full_text {
            rows.push(IndexRow {
                param: FULL_TEXT.to_owned(),
                value: crate::full_text::index_value(resource),
            });
        }
        Ok(rows)
    }

    /// The index rows of one parameter (for sort keys of cursors).
    pub fn parameter_rows(
        &self,
        resource_type: &str,
        code: &str,
        resource: &Value,
    ) -> Result<Vec<IndexRow>, SearchError> {
        Ok(self
            .row_set(
                resource_type,
                resource,
                |program| program.code == code,
                None,
            )?
            .into_rows())
    }

    /// The rows as a [`RowSet`] (which counts its comparisons, for the linearity tests), at
    /// most `max_rows` of them. The work done is added to [`Stage::Extract`].
    fn row_set(
        &self,
        resource_type: &str,
        resource: &Value,
        wanted: impl Fn(&Program) -> bool,
        max_rows: Option<usize>,
    ) -> Result<RowSet, SearchError> {
        let mut items_selected = 0;
        let result = self.fill(
            resource_type,
            resource,
            wanted,
            max_rows,
            &mut items_selected,
        );
        let rows = result
            .as_ref()
            .map_or(0, |rows| rows.len() + rows.comparisons());
        work::add(Stage::Extract, (items_selected + rows) as u64);
        result
    }

    fn fill(
        &self,
        resource_type: &str,
        resource: &Value,
        wanted: impl Fn(&Program) -> bool,
        max_rows: Option<usize>,
        items_selected: &mut usize,
    ) -> Result<RowSet, SearchError> {
        let Some(programs) = self.programs.get(resource_type) else {
            return Err(SearchError::new(
                SearchErrorKind::UnknownResourceType,
                None,
                format!("'{resource_type}' is not a resource type"),
            ));
        };
        let resolver = StubResolver;
        let context = Context::new(resource).resolver(&resolver);
        let mut rows = RowSet::default();
        for program in programs.iter().filter(|program| wanted(program)) {
            let items = program.expression.evaluate(&context).map_err(|error| {
                SearchError::internal(
                    SearchErrorKind::Extraction,
                    format!(
                        "{resource_type}.{}: {} ({error})",
                        program.code,
                        program.expression.source()
                    ),
                )
            })?;
            *items_selected += items.len();
            if program.kind == ParamType::Composite {
                for item in &items {
                    if let Item::Node(Node {
                        value: Some(element),
                        ty,
                        ..
                    }) = item
                    {
                        composite_rows(program, resource, element, *ty, &mut rows)?;
                        check_row_count(resource_type, program, &rows, max_rows)?;
                    }
                }
                continue;
            }
            for item in &items {
                if let Some(selected) = selected(item) {
                    rows_for(&program.code, program.kind, &selected, &mut rows);
                    check_row_count(resource_type, program, &rows, max_rows)?;
                }
            }
        }
        Ok(rows)
    }
}

/// Stops extraction once `rows` holds more than `max_rows`, naming the parameter that passed it.
fn check_row_count(
    resource_type: &str,
    program: &Program,
    rows: &RowSet,
    max_rows: Option<usize>,
) -> Result<(), SearchError> {
    match max_rows {
        Some(max) if rows.len() > max => Err(SearchError::new(
            SearchErrorKind::TooManyRows,
            // The element path whose rows passed the limit (as the expression).
            Some(program.expression.source()),
            format!(
                "this {resource_type} needs more than {max} search index rows (the limit per \
                 resource, passed at parameter '{}', {}): too large to serve well",
                program.code,
                program.expression.source()
            ),
        )),
        _ => Ok(()),
    }
}

fn compile(
    bound: &BoundParameter,
    registry: &SearchParameterRegistry,
) -> Result<Option<Program>, String> {
    let Some(source) = bound.expression.as_deref() else {
        return Ok(None);
    };
    if NOT_EXTRACTED.contains(&bound.code()) || bound.kind() == ParamType::Special {
        return Ok(None);
    }
    let expression = Expression::compile(source).map_err(|error| format!("{source}: {error}"))?;
    let mut components = Vec::new();
    if bound.kind() == ParamType::Composite {
        for component in &bound.def.component {
            let kind = registry
                .by_url(&component.definition)
                .map(|def| def.param_type)
                .ok_or_else(|| {
                    format!(
                        "component {} is not a known SearchParameter",
                        component.definition
                    )
                })?;
            let source = type_filters(&component.expression);
            let compiled =
                Expression::compile(&source).map_err(|error| format!("{source}: {error}"))?;
            components.push((kind, compiled));
        }
        let kinds: Vec<ParamType> = components.iter().map(|(kind, _)| *kind).collect();
        if !matches!(
            kinds.as_slice(),
            [ParamType::Token, ParamType::Token | ParamType::Quantity]
        ) {
            return Err(format!(
                "composite of {kinds:?} is not supported (only token$token and token$quantity)"
            ));
        }
    }
    Ok(Some(Program {
        code: bound.code().to_owned(),
        kind: bound.kind(),
        expression,
        components,
    }))
}

/// The composite rows of one selected element: each component evaluated with the element as
/// focus.
fn composite_rows(
    program: &Program,
    resource: &Value,
    element: &Value,
    fhir_type: Option<&str>,
    rows: &mut RowSet,
) -> Result<(), SearchError> {
    let resolver = StubResolver;
    let context = Context::new(resource)
        .resolver(&resolver)
        .focus(element, fhir_type);
    let mut parts: Vec<Vec<IndexValue>> = Vec::with_capacity(program.components.len());
    for (kind, expression) in &program.components {
        let items = expression.evaluate(&context).map_err(|error| {
            SearchError::internal(
                SearchErrorKind::Extraction,
                format!("{}: {} ({error})", program.code, expression.source()),
            )
        })?;
        let mut values = Vec::new();
        for item in &items {
            if let Some(selected) = selected(item) {
                match kind {
                    ParamType::Token => values.extend(
                        token_values(&selected)
                            .into_iter()
                            .filter(|(suffix, _)| suffix.is_empty())
                            .map(|(_, v)| v),
                    ),
                    ParamType::Quantity => values.extend(quantity_values(&selected)),
                    _ => {}
                }
            }
        }
        parts.push(values);
    }
    if let [first, second] = parts.as_slice() {
        for value in composite_values(first, second) {
            let row = IndexRow {
                param: program.code.clone(),
                value,
            };
            rows.push(row);
        }
    }
    Ok(())
}

/// What the engine selected, as index conversion reads it.
fn selected<'a>(item: &Item<'a>) -> Option<Selected<'a>> {
    Some(match item {
        Item::Node(node) => Selected::Node {
            value: node.value?,
            fhir_type: node.ty,
        },
        Item::String(text) => Selected::String(text.to_string()),
        Item::Boolean(flag) => Selected::Boolean(*flag),
        Item::Integer(number) => Selected::Number(number.to_string()),
        Item::Decimal(number) => Selected::Number(number.to_string()),
        Item::Temporal(_) => Selected::DateTime(item_to_json(item).as_str()?.to_owned()),
        Item::Quantity(quantity) => Selected::Quantity {
            value: quantity.value.to_string(),
            unit: quantity.unit.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SearchParameterRegistry;

    /// The rows and row comparisons of a Patient with `n` distinct names (each also repeated
    /// once, so half the rows are duplicates).
    fn work(extractor: &Extractor, n: usize) -> (usize, usize) {
        let names: Vec<Value> = (0..n)
            .flat_map(|i| {
                let name = serde_json::json!({"family": format!("Family{i}"), "given": [format!("Given{i}")]});
                [name.clone(), name]
            })
            .collect();
        let patient = serde_json::json!({"resourceType": "Patient", "name": names});
        let rows = extractor
            .row_set("Patient", &patient, |_| true, None)
            .unwrap();
        (rows.len(), rows.comparisons())
    }

    #[test]
    fn extraction_work_grows_linearly_with_the_input() {
        let extractor = Extractor::new(&SearchParameterRegistry::r4());
        let (rows_small, compared_small) = work(&extractor, 2_000);
        let (rows_large, compared_large) = work(&extractor, 4_000);
        assert!(
            rows_large >= 2 * rows_small - 10,
            "{rows_small} -> {rows_large}"
        );
        // Each duplicate costs one comparison (plus rare hash collisions): twice the input,
        // about twice the comparisons; a scan per row would make it four times.
        assert!(
            compared_small >= 2_000,
            "duplicates are compared: {compared_small}"
        );
        assert!(
            compared_large <= 2 * compared_small + compared_small / 10,
            "{compared_small} -> {compared_large}"
        );
    }

    /// A Patient with `n` items in one repeating element.
    fn patient(element: &str, n: usize) -> Value {
        let items: Vec<Value> = (0..n)
            .map(|i| match element {
                "name" => {
                    serde_json::json!({"family": format!("F{i}"), "given": [format!("G{i}")]})
                }
                "identifier" => serde_json::json!({"system": "urn:x", "value": format!("v{i}")}),
                _ => serde_json::json!({"system": "phone", "value": format!("+41 {i}")}),
            })
            .collect();
        serde_json::json!({"resourceType": "Patient", element: items})
    }

    #[test]
    fn extraction_work_units_double_with_the_input() {
        let extractor = Extractor::new(&SearchParameterRegistry::r4());
        for element in ["name", "identifier", "telecom"] {
            let units = |n| {
                let before = work::local(Stage::Extract);
                let rows = extractor
                    .index_rows("Patient", &patient(element, n), false)
                    .unwrap();
                assert!(rows.len() >= n, "{element}: {} rows", rows.len());
                work::local(Stage::Extract) - before
            };
            let (small, large) = (units(1_000), units(2_000));
            let ratio = large as f64 / small as f64;
            assert!(
                (1.6..=2.6).contains(&ratio),
                "{element}: {small} -> {large} units"
            );
        }
    }

    #[test]
    fn a_resource_over_the_row_limit_is_refused_naming_the_parameter() {
        let extractor = Extractor::new(&SearchParameterRegistry::r4());
        let error = extractor
            .index_rows("Patient", &patient("identifier", MAX_INDEX_ROWS + 1), false)
            .unwrap_err();
        assert_eq!(error.kind(), &SearchErrorKind::TooManyRows);
        assert!(error.is_client_error());
        assert_eq!(error.parameter(), Some("Patient.identifier"));
        assert!(error.message().contains("more than 20000"), "{error}");
        // Sort keys of one parameter are not limited (stored resources are read back).
        let rows = extractor
            .parameter_rows(
                "Patient",
                "identifier",
                &patient("identifier", MAX_INDEX_ROWS + 1),
            )
            .unwrap();
        assert_eq!(rows.len(), MAX_INDEX_ROWS + 1);
        // At the limit it is fine: 10,000 identifiers are 10,000 rows.
        let rows = extractor
            .index_rows("Patient", &patient("identifier", 10_000), false)
            .unwrap();
        assert!(rows.len() <= MAX_INDEX_ROWS);
    }
}
