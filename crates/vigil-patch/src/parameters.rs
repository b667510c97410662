//! Reading a FHIRPath Patch: a `Parameters` resource with one `operation` parameter per
//! operation, whose parts are `type`, `path`, `name`, `value`, `index`, `source` and
//! `destination` (fhirpatch.html). Paths are compiled here, once, before any unit of work.
//!
//! A `value` part holds either a typed `value[x]` (with its `_value[x]` extensions, or a
//! `resource`), or nested `part`s naming the children of a complex value, which is how
//! anonymous types (`Patient.contact`, `Observation.component`) are written. Nested parts are
//! turned into JSON against the schema of the element they land in, so a repeating child
//! becomes an array and a choice child gets its typed JSON name.

use super::PatchError;
use super::types::{check_type, child_type, element_named, type_code_of_suffix};
use serde_json::{Map, Value};
use vigil_fhirpath::Expression;
use vigil_model::schema::TypeDef;

/// The five FHIRPath Patch operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

/// A value to put into the resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchValue {
    /// `valueHumanName`, `valueString` + `_valueString`, or a `resource`.
    Typed {
        type_code: String,
        value: Value,
        ext: Option<Value>,
    },
    /// Nested parts, one per child element (repeated for repeating children).
    Parts(Vec<(String, PatchValue)>),
}

impl PatchValue {
    /// The type code when the value is typed.
    pub(crate) fn type_code(&self) -> Option<&str> {
        match self {
            PatchValue::Typed { type_code, .. } => Some(type_code),
            PatchValue::Parts(_) => None,
        }
    }

    /// Every JSON value inside, and whether it is a bare `reference` string (`bare` says so of
    /// a typed value here; nested parts named `reference` are), for reference rewriting inside
    /// transactions.
    pub(crate) fn values_mut<'a>(&'a mut self, bare: bool, out: &mut Vec<(&'a mut Value, bool)>) {
        match self {
            PatchValue::Typed { value, .. } => out.push((value, bare)),
            PatchValue::Parts(parts) => {
                for (name, part) in parts {
                    part.values_mut(name == "reference", out);
                }
            }
        }
    }

    /// The JSON of the value and of its `_element` part, for an element of type `ty` (`None`
    /// when the schema does not say: then repeated names become arrays).
    pub(crate) fn to_json(&self, ty: Option<&TypeDef>) -> Result<(Value, Option<Value>), String> {
        match self {
            PatchValue::Typed { value, ext, .. } => Ok((value.clone(), ext.clone())),
            PatchValue::Parts(parts) => Ok((Value::Object(parts_to_object(parts, ty)?), None)),
        }
    }
}

/// A value and its `_element` part.
type ValueAndExt = (Value, Option<Value>);

fn parts_to_object(
    parts: &[(String, PatchValue)],
    ty: Option<&TypeDef>,
) -> Result<Map<String, Value>, String> {
    // Group by JSON key, keeping the order names first appear in.
    let mut grouped: Vec<(String, bool, Vec<ValueAndExt>)> = Vec::new();
    for (name, part) in parts {
        let element = match ty {
            Some(ty) => Some(
                element_named(ty, name)
                    .ok_or_else(|| format!("{} has no element '{name}'", ty.name))?,
            ),
            None => None,
        };
        let key = match (element, part.type_code()) {
            (Some(element), Some(code)) if element.is_choice => element.json_name(code),
            (Some(element), None) if element.is_choice => {
                return Err(format!(
                    "'{name}' is a choice element: give it a typed value such as value{}",
                    element
                        .types
                        .first()
                        .map_or("String".to_owned(), |t| capitalize(&t.code))
                ));
            }
            _ => name.clone(),
        };
        if let (Some(ty), Some(element), Some(code)) = (ty, element, part.type_code()) {
            check_type(ty, element, code)?;
        }
        let child = element.and_then(|e| child_type(e, part.type_code()));
        let json = part.to_json(child)?;
        let repeats = element.is_some_and(|e| e.is_array());
        match grouped.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, values)) => values.push(json),
            None => grouped.push((key, repeats, vec![json])),
        }
    }
    let mut object = Map::new();
    for (key, repeats, values) in grouped {
        if !repeats && values.len() > 1 && ty.is_some() {
            return Err(format!(
                "'{key}' does not repeat but is given {} times",
                values.len()
            ));
        }
        if repeats || values.len() > 1 {
            let has_ext = values.iter().any(|(_, e)| e.is_some());
            let (items, exts): (Vec<Value>, Vec<Value>) = values
                .into_iter()
                .map(|(v, e)| (v, e.unwrap_or(Value::Null)))
                .unzip();
            object.insert(key.clone(), Value::Array(items));
            if has_ext {
                object.insert(format!("_{key}"), Value::Array(exts));
            }
        } else if let Some((value, ext)) = values.into_iter().next() {
            object.insert(key.clone(), value);
            if let Some(ext) = ext {
                object.insert(format!("_{key}"), ext);
            }
        }
    }
    Ok(object)
}

