//! Index extraction at write time: every search parameter of a resource type has its FHIRPath
//! expression compiled once ([`Extractor::new`]); [`Extractor::index_rows`] evaluates them over
//! a resource and turns what they select into [`IndexRow`]s.
//!
//! `resolve()` in expressions such as `Observation.subject.where(resolve() is Patient)` is
//! answered without the store: a reference `Patient/123` (or an absolute URL ending in it)
//! resolves to a stub `{"resourceType": "Patient", "id": "123"}`, which is all the type test
//! needs, and keeps extraction pure and independent of write order.

use std::collections::HashMap;

use serde_json::{Value, json};
use vigil_fhirpath::{Context, Expression, Item, ResolveHook, item_to_json};
use vigil_store::IndexRow;

use crate::error::{SearchError, SearchErrorKind};
use crate::index::{ParsedReference, Selected, parse_reference, rows_for};
use crate::registry::{BoundParameter, ParamType, SearchParameterRegistry};

/// One parameter's compiled expression.
struct Program {
    code: String,
    kind: ParamType,
    expression: Expression,
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
                match compile(bound) {
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

    /// The index rows of a resource of `resource_type`.
    pub fn index_rows(
        &self,
        resource_type: &str,
        resource: &Value,
    ) -> Result<Vec<IndexRow>, SearchError> {
        self.rows_where(resource_type, resource, |_| true)
    }

    /// The index rows of one parameter (for sort keys of cursors).
    pub fn parameter_rows(
        &self,
        resource_type: &str,
        code: &str,
        resource: &Value,
    ) -> Result<Vec<IndexRow>, SearchError> {
        self.rows_where(resource_type, resource, |program| program.code == code)
    }

    fn rows_where(
        &self,
        resource_type: &str,
        resource: &Value,
        wanted: impl Fn(&Program) -> bool,
    ) -> Result<Vec<IndexRow>, SearchError> {
        let Some(programs) = self.programs.get(resource_type) else {
            return Err(SearchError::new(
                SearchErrorKind::UnknownResourceType,
                None,
                format!("'{resource_type}' is not a resource type"),
            ));
        };
        let resolver = StubResolver;
        let context = Context::new(resource).resolver(&resolver);
        let mut rows = Vec::new();
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
            for item in &items {
                if let Some(selected) = selected(item) {
                    rows_for(&program.code, program.kind, &selected, &mut rows);
                }
            }
        }
        Ok(rows)
    }
}

fn compile(bound: &BoundParameter) -> Result<Option<Program>, String> {
    let Some(source) = bound.expression.as_deref() else {
        return Ok(None);
    };
    if NOT_EXTRACTED.contains(&bound.code())
        || matches!(bound.kind(), ParamType::Composite | ParamType::Special)
    {
        return Ok(None);
    }
    let expression = Expression::compile(source).map_err(|error| format!("{source}: {error}"))?;
    Ok(Some(Program {
        code: bound.code().to_owned(),
        kind: bound.kind(),
        expression,
    }))
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
