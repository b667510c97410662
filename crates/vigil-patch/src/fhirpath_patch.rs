//! Applying FHIRPath Patch operations (fhirpatch.html) to a resource.
//!
//! Each operation evaluates its path with the FHIRPath engine on the resource as it stands
//! after the previous operations, locates the selected nodes ([`super::locate`]), then edits
//! the JSON there. The rules, per operation:
//! - `add`: the path selects exactly one element; `name` is a child element of its type. A
//!   repeating child gets the value appended; a non-repeating one must not have a value yet.
//!   A choice child (`deceased`) takes its JSON name from the value's type (`deceasedBoolean`).
//!   Adding to a primitive (`Patient.birthDate`, name `extension`) writes into `_birthDate`.
//! - `insert`: the path selects the items of one list (or nothing, when the list is empty and
//!   the path ends in `.element`); `index` is 0 to the list's length.
//! - `delete`: the path selects at most one element; nothing selected is not an error (the
//!   spec's "if found").
//! - `replace`: the path selects exactly one element; a choice element may change type.
//! - `move`: like `insert`, the path selects one list; `source` and `destination` are indexes
//!   into it.
//!
//! Values are checked against the element's types (complex types exactly or by derivation,
//! primitives by validation of the result). After all operations, members left empty (an
//! emptied `HumanName`, an empty list) are removed, as a FHIR parser would drop them.

use super::PatchError;
use super::locate::{
    Location, Slot, Step, insert_item, list_len, locate, move_item, object_at_mut, prune,
    remove_item, remove_single, rename_single, replace_item, set_single, value_at,
};
use super::parameters::{FhirPathOperation, Kind, PatchValue};
use super::types::{check_type, child_type, element_named, type_at};
use serde_json::Value;
use vigil_fhirpath::{Context, Expression};
use vigil_model::schema::{ElementDef, TypeDef};

/// Applies the operations in order, then removes emptied members. On error the resource may be
/// partly patched; the caller applies to a copy.
pub(crate) fn apply(
    operations: &[FhirPathOperation],
    resource: &mut Value,
) -> Result<(), PatchError> {
    for (index, operation) in operations.iter().enumerate() {
        apply_one(operation, resource).map_err(|message| {
            PatchError::failed(
                index,
                format!(
                    "{} '{}': {message}",
                    kind_name(operation.kind),
                    operation.path.source()
                ),
            )
        })?;
    }
    prune(resource);
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Add => "add at",
        Kind::Insert => "insert into",
        Kind::Delete => "delete",
        Kind::Replace => "replace",
        Kind::Move => "move in",
    }
}

fn apply_one(operation: &FhirPathOperation, resource: &mut Value) -> Result<(), String> {
    let value = || {
        operation
            .value
            .as_ref()
            .ok_or_else(|| "the operation has no value".to_owned())
    };
    match operation.kind {
        Kind::Add => {
            let name = operation
                .name
                .as_deref()
                .ok_or("the operation has no name")?;
            add(resource, &operation.path, name, value()?)
        }
        Kind::Insert => {
            let index = operation.index.ok_or("the operation has no index")?;
            insert(resource, operation, index, value()?)
        }
        Kind::Delete => delete(resource, &operation.path),
        Kind::Replace => replace(resource, &operation.path, value()?),
        Kind::Move => {
            let source = operation.source.ok_or("the operation has no source")?;
            let destination = operation
                .destination
                .ok_or("the operation has no destination")?;
            let (parent, key, _) = list_target(resource, operation)?;
            move_item(object_at_mut(resource, &parent)?, &key, source, destination)
        }
    }
}

/// The locations of the nodes `path` selects in `resource`.
fn select(resource: &Value, path: &Expression) -> Result<Vec<Location>, String> {
    let context = Context::new(resource);
    let items = path
        .evaluate(&context)
        .map_err(|error| format!("the path could not be evaluated: {error}"))?;
    locate(resource, &items)
}