fn capitalize(code: &str) -> String {
    let mut chars = code.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One FHIRPath Patch operation, parsed and compiled.
#[derive(Debug)]
pub(crate) struct FhirPathOperation {
    pub(crate) kind: Kind,
    pub(crate) path: Expression,
    /// For `insert` and `move` into a list that may be empty: the path split into its container
    /// and the list's element name (`Patient.identifier` -> `Patient`, `identifier`).
    pub(crate) container: Option<(Expression, String)>,
    pub(crate) name: Option<String>,
    pub(crate) value: Option<PatchValue>,
    pub(crate) index: Option<usize>,
    pub(crate) source: Option<usize>,
    pub(crate) destination: Option<usize>,
}

/// Parses a `Parameters` resource into operations.
pub(crate) fn parse(body: &Value) -> Result<Vec<FhirPathOperation>, PatchError> {
    let Some(object) = body.as_object() else {
        return Err(PatchError::malformed(
            None,
            "a FHIRPath Patch must be a Parameters resource",
        ));
    };
    if object.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(PatchError::malformed(
            None,
            "a FHIRPath Patch (application/fhir+json) must be a Parameters resource; JSON Patch is sent as application/json-patch+json",
        ));
    }
    let issues = vigil_model::validate::validate_resource(body);
    if let Some(issue) = issues.iter().find(|i| i.severity.is_error()) {
        let at = issue
            .expression
            .first()
            .map_or(String::new(), |e| format!(" at {e}"));
        return Err(PatchError::malformed(
            None,
            format!(
                "the Parameters resource is invalid{at}: {}",
                issue.diagnostics
            ),
        ));
    }
    let parameters = match object.get("parameter") {
        Some(Value::Array(parameters)) => parameters.as_slice(),
        _ => &[],
    };
    parameters
        .iter()
        .enumerate()
        .map(|(index, parameter)| {
            parse_operation(parameter)
                .map_err(|message| PatchError::malformed(Some(index), message))
        })
        .collect()
}

