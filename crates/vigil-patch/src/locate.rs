//! Where FHIRPath results live inside the resource, and element-level edits at those places.
//!
//! The FHIRPath engine returns nodes that borrow the JSON they were found in, so a result is
//! located by pointer identity: the resource is walked once and every value whose address is
//! one the result borrows is recorded with its JSON path ([`Location`]). That is exact (two
//! equal values in different places are still told apart) and needs nothing from the engine
//! beyond what it already returns. Limits:
//! - a primitive that has only extensions (`"_given": [{"extension": ...}]` with a `null` in
//!   `given`) is found through its `_given` entry, and its location names the `_given` slot;
//!   [`Slot`] folds that back onto the element `given` so edits keep the two arrays aligned;
//! - values the engine computes (`'a' + 'b'`, `1`, `today()`) or finds outside the resource
//!   (a `resolve()` of something not contained) have no location and are refused.
//!
//! The edits keep a primitive array and its `_element` sibling aligned (same length, `null`
//! where one side has nothing) and drop the sibling once it holds only `null`s.

use serde_json::{Map, Value};
use std::collections::HashMap;
use vigil_fhirpath::Item;

/// One step of a JSON path: an object member or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// The JSON path of a value inside the resource (empty for the resource itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) steps: Vec<Step>,
}

/// What a location is, seen as a FHIR element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot<'l> {
    /// The resource itself.
    Root,
    /// A non-repeating element `key` of the object at `parent`.
    Single { parent: &'l [Step], key: &'l str },
    /// Item `index` of the repeating element `key` of the object at `parent`.
    Item {
        parent: &'l [Step],
        key: &'l str,
        index: usize,
    },
}

impl Location {
    /// The element this location names, with `_element` siblings folded onto the element.
    pub(crate) fn slot<'l>(&'l self) -> Slot<'l> {
        let fold = |key: &'l str| key.strip_prefix('_').unwrap_or(key);
        match self.steps.as_slice() {
            [] => Slot::Root,
            [parent @ .., Step::Key(key), Step::Index(index)] => Slot::Item {
                parent,
                key: fold(key),
                index: *index,
            },
            [parent @ .., Step::Key(key)] => Slot::Single {
                parent,
                key: fold(key),
            },
            // An index right under another index (arrays of arrays) does not occur in FHIR.
            [.., Step::Index(_)] => Slot::Root,
        }
    }
}

/// The locations of FHIRPath result items, in result order.
pub(crate) fn locate(resource: &Value, items: &[Item<'_>]) -> Result<Vec<Location>, String> {
    let mut wanted: HashMap<*const Value, Vec<usize>> = HashMap::new();
    for (position, item) in items.iter().enumerate() {
        let Item::Node(node) = item else {
            return Err(format!(
                "the path selects a computed value ({}), not an element of the resource",
                vigil_fhirpath::item_to_json(item)
            ));
        };
        let Some(target) = node.value.or(node.ext) else {
            return Err("the path selects an empty node".to_owned());
        };
        wanted
            .entry(std::ptr::from_ref(target))
            .or_default()
            .push(position);
    }
    let mut found: Vec<Option<Location>> = vec![None; items.len()];
    let mut steps = Vec::new();
    walk(resource, &mut steps, &wanted, &mut found);
    found
        .into_iter()
        .map(|location| {
            location.ok_or_else(|| {
                "the path selects something outside the resource being patched".to_owned()
            })
        })
        .collect()
}

fn walk(
    value: &Value,
    steps: &mut Vec<Step>,
    wanted: &HashMap<*const Value, Vec<usize>>,
    found: &mut [Option<Location>],
) {
    if let Some(positions) = wanted.get(&std::ptr::from_ref(value)) {
        for position in positions {
            if let Some(slot) = found.get_mut(*position) {
                *slot = Some(Location {
                    steps: steps.clone(),
                });
            }
        }
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                steps.push(Step::Key(key.clone()));
                walk(child, steps, wanted, found);
                steps.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                steps.push(Step::Index(index));
                walk(child, steps, wanted, found);
                steps.pop();
            }
        }
        _ => {}
    }
}

