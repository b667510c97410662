//! Navigation over FHIR JSON: member access with choice elements (`value` finds
//! `valueQuantity`), primitive `_element` siblings, contained resources typed by their
//! `resourceType`, and `children()`.

use crate::model::{ElementType, TypeModel, choice_suffix_type};
use crate::value::{Collection, Item, Node};
use serde_json::{Map, Value};

/// Type of a child element; contained resources take their own `resourceType`.
fn child_type<'a>(declared: Option<&'a str>, v: Option<&'a Value>) -> Option<&'a str> {
    let own = v
        .and_then(|v| v.get("resourceType"))
        .and_then(Value::as_str);
    match (declared, own) {
        (_, Some(rt)) => Some(rt),
        (d, None) => d,
    }
}

/// The `_key` sibling of `key` (primitive id/extensions), without allocating for usual keys.
fn sibling<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut buf = [0u8; 64];
    if key.len() < buf.len() {
        buf[0] = b'_';
        buf[1..=key.len()].copy_from_slice(key.as_bytes());
        let k = std::str::from_utf8(&buf[..=key.len()]).ok()?;
        obj.get(k)
    } else {
        obj.get(&format!("_{key}"))
    }
}

/// Pushes the values under `key` (and its `_key` sibling) as nodes of type `ty`.
fn push_children<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    value: Option<&'a Value>,
    ty: Option<&'a str>,
    out: &mut Collection<'a>,
) {
    let ext = if key.starts_with('_') {
        None
    } else {
        sibling(obj, key)
    };
    match (value, ext) {
        (Some(Value::Array(vs)), ext) => {
            let exts = ext.and_then(Value::as_array);
            for (i, v) in vs.iter().enumerate() {
                let e = exts.and_then(|e| e.get(i)).filter(|e| !e.is_null());
                let v = (!v.is_null()).then_some(v);
                if v.is_some() || e.is_some() {
                    out.push(Item::Node(Node {
                        value: v,
                        ext: e,
                        ty: child_type(ty, v),
                    }));
                }
            }
        }
        (None, Some(Value::Array(es))) => {
            for e in es.iter().filter(|e| !e.is_null()) {
                out.push(Item::Node(Node {
                    value: None,
                    ext: Some(e),
                    ty,
                }));
            }
        }
        (Some(Value::Null), None) | (None, None) => {}
        (v, e) => {
            let v = v.filter(|v| !v.is_null());
            out.push(Item::Node(Node {
                value: v,
                ext: e,
                ty: child_type(ty, v),
            }));
        }
    }
}

/// The object whose keys are this node's children (primitives: their `_element`).
fn object<'a>(n: &Node<'a>) -> Option<&'a Map<String, Value>> {
    match n.value {
        Some(Value::Object(o)) => Some(o),
        _ => n.ext.and_then(Value::as_object),
    }
}

/// `item.name`, appended to `out`.
pub(crate) fn member<'a>(
    model: &dyn TypeModel,
    item: &Item<'a>,
    name: &str,
    out: &mut Collection<'a>,
) {
    let Item::Node(n) = item else { return };
    let Some(obj) = object(n) else { return };
    let is_primitive = !matches!(n.value, Some(Value::Object(_)));
    if name.starts_with(|c: char| c.is_ascii_uppercase())
        && let Some(rt) = n.resource_type()
    {
        if rt == name || model.is_subtype(rt, name) {
            out.push(item.clone());
        }
        return;
    }
    let parent_ty = if is_primitive { Some("Element") } else { n.ty };
    let declared = parent_ty.and_then(|p| model.element(p, name));
    if matches!(
        declared,
        Some(ElementType::ChoiceVariant | ElementType::Absent)
    ) {
        return;
    }
    if let Some(v) = obj.get(name) {
        let ty = match declared {
            Some(ElementType::Single(t)) => Some(t),
            _ => None,
        };
        push_children(obj, name, Some(v), ty, out);
        return;
    }
    match declared {
        Some(ElementType::Single(t)) => {
            if sibling(obj, name).is_some() {
                push_children(obj, name, None, Some(t), out);
            }
        }
        Some(ElementType::ChoiceVariant | ElementType::Absent) => {}
        Some(ElementType::Choice) | None => {
            let before = out.len();
            for (key, v) in obj {
                if key.len() > name.len()
                    && key.starts_with(name)
                    && let Some(t) = choice_suffix_type(key, name)
                {
                    push_children(obj, key, Some(v), Some(t), out);
                }
            }
            if out.len() == before && declared.is_none() && sibling(obj, name).is_some() {
                push_children(obj, name, None, None, out);
            }
        }
    }
}

/// Splits a JSON key into element name and type (resolving choice suffixes).
fn key_type(model: &dyn TypeModel, parent: Option<&str>, key: &str) -> Option<&'static str> {
    if let Some(p) = parent {
        match model.element(p, key) {
            Some(ElementType::Single(t)) => return Some(t),
            Some(ElementType::Choice) => return None,
            Some(ElementType::ChoiceVariant | ElementType::Absent) | None => {}
        }
    }
    // `valueQuantity`: find the split where the prefix is a choice element.
    for (i, c) in key.char_indices().skip(1) {
        if c.is_ascii_uppercase() {
            let prefix = &key[..i];
            let is_choice = parent.is_none_or(|p| {
                matches!(model.element(p, prefix), Some(ElementType::Choice) | None)
            });
            if is_choice && let Some(t) = choice_suffix_type(key, prefix) {
                return Some(t);
            }
        }
    }
    None
}

/// `children()`: every child node, in document order.
pub(crate) fn children<'a>(model: &dyn TypeModel, item: &Item<'a>, out: &mut Collection<'a>) {
    let Item::Node(n) = item else { return };
    let Some(obj) = object(n) else { return };
    let parent = if matches!(n.value, Some(Value::Object(_))) {
        n.ty
    } else {
        Some("Element")
    };
    for (key, v) in obj {
        if key == "resourceType" {
            continue;
        }
        if let Some(base) = key.strip_prefix('_') {
            if !obj.contains_key(base) {
                push_children(obj, base, None, key_type(model, parent, base), out);
            }
            continue;
        }
        push_children(obj, key, Some(v), key_type(model, parent, key), out);
    }
}