fn parse_operation(parameter: &Value) -> Result<FhirPathOperation, String> {
    if parameter.get("name").and_then(Value::as_str) != Some("operation") {
        return Err("every parameter of a FHIRPath Patch must be named 'operation'".to_owned());
    }
    let mut kind = None;
    let mut path = None;
    let mut name = None;
    let mut value = None;
    let mut index = None;
    let mut source = None;
    let mut destination = None;
    let parts = parameter.get("part").and_then(Value::as_array);
    for part in parts.map_or(&[][..], Vec::as_slice) {
        let part_name = part.get("name").and_then(Value::as_str).unwrap_or("");
        let duplicate = || format!("the part '{part_name}' is given twice");
        match part_name {
            "type" => {
                let code = typed(part, "valueCode")?;
                let parsed = match code.as_str() {
                    "add" => Kind::Add,
                    "insert" => Kind::Insert,
                    "delete" => Kind::Delete,
                    "replace" => Kind::Replace,
                    "move" => Kind::Move,
                    other => {
                        return Err(format!(
                            "unknown operation type '{other}' (expected add, insert, delete, replace or move)"
                        ));
                    }
                };
                if kind.replace(parsed).is_some() {
                    return Err(duplicate());
                }
            }
            "path" => {
                if path.replace(typed(part, "valueString")?).is_some() {
                    return Err(duplicate());
                }
            }
            "name" => {
                let text = typed(part, "valueString")?;
                let simple = text.starts_with(|c: char| c.is_ascii_alphabetic())
                    && text.chars().all(|c| c.is_ascii_alphanumeric());
                if !simple {
                    return Err(format!("'{text}' is not an element name"));
                }
                if name.replace(text).is_some() {
                    return Err(duplicate());
                }
            }
            "value" => {
                if value.replace(patch_value(part)?).is_some() {
                    return Err(duplicate());
                }
            }
            "index" | "source" | "destination" => {
                let number = part
                    .get("valueInteger")
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        format!("the part '{part_name}' needs a valueInteger of 0 or more")
                    })?;
                let slot = match part_name {
                    "index" => &mut index,
                    "source" => &mut source,
                    _ => &mut destination,
                };
                if slot.replace(number).is_some() {
                    return Err(duplicate());
                }
            }
            other => {
                return Err(format!(
                    "unknown part '{other}' (expected type, path, name, value, index, source or destination)"
                ));
            }
        }
    }
    let kind = kind.ok_or("the operation has no 'type' part")?;
    let path_text = path.ok_or("the operation has no 'path' part")?;
    let path = Expression::compile(&path_text)
        .map_err(|error| format!("the path '{path_text}' is not valid FHIRPath: {error}"))?;
    let required: &[(&str, bool)] = match kind {
        Kind::Add => &[("name", name.is_some()), ("value", value.is_some())],
        Kind::Insert => &[("value", value.is_some()), ("index", index.is_some())],
        Kind::Delete => &[],
        Kind::Replace => &[("value", value.is_some())],
        Kind::Move => &[
            ("source", source.is_some()),
            ("destination", destination.is_some()),
        ],
    };
    if let Some((missing, _)) = required.iter().find(|(_, present)| !present) {
        return Err(format!(
            "a {} operation needs the part '{missing}'",
            format!("{kind:?}").to_lowercase()
        ));
    }
    let container = matches!(kind, Kind::Insert | Kind::Move)
        .then(|| split_container(&path_text))
        .flatten();
    Ok(FhirPathOperation {
        kind,
        path,
        container,
        name,
        value,
        index,
        source,
        destination,
    })
}

/// `Patient.identifier` -> (`Patient` compiled, `identifier`), when the last step is a plain
/// element name.
fn split_container(path: &str) -> Option<(Expression, String)> {
    let (container, last) = path.trim().rsplit_once('.')?;
    let plain = last.starts_with(|c: char| c.is_ascii_alphabetic())
        && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain || container.is_empty() {
        return None;
    }
    Some((Expression::compile(container).ok()?, last.to_owned()))
}

fn typed(part: &Value, key: &str) -> Result<String, String> {
    let name = part.get("name").and_then(Value::as_str).unwrap_or("");
    part.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the part '{name}' needs a {key}"))
}

/// A `value` part (or a nested part): `value[x]`, `resource`, or nested `part`s.
fn patch_value(part: &Value) -> Result<PatchValue, String> {
    let name = part.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(object) = part.as_object() else {
        return Err(format!("the part '{name}' must be an object"));
    };
    let typed_key = object
        .keys()
        .find(|k| k.len() > "value".len() && k.starts_with("value"));
    if let Some(key) = typed_key {
        let suffix = key.get("value".len()..).unwrap_or("");
        return Ok(PatchValue::Typed {
            type_code: type_code_of_suffix(suffix),
            value: object.get(key).cloned().unwrap_or(Value::Null),
            ext: object.get(&format!("_{key}")).cloned(),
        });
    }
    if let Some(resource) = object.get("resource") {
        let type_code = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the resource in part '{name}' has no resourceType"))?;
        return Ok(PatchValue::Typed {
            type_code: type_code.to_owned(),
            value: resource.clone(),
            ext: None,
        });
    }
    if let Some(ext_key) = object.keys().find(|k| k.starts_with("_value")) {
        // A primitive with extensions only: `_valueString` without `valueString`.
        let suffix = ext_key.get("_value".len()..).unwrap_or("");
        return Ok(PatchValue::Typed {
            type_code: type_code_of_suffix(suffix),
            value: Value::Null,
            ext: object.get(ext_key).cloned(),
        });
    }
    match object.get("part") {
        Some(Value::Array(parts)) if !parts.is_empty() => {
            let children = parts
                .iter()
                .map(|child| {
                    let child_name = child
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("a part inside '{name}' has no name"))?;
                    Ok((child_name.to_owned(), patch_value(child)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(PatchValue::Parts(children))
        }
        _ => Err(format!(
            "the part '{name}' needs a value[x], a resource or nested parts"
        )),
    }
}