fn exactly_one(locations: Vec<Location>) -> Result<Location, String> {
    let count = locations.len();
    let mut locations = locations.into_iter();
    match (locations.next(), count) {
        (Some(location), 1) => Ok(location),
        (None, _) => Err("the path selects nothing".to_owned()),
        _ => Err(format!(
            "the path selects {count} elements; it must select exactly one"
        )),
    }
}

/// The owner type of element `key` of the object at `parent`, and the element's definition.
fn element_info(
    resource: &Value,
    parent: &[Step],
    key: &str,
) -> Result<(&'static TypeDef, &'static ElementDef), String> {
    let owner = type_at(resource, parent).ok_or("the element's type is unknown")?;
    let element = owner
        .property(key)
        .map(|(element, _)| element)
        .or_else(|| element_named(owner, key))
        .ok_or_else(|| format!("{} has no element '{key}'", owner.name))?;
    Ok((owner, element))
}

/// The JSON of `value` for `element`, with its type checked.
fn value_json(
    owner: &TypeDef,
    element: &ElementDef,
    value: &PatchValue,
) -> Result<(Value, Option<Value>), String> {
    if let Some(code) = value.type_code() {
        check_type(owner, element, code)?;
    }
    value.to_json(child_type(element, value.type_code()))
}

fn add(
    resource: &mut Value,
    path: &Expression,
    name: &str,
    value: &PatchValue,
) -> Result<(), String> {
    let location = exactly_one(select(resource, path)?)?;
    // A primitive holds its children (id, extension) in its `_element` part.
    let is_object = value_at(resource, &location.steps).is_some_and(Value::is_object);
    let container = if is_object {
        location.steps.clone()
    } else {
        ext_object(resource, &location)?
    };
    let owner = type_at(resource, &container).ok_or("the element's type is unknown")?;
    let element = element_named(owner, name)
        .ok_or_else(|| format!("{} has no element '{name}'", owner.name))?;
    let key = match (element.is_choice, value.type_code()) {
        (true, Some(code)) => element.json_name(code),
        (true, None) => {
            return Err(format!(
                "'{name}' is a choice element and needs a typed value"
            ));
        }
        (false, _) => name.to_owned(),
    };
    let (json, ext) = value_json(owner, element, value)?;
    let object = object_at_mut(resource, &container)?;
    if element.is_array() {
        let len = list_len(object, &key)?;
        return insert_item(object, &key, len, json, ext);
    }
    let present = element
        .types
        .iter()
        .map(|t| element.json_name(&t.code))
        .find(|k| object.contains_key(k) || object.contains_key(&format!("_{k}")));
    if let Some(present) = present {
        return Err(format!(
            "'{present}' already has a value and does not repeat; use replace"
        ));
    }
    set_single(object, &key, json, ext);
    Ok(())
}

/// The steps of a primitive's `_element` object, created empty when missing.
fn ext_object(resource: &mut Value, location: &Location) -> Result<Vec<Step>, String> {
    let (parent, key, index) = match location.slot() {
        Slot::Single { parent, key } => (parent.to_vec(), key.to_owned(), None),
        Slot::Item { parent, key, index } => (parent.to_vec(), key.to_owned(), Some(index)),
        Slot::Root => return Err("the path does not select an element".to_owned()),
    };
    let ext_key = format!("_{key}");
    let object = object_at_mut(resource, &parent)?;
    let mut steps = parent;
    steps.push(Step::Key(ext_key.clone()));
    match index {
        None => {
            let slot = object
                .entry(ext_key)
                .or_insert_with(|| Value::Object(Default::default()));
            if !slot.is_object() {
                return Err(format!("'_{key}' is not an object"));
            }
        }
        Some(index) => {
            let len = list_len(object, &key)?;
            let items = object
                .entry(ext_key)
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .ok_or_else(|| format!("'_{key}' is not a list"))?;
            if items.len() < len {
                items.resize(len, Value::Null);
            }
            let slot = items
                .get_mut(index)
                .ok_or_else(|| format!("'{key}' has no item {index}"))?;
            if slot.is_null() {
                *slot = Value::Object(Default::default());
            }
            steps.push(Step::Index(index));
        }
    }
    Ok(steps)
}

