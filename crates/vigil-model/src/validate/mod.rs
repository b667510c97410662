//! Structural validation of FHIR R4 JSON against the generated schema.
//!
//! [`validate_resource`] walks a parsed resource once, driven by the schema's per-type property
//! maps, and reports every problem as an [`Issue`] naming the element path:
//!
//! - the resource is a JSON object with a known, concrete `resourceType` (`not-supported`
//!   otherwise);
//! - every property is an element of its type (`structure`), `_name` primitive extensions
//!   included; choice elements use an allowed type suffix and appear once;
//! - JSON types and cardinality: arrays exactly where max > 1, no empty objects, arrays or
//!   strings, `null` only inside primitive arrays where the aligned `_name` array has content;
//! - every primitive's format (see [`crate::primitive`]) (`value`, or `structure` for a wrong
//!   JSON type);
//! - required elements (`required`) and codes of enumerable required bindings (`code-invalid`);
//! - resources inside resources (`contained`, `Bundle.entry.resource`,
//!   `Parameters.parameter.resource`) by their own type; contained resources may not nest.
//!
//! Invariants (FHIRPath constraints) are not checked here. Paths are only rendered when an
//! issue is reported, so a valid resource is checked without allocating.
//!
//! Limits (issue 20): an array of more than [`MAX_ARRAY_ITEMS`] items is reported as
//! `too-costly` without walking its items (the service answers 413), and at most
//! [`MAX_ISSUES`] errors are reported, so neither the work nor the OperationOutcome grows
//! faster than the input. The work done is counted as [`Stage::Validate`] units.

mod path;

use serde_json::{Map, Value};

use crate::outcome::{Issue, IssueType};
use crate::primitive::{Primitive, PrimitiveError};
use crate::schema::{self, ElementDef, Schema, TypeDef, TypeKind};
use crate::work::{self, Stage};
use path::{Path, Segment};

/// How many allowed codes a `code-invalid` message lists before "...".
const CODES_SHOWN: usize = 12;

/// Objects nested deeper than this are reported instead of walked. Parsed JSON stops at 128
/// levels already; this guards values built in code (no stack overflow on any input).
const MAX_DEPTH: u32 = 200;

/// The most items one array of a resource may hold (`Patient.name`, `Bundle.entry`, a
/// primitive's `_given`, ...). A longer array is a `too-costly` issue at its path: it would be
/// valid FHIR, but too large to index, store and serve well.
pub const MAX_ARRAY_ITEMS: usize = 10_000;

/// The most errors reported for one resource; the rest are summed up in one last issue, so a
/// body of many small mistakes cannot make an OperationOutcome many times its own size.
pub const MAX_ISSUES: usize = 100;

/// Validates a parsed resource; an empty list means valid.
pub fn validate_resource(value: &Value) -> Vec<Issue> {
    let mut validator = Validator {
        schema: schema::r4(),
        issues: Vec::new(),
        path: Path::default(),
        contained_depth: 0,
        depth: 0,
        units: 0,
        unreported: 0,
    };
    validator.resource(value);
    work::add(Stage::Validate, validator.units);
    if validator.unreported > 0 {
        let msg = format!(
            "{} more issues not reported (at most {MAX_ISSUES} are)",
            validator.unreported
        );
        validator.issues.push(Issue::error(IssueType::Invalid, msg));
    }
    validator.issues
}

struct Validator<'a> {
    schema: &'static Schema,
    issues: Vec<Issue>,
    path: Path<'a>,
    contained_depth: u32,
    depth: u32,
    /// Work units: values visited plus path segments rendered.
    units: u64,
    /// Errors found past [`MAX_ISSUES`].
    unreported: usize,
}

impl<'a> Validator<'a> {
    fn report(&mut self, code: IssueType, child: Option<&str>, diagnostics: String) {
        if self.issues.len() >= MAX_ISSUES {
            self.unreported += 1;
            return;
        }
        self.units += self.path.len() as u64 + 1;
        let mut expression = self.path.render(child);
        if expression.is_empty() {
            expression.push_str("resourceType");
        }
        self.issues
            .push(Issue::error(code, diagnostics).at(expression));
    }

    /// A resource: the root, or a value of an element typed `Resource`.
    fn resource(&mut self, value: &'a Value) {
        let Value::Object(obj) = value else {
            self.report(
                IssueType::Structure,
                None,
                "a resource must be a JSON object".into(),
            );
            return;
        };
        let name = match obj.get("resourceType") {
            Some(Value::String(name)) => name.as_str(),
            Some(_) => {
                let msg = "resourceType must be a string".to_string();
                self.report(IssueType::Structure, Some("resourceType"), msg);
                return;
            }
            None => {
                let msg = "missing resourceType".to_string();
                self.report(IssueType::Invalid, Some("resourceType"), msg);
                return;
            }
        };
        let Some(ty) = self
            .schema
            .type_def(name)
            .filter(|_| self.schema.is_resource_type(name))
        else {
            let msg = format!("unknown resource type '{name}'");
            self.report(IssueType::NotSupported, Some("resourceType"), msg);
            return;
        };
        let root = self.path.is_empty();
        if root {
            self.path.push(Segment::Name(name));
        }
        self.object(obj, ty, true);
        if root {
            self.path.pop();
        }
    }