/// The value at a JSON path.
pub(crate) fn value_at<'a>(root: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |value, step| match step {
        Step::Key(key) => value.get(key.as_str()),
        Step::Index(index) => value.get(*index),
    })
}

/// The value at a JSON path, mutably.
pub(crate) fn value_at_mut<'a>(root: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(root, |value, step| match step {
        Step::Key(key) => value.get_mut(key.as_str()),
        Step::Index(index) => value.get_mut(*index),
    })
}

/// The object at a JSON path, mutably.
pub(crate) fn object_at_mut<'a>(
    root: &'a mut Value,
    steps: &[Step],
) -> Result<&'a mut Map<String, Value>, String> {
    value_at_mut(root, steps)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "the element's parent is not an object".to_owned())
}

fn sibling(key: &str) -> String {
    format!("_{key}")
}

/// The number of items of repeating element `key` (the longer of `key` and `_key`).
pub(crate) fn list_len(object: &Map<String, Value>, key: &str) -> Result<usize, String> {
    let len = |k: &str| match object.get(k) {
        None => Ok(0),
        Some(Value::Array(items)) => Ok(items.len()),
        Some(_) => Err(format!("'{key}' is not a list")),
    };
    Ok(len(key)?.max(len(&sibling(key))?))
}

/// The array under `key`, created empty if absent, padded with `null` to `len`.
fn padded<'a>(
    object: &'a mut Map<String, Value>,
    key: &str,
    len: usize,
) -> Result<&'a mut Vec<Value>, String> {
    let slot = object
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(items) = slot else {
        return Err(format!("'{key}' is not a list"));
    };
    if items.len() < len {
        items.resize(len, Value::Null);
    }
    Ok(items)
}

/// Drops `_key` when it holds only nulls, and `key` when it is empty.
fn tidy(object: &mut Map<String, Value>, key: &str) {
    let ext_key = sibling(key);
    let all_null = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_null));
    if object.get(&ext_key).is_some_and(all_null) {
        object.shift_remove(&ext_key);
    }
    let has_ext = object.contains_key(&ext_key);
    if object
        .get(key)
        .is_some_and(|v| v.as_array().is_some_and(Vec::is_empty) || (!has_ext && all_null(v)))
    {
        object.shift_remove(key);
    }
}

/// Inserts an item (and its `_element` part) at `index` of repeating element `key`.
pub(crate) fn insert_item(
    object: &mut Map<String, Value>,
    key: &str,
    index: usize,
    value: Value,
    ext: Option<Value>,
) -> Result<(), String> {
    let len = list_len(object, key)?;
    if index > len {
        return Err(format!(
            "index {index} is beyond the end of '{key}' ({len} items)"
        ));
    }
    padded(object, key, len)?.insert(index, value);
    let ext_key = sibling(key);
    if ext.is_some() || object.contains_key(&ext_key) {
        padded(object, &ext_key, len)?.insert(index, ext.unwrap_or(Value::Null));
    }
    tidy(object, key);
    Ok(())
}

/// Removes item `index` of repeating element `key`, returning its value and `_element` part.
pub(crate) fn remove_item(
    object: &mut Map<String, Value>,
    key: &str,
    index: usize,
) -> Result<(Value, Option<Value>), String> {
    let len = list_len(object, key)?;
    if index >= len {
        return Err(format!("'{key}' has no item {index} ({len} items)"));
    }
    let value = padded(object, key, len)?.remove(index);
    let ext_key = sibling(key);
    let ext = if object.contains_key(&ext_key) {
        Some(padded(object, &ext_key, len)?.remove(index)).filter(|e| !e.is_null())
    } else {
        None
    };
    tidy(object, key);
    Ok((value, ext))
}

/// Replaces item `index` of repeating element `key`; its `_element` part is kept unless a
/// new one is given.
pub(crate) fn replace_item(
    object: &mut Map<String, Value>,
    key: &str,
    index: usize,
    value: Value,
    ext: Option<Value>,
) -> Result<(), String> {
    let len = list_len(object, key)?;
    if index >= len {
        return Err(format!("'{key}' has no item {index} ({len} items)"));
    }
    if let Some(slot) = padded(object, key, len)?.get_mut(index) {
        *slot = value;
    }
    if let Some(ext) = ext
        && let Some(slot) = padded(object, &sibling(key), len)?.get_mut(index)
    {
        *slot = ext;
    }
    tidy(object, key);
    Ok(())
}