/// The list an `insert` or `move` works on: (parent steps, element key, length).
fn list_target(
    resource: &Value,
    operation: &FhirPathOperation,
) -> Result<(Vec<Step>, String, usize), String> {
    let locations = select(resource, &operation.path)?;
    let (parent, key) = if let Some(first) = locations.first() {
        let Slot::Item { parent, key, .. } = first.slot() else {
            return Err("the path does not select the items of a list".to_owned());
        };
        let same_list = locations.iter().all(
            |l| matches!(l.slot(), Slot::Item { parent: p, key: k, .. } if p == parent && k == key),
        );
        if !same_list {
            return Err("the path selects items of more than one list".to_owned());
        }
        (parent.to_vec(), key.to_owned())
    } else {
        let Some((container, name)) = &operation.container else {
            return Err("the path selects nothing".to_owned());
        };
        let location = exactly_one(select(resource, container)?)
            .map_err(|e| format!("{e} (looking for the element that holds '{name}')"))?;
        if !value_at(resource, &location.steps).is_some_and(Value::is_object) {
            return Err(format!("'{}' cannot hold '{name}'", container.source()));
        }
        (location.steps, name.clone())
    };
    let (_, element) = element_info(resource, &parent, &key)?;
    if !element.is_array() {
        return Err(format!("'{key}' does not repeat"));
    }
    let object = value_at(resource, &parent)
        .and_then(Value::as_object)
        .ok_or("the list's parent is not an object")?;
    let len = list_len(object, &key)?;
    Ok((parent, key, len))
}

fn insert(
    resource: &mut Value,
    operation: &FhirPathOperation,
    index: usize,
    value: &PatchValue,
) -> Result<(), String> {
    let (parent, key, len) = list_target(resource, operation)?;
    if index > len {
        return Err(format!(
            "index {index} is beyond the end of the list ({len} items)"
        ));
    }
    let (owner, element) = element_info(resource, &parent, &key)?;
    let (json, ext) = value_json(owner, element, value)?;
    insert_item(object_at_mut(resource, &parent)?, &key, index, json, ext)
}

fn delete(resource: &mut Value, path: &Expression) -> Result<(), String> {
    let locations = select(resource, path)?;
    let location = match locations.len() {
        0 => return Ok(()),
        1 => exactly_one(locations)?,
        n => {
            return Err(format!(
                "the path selects {n} elements; only one can be deleted at a time"
            ));
        }
    };
    match location.slot() {
        Slot::Root => Err("the resource itself cannot be deleted by a patch".to_owned()),
        Slot::Single { parent, key } => {
            remove_single(object_at_mut(resource, parent)?, key);
            Ok(())
        }
        Slot::Item { parent, key, index } => {
            remove_item(object_at_mut(resource, parent)?, key, index).map(drop)
        }
    }
}

fn replace(resource: &mut Value, path: &Expression, value: &PatchValue) -> Result<(), String> {
    let location = exactly_one(select(resource, path)?)?;
    match location.slot() {
        Slot::Root => Err("the resource itself cannot be replaced by a patch".to_owned()),
        Slot::Single { parent, key } => {
            let (owner, element) = element_info(resource, parent, key)?;
            let (json, ext) = value_json(owner, element, value)?;
            let object = object_at_mut(resource, parent)?;
            match value.type_code() {
                Some(code) if element.is_choice && element.json_name(code) != key => {
                    let new_key = element.json_name(code);
                    rename_single(object, key, &new_key, json);
                    if let Some(ext) = ext {
                        object.insert(format!("_{new_key}"), ext);
                    }
                }
                _ => set_single(object, key, json, ext),
            }
            Ok(())
        }
        Slot::Item { parent, key, index } => {
            let (owner, element) = element_info(resource, parent, key)?;
            let (json, ext) = value_json(owner, element, value)?;
            replace_item(object_at_mut(resource, parent)?, key, index, json, ext)
        }
    }
}