    /// The properties of one JSON object of type `ty`.
    fn object(&mut self, obj: &'a Map<String, Value>, ty: &'static TypeDef, is_resource: bool) {
        if obj.is_empty() {
            self.report(
                IssueType::Structure,
                None,
                "empty objects are not allowed".into(),
            );
            return;
        }
        if self.depth >= MAX_DEPTH {
            let msg = format!("nested deeper than {MAX_DEPTH} objects");
            self.report(IssueType::TooCostly, None, msg);
            return;
        }
        self.depth += 1;
        self.units += 1;
        self.properties(obj, ty, is_resource);
        self.depth -= 1;
    }

    /// The properties of a non-empty object, then its missing required elements.
    fn properties(&mut self, obj: &'a Map<String, Value>, ty: &'static TypeDef, is_resource: bool) {
        let mut present = 0u64;
        let mut values = 0u64;
        for (key, value) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            if let Some(base) = key.strip_prefix('_') {
                present |= self.primitive_extension(obj, key, base, value, ty);
                continue;
            }
            let Some(prop) = ty.lookup(key) else {
                let msg = format!("unknown element '{key}' in {}", ty.name);
                self.report(IssueType::Structure, Some(key), msg);
                continue;
            };
            let element = &ty.elements[usize::from(prop.element)];
            let bit = 1u64 << prop.element;
            if values & bit != 0 && element.is_choice {
                let msg = format!("only one value of {} is allowed", element.name);
                self.report(IssueType::Structure, Some(key), msg);
            }
            values |= bit;
            present |= bit;
            if element.name == "contained" && self.contained_depth > 0 {
                let msg = "dom-2: a contained resource SHALL NOT contain resources".to_string();
                self.report(IssueType::Invariant, Some(key), msg);
                continue;
            }
            let target = self
                .schema
                .element_type(&element.types[usize::from(prop.type_index)]);
            self.path.push(Segment::Name(key));
            self.element(obj, key, value, element, target);
            self.path.pop();
        }
        let missing = ty.required & !present;
        if missing != 0 {
            self.missing(ty, missing);
        }
    }

    #[cold]
    fn missing(&mut self, ty: &TypeDef, missing: u64) {
        for (i, element) in ty.elements.iter().enumerate() {
            if missing & (1 << i) != 0 {
                let msg = format!(
                    "missing required element '{}' (min {})",
                    element.name, element.min
                );
                self.report(IssueType::Required, Some(&element.name), msg);
            }
        }
    }

    /// The value of one element (array or single, by cardinality).
    fn element(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &'a str,
        value: &'a Value,
        element: &'static ElementDef,
        target: &'static TypeDef,
    ) {
        match (element.is_array(), value) {
            (true, Value::Array(items)) => {
                if items.is_empty() {
                    self.report(
                        IssueType::Structure,
                        None,
                        "empty arrays are not allowed".into(),
                    );
                }
                if items.len() > MAX_ARRAY_ITEMS {
                    self.too_many_items(items.len());
                    return;
                }
                let is_contained = element.name == "contained";
                self.contained_depth += u32::from(is_contained);
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Segment::Index(i));
                    if item.is_null() {
                        self.null_item(obj, key, i, target);
                    } else {
                        self.single(item, element, target);
                    }
                    self.path.pop();
                }
                self.contained_depth -= u32::from(is_contained);
            }
            (true, _) => {
                let msg = format!("{} repeats (max *): it must be an array", element.name);
                self.report(IssueType::Structure, None, msg);
            }
            (false, Value::Array(_)) => {
                let msg = format!("{} has max 1: it must not be an array", element.name);
                self.report(IssueType::Structure, None, msg);
            }
            (false, Value::Null) => {
                self.report(
                    IssueType::Structure,
                    None,
                    "null is not allowed here".into(),
                );
            }
            (false, _) => self.single(value, element, target),
        }
    }

    /// A `null` inside an array: only a placeholder aligned with a `_name` array entry.
    #[cold]
    fn null_item(&mut self, obj: &Map<String, Value>, key: &str, i: usize, target: &TypeDef) {
        let aligned = target.kind == TypeKind::Primitive
            && matches!(obj.get(&format!("_{key}")), Some(Value::Array(ext))
                if ext.get(i).is_some_and(|e| !e.is_null()));
        if !aligned {
            let msg = "null is only allowed in a primitive array where _element has content";
            self.report(IssueType::Structure, None, msg.into());
        }
    }

    /// An array over [`MAX_ARRAY_ITEMS`]: reported, its items left unchecked.
    #[cold]
    fn too_many_items(&mut self, count: usize) {
        let msg = format!(
            "{count} items in one array: at most {MAX_ARRAY_ITEMS} are accepted (too large to \
             serve well)"
        );
        self.report(IssueType::TooCostly, None, msg);
    }

    /// One (non-array) value of an element.
    fn single(&mut self, value: &'a Value, element: &'static ElementDef, target: &'static TypeDef) {
        self.units += 1;
        match target.kind {
            TypeKind::Primitive => {
                let Some(primitive) = target.primitive else {
                    return;
                };
                if let Err(err) = primitive.check(value) {
                    self.bad_primitive(primitive, err, value);
                } else if let (Primitive::Code, Some(binding), Value::String(code)) =
                    (primitive, &element.binding, value)
                    && !binding.contains(code)
                {
                    let shown: Vec<&str> = binding
                        .codes
                        .iter()
                        .take(CODES_SHOWN)
                        .map(String::as_str)
                        .collect();
                    let more = if binding.codes.len() > CODES_SHOWN {
                        ", ..."
                    } else {
                        ""
                    };
                    let msg = format!(
                        "'{code}' is not a code of the required value set {} (allowed: {}{more})",
                        binding.value_set,
                        shown.join(", ")
                    );
                    self.report(IssueType::CodeInvalid, None, msg);
                }
            }
            TypeKind::Resource => self.resource(value),
            TypeKind::Complex => match value {
                Value::Object(obj) => self.object(obj, target, false),
                _ => {
                    let msg = format!("{} must be a JSON object ({})", element.name, target.name);
                    self.report(IssueType::Structure, None, msg);
                }
            },
        }
    }

    #[cold]
    fn bad_primitive(&mut self, primitive: Primitive, err: PrimitiveError, value: &Value) {
        let code = match err {
            PrimitiveError::WrongJsonType { .. } => IssueType::Structure,
            PrimitiveError::BadFormat { .. } => IssueType::Value,
            PrimitiveError::TooLong => IssueType::TooLong,
        };
        let shown = match value {
            Value::String(s) => {
                let cut: String = s.chars().take(40).collect();
                format!("\"{cut}\"{}", if cut.len() < s.len() { "..." } else { "" })
            }
            other => other.to_string().chars().take(40).collect(),
        };
        let msg = format!("{shown}: {} {err}", primitive.name());
        self.report(code, None, msg);
    }

    /// `_name`: the id/extensions of primitive element `name`; returns the presence bit.
    fn primitive_extension(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &'a str,
        base: &str,
        value: &'a Value,
        ty: &'static TypeDef,
    ) -> u64 {
        let Some(prop) = ty.lookup(base) else {
            let msg = format!("unknown element '{key}' in {}", ty.name);
            self.report(IssueType::Structure, Some(key), msg);
            return 0;
        };
        let element = &ty.elements[usize::from(prop.element)];
        let target = self
            .schema
            .element_type(&element.types[usize::from(prop.type_index)]);
        if target.kind != TypeKind::Primitive {
            let msg = format!("'{key}' is only allowed for primitive elements");
            self.report(IssueType::Structure, Some(key), msg);
            return 0;
        }
        let Some(element_type) = self.schema.type_def("Element") else {
            return 0;
        };
        self.path.push(Segment::Name(key));
        match (element.is_array(), value) {
            (true, Value::Array(items)) if items.len() > MAX_ARRAY_ITEMS => {
                self.too_many_items(items.len());
            }
            (true, Value::Array(items)) => {
                self.aligned_array(obj.get(base), items);
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Segment::Index(i));
                    self.units += 1;
                    match item {
                        Value::Null => {}
                        Value::Object(ext) => self.object(ext, element_type, false),
                        _ => {
                            let msg = "primitive extension entries must be objects or null";
                            self.report(IssueType::Structure, None, msg.into());
                        }
                    }
                    self.path.pop();
                }
            }
            (false, Value::Object(ext)) => self.object(ext, element_type, false),
            (true, _) => {
                let msg = format!("{key} must be an array aligned with {base}");
                self.report(IssueType::Structure, None, msg);
            }
            (false, _) => {
                let msg = format!("{key} must be an object (id, extension)");
                self.report(IssueType::Structure, None, msg);
            }
        }
        self.path.pop();
        1u64 << prop.element
    }

    /// `_given` must have as many entries as `given`; both may not be null at one index.
    fn aligned_array(&mut self, values: Option<&Value>, exts: &[Value]) {
        if exts.is_empty() {
            self.report(
                IssueType::Structure,
                None,
                "empty arrays are not allowed".into(),
            );
            return;
        }
        match values {
            None => {}
            Some(Value::Array(values)) if values.len() == exts.len() => {
                let both_null = values
                    .iter()
                    .zip(exts)
                    .position(|(v, e)| v.is_null() && e.is_null());
                if let Some(i) = both_null {
                    let msg = format!("entry {i} is null in both the value and the _ array");
                    self.report(IssueType::Structure, None, msg);
                }
            }
            Some(Value::Array(values)) => {
                let msg = format!(
                    "length {} does not match the {} values it extends",
                    exts.len(),
                    values.len()
                );
                self.report(IssueType::Structure, None, msg);
            }
            // The value array itself is reported as not being an array.
            Some(_) => {}
        }
    }
}
