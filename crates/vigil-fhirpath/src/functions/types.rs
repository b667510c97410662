//! Types: `is` / `as` / `ofType` against FHIR and System types, and `type()` (a
//! `{namespace, name}` element). Unqualified names try the FHIR namespace first, then System.
//! `is` follows the type hierarchy (`code` is a `string`); `as` and `ofType` select the exact
//! primitive type (so `gender.as(string)` is empty), and follow the hierarchy for complex types
//! and resources.

use super::{Call, Func};
use crate::compile::{Namespace, TypeSpec};
use crate::error::EvalResult;
use crate::model::{PRIMITIVES, TypeModel};
use crate::value::{Collection, Item, Node};
use serde_json::{Value, json};

const SYSTEM_TYPES: [&str; 8] = [
    "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
];

fn fhir_type_of<'a>(model: &dyn TypeModel, n: &Node<'a>) -> Option<&'a str> {
    match n.ty {
        Some(t) => Some(t),
        None => n.resource_type().filter(|rt| model.is_resource(rt)),
    }
}

/// Whether `item` is of type `spec` (or a subtype when `exact` is false).
fn matches_type(model: &dyn TypeModel, item: &Item<'_>, spec: &TypeSpec, exact: bool) -> bool {
    let name = spec.name.as_str();
    match item {
        Item::Node(n) => {
            if let Some(t) = fhir_type_of(model, n) {
                if spec.ns == Namespace::System {
                    return false;
                }
                let primitive = PRIMITIVES.iter().any(|(p, _)| *p == t);
                if exact && primitive {
                    return t == name;
                }
                return t == name || model.is_subtype(t, name);
            }
            // Untyped JSON: primitives behave as their System values.
            match n.value {
                Some(Value::Object(_)) => spec.ns != Namespace::System && name == "Element",
                _ => n
                    .primitive()
                    .is_some_and(|p| matches_type(model, &p, spec, exact)),
            }
        }
        other => {
            if spec.ns == Namespace::Fhir {
                return false;
            }
            if spec.ns == Namespace::Any && name != "Quantity" && model.fhir_type(name).is_some() {
                return false;
            }
            let (_, own) = other.type_name();
            SYSTEM_TYPES.contains(&name) && own == name
        }
    }
}

/// Whether an unqualified type name exists (qualified unknown names simply never match).
pub(crate) fn known_type(model: &dyn TypeModel, spec: &TypeSpec) -> bool {
    let system = SYSTEM_TYPES.contains(&spec.name.as_str());
    match spec.ns {
        Namespace::System | Namespace::Fhir => true,
        Namespace::Any => system || model.fhir_type(&spec.name).is_some(),
    }
}

/// `item is spec`.
pub(crate) fn is_type(model: &dyn TypeModel, item: &Item<'_>, spec: &TypeSpec) -> bool {
    matches_type(model, item, spec, false)
}

/// Whether `item` passes `as(spec)` / `ofType(spec)`.
pub(crate) fn as_type(model: &dyn TypeModel, item: &Item<'_>, spec: &TypeSpec) -> bool {
    matches_type(model, item, spec, true)
}

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    _func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    // type(): one {namespace, name} element per input item.
    let mut out = Vec::with_capacity(input.len());
    for item in &input {
        let (ns, name) = match item {
            Item::Node(n) => match fhir_type_of(cx.ev.ctx.model, n) {
                Some(t) if t.contains('.') => ("FHIR", "BackboneElement".to_owned()),
                Some(t) => ("FHIR", t.to_owned()),
                None => {
                    let (ns, name) = item.type_name();
                    (ns, name)
                }
            },
            other => other.type_name(),
        };
        let v = cx.ev.ctx.keep(json!({ "namespace": ns, "name": name }));
        out.push(Item::Node(Node {
            value: Some(v),
            ext: None,
            ty: None,
        }));
    }
    Ok(out)
}