/// Removes non-repeating element `key` with its `_element` part.
pub(crate) fn remove_single(object: &mut Map<String, Value>, key: &str) {
    object.shift_remove(key);
    object.shift_remove(&sibling(key));
}

/// Sets non-repeating element `key` (in place when it exists, so member order is kept). The
/// `_element` part is kept unless a new one is given.
pub(crate) fn set_single(
    object: &mut Map<String, Value>,
    key: &str,
    value: Value,
    ext: Option<Value>,
) {
    match object.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            object.insert(key.to_owned(), value);
        }
    }
    if let Some(ext) = ext {
        object.insert(sibling(key), ext);
    }
}

/// Renames element `old` to `new` in place (a choice element changing type: `valueQuantity` to
/// `valueString`), dropping the old `_element` part.
pub(crate) fn rename_single(object: &mut Map<String, Value>, old: &str, new: &str, value: Value) {
    let position = object.keys().position(|k| k == old);
    remove_single(object, old);
    match position {
        Some(position) if position <= object.len() => {
            object.shift_insert(position, new.to_owned(), value);
        }
        _ => {
            object.insert(new.to_owned(), value);
        }
    }
}

/// Moves item `from` of repeating element `key` to position `to`.
pub(crate) fn move_item(
    object: &mut Map<String, Value>,
    key: &str,
    from: usize,
    to: usize,
) -> Result<(), String> {
    let len = list_len(object, key)?;
    if from >= len || to >= len {
        return Err(format!(
            "'{key}' has {len} items; source {from} and destination {to} must both be below that"
        ));
    }
    for k in [key.to_owned(), sibling(key)] {
        if object.contains_key(&k) {
            let items = padded(object, &k, len)?;
            let item = items.remove(from);
            items.insert(to, item);
        }
    }
    tidy(object, key);
    Ok(())
}

/// Removes what a FHIRPath Patch can leave behind and FHIR JSON forbids: empty objects,
/// empty arrays and `null` members (array `null`s stay: they align primitives with their
/// `_element` parts). Returns true when `value` itself is now empty.
pub(crate) fn prune(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            map.retain(|_, child| !prune(child) && !child.is_null());
            map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|child| child.is_null() || !prune(child));
            items.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn primitive_arrays_stay_aligned_with_their_extensions() {
        let ext = json!({"extension": [{"url": "http://x", "valueString": "y"}]});
        let mut name = object(json!({"given": ["a", "b"], "_given": [null, ext.clone()]}));
        insert_item(&mut name, "given", 0, json!("z"), None).unwrap();
        assert_eq!(
            Value::Object(name.clone()),
            json!({"given": ["z", "a", "b"], "_given": [null, null, ext.clone()]})
        );
        move_item(&mut name, "given", 2, 0).unwrap();
        assert_eq!(
            Value::Object(name.clone()),
            json!({"given": ["b", "z", "a"], "_given": [ext.clone(), null, null]})
        );
        let (value, removed) = remove_item(&mut name, "given", 0).unwrap();
        assert_eq!((value, removed), (json!("b"), Some(ext)));
        assert_eq!(Value::Object(name.clone()), json!({"given": ["z", "a"]}));
        remove_item(&mut name, "given", 1).unwrap();
        remove_item(&mut name, "given", 0).unwrap();
        assert_eq!(Value::Object(name), json!({}));
    }

    #[test]
    fn prune_drops_empty_members_but_keeps_array_nulls() {
        let mut value =
            json!({"name": [{"family": "x"}, {}], "a": {"b": []}, "c": null, "given": [null, "x"]});
        prune(&mut value);
        assert_eq!(
            value,
            json!({"name": [{"family": "x"}], "given": [null, "x"]})
        );
    }

    #[test]
    fn rename_keeps_member_position() {
        let mut obs = object(json!({"status": "final", "valueQuantity": {"value": 1}, "note": []}));
        rename_single(&mut obs, "valueQuantity", "valueString", json!("x"));
        let keys: Vec<&str> = obs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["status", "valueString", "note"]);
    }
}
