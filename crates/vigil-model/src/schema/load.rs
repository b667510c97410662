//! Building a [`Schema`] from the compact JSON written by `tools/gen_schema.py`.
//!
//! The file format is described in `tools/README.md`. Loading resolves every type name to an
//! index, expands choice elements into their JSON property names and computes each type's
//! required-element mask, so validation never has to look anything up by string twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{
    ElementDef, ElementType, FxHashMap, Property, RequiredBinding, Schema, TypeDef, TypeId,
    TypeKind, choice_key,
};
use crate::primitive::Primitive;

/// Why the embedded schema could not be loaded (a generator bug, caught by tests).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error("schema JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("type {owner}: unknown type {name}")]
    UnknownType { owner: String, name: String },
    #[error("type {0}: bad kind, max or code list index")]
    Malformed(String),
    #[error("type {0}: more than 64 elements")]
    TooManyElements(String),
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "fhirVersion")]
    fhir_version: String,
    #[serde(rename = "skippedValueSets", default)]
    skipped_value_sets: Vec<String>,
    codes: Vec<Vec<String>>,
    types: BTreeMap<String, RawType>,
}

#[derive(Deserialize)]
struct RawType {
    k: String,
    b: Option<String>,
    #[serde(default)]
    a: u8,
    e: Vec<RawElement>,
}

#[derive(Deserialize)]
struct RawElement {
    n: String,
    t: Vec<String>,
    #[serde(default)]
    p: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    min: u32,
    max: Option<Value>,
    #[serde(default)]
    s: u8,
    #[serde(default)]
    m: u8,
    #[serde(default)]
    c: u8,
    r: Option<String>,
    v: Option<usize>,
    vs: Option<String>,
}

pub(crate) fn load_types(text: &str) -> Result<Schema, SchemaError> {
    let raw: RawFile = serde_json::from_str(text)?;
    let code_lists: Vec<Arc<[String]>> = raw.codes.into_iter().map(Arc::from).collect();
    let by_name: FxHashMap<String, TypeId> = raw
        .types
        .keys()
        .enumerate()
        .map(|(i, name)| (name.clone(), TypeId(i as u32)))
        .collect();
    let mut types = Vec::with_capacity(raw.types.len());
    for (name, rt) in raw.types {
        types.push(build_type(name, rt, &by_name, &code_lists)?);
    }
    let resource_types = types
        .iter()
        .filter(|t: &&TypeDef| t.kind == TypeKind::Resource && !t.is_abstract)
        .map(|t| t.name.clone())
        .collect();
    Ok(Schema {
        fhir_version: raw.fhir_version,
        types,
        by_name,
        resource_types,
        skipped_value_sets: raw.skipped_value_sets,
    })
}

fn build_type(
    name: String,
    rt: RawType,
    by_name: &FxHashMap<String, TypeId>,
    code_lists: &[Arc<[String]>],
) -> Result<TypeDef, SchemaError> {
    let kind = match rt.k.as_str() {
        "r" => TypeKind::Resource,
        "c" => TypeKind::Complex,
        "p" => TypeKind::Primitive,
        _ => return Err(SchemaError::Malformed(name)),
    };
    if rt.e.len() > 64 {
        return Err(SchemaError::TooManyElements(name));
    }
    let mut elements = Vec::with_capacity(rt.e.len());
    let mut properties = FxHashMap::default();
    let mut required = 0u64;
    for (index, re) in rt.e.into_iter().enumerate() {
        let element = build_element(&name, re, by_name, code_lists)?;
        if element.min > 0 {
            required |= 1 << index;
        }
        for (type_index, ty) in element.types.iter().enumerate() {
            let key = match element.name.strip_suffix("[x]") {
                Some(stem) => choice_key(stem, &ty.code),
                None => element.name.clone(),
            };
            let property = Property {
                element: index as u16,
                type_index: type_index as u16,
            };
            properties.entry(key.into_boxed_str()).or_insert(property);
        }
        elements.push(element);
    }
    let primitive = if kind == TypeKind::Primitive {
        Primitive::from_name(&name)
    } else {
        None
    };
    if kind == TypeKind::Primitive && primitive.is_none() {
        return Err(SchemaError::Malformed(name));
    }
    Ok(TypeDef {
        name,
        kind,
        base: rt.b,
        is_abstract: rt.a != 0,
        elements,
        primitive,
        properties,
        required,
    })
}

fn build_element(
    owner: &str,
    re: RawElement,
    by_name: &FxHashMap<String, TypeId>,
    code_lists: &[Arc<[String]>],
) -> Result<ElementDef, SchemaError> {
    let mut types = Vec::with_capacity(re.t.len());
    let mut targets = re.p;
    for code in re.t {
        let Some(id) = by_name.get(&code).copied() else {
            return Err(SchemaError::UnknownType {
                owner: owner.to_string(),
                name: code,
            });
        };
        let target_types = targets.remove(&code).unwrap_or_default();
        types.push(ElementType {
            code,
            target_types,
            id,
        });
    }
    let max = match re.max {
        None => Some(1),
        Some(Value::String(s)) if s == "*" => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => return Err(SchemaError::Malformed(owner.to_string())),
        },
    };
    let binding = match (re.v, re.vs) {
        (Some(index), Some(value_set)) => match code_lists.get(index) {
            Some(codes) => Some(RequiredBinding {
                value_set,
                codes: Arc::clone(codes),
            }),
            None => return Err(SchemaError::Malformed(owner.to_string())),
        },
        _ => None,
    };
    Ok(ElementDef {
        name: re.n,
        types,
        min: re.min,
        max,
        is_summary: re.s != 0,
        is_modifier: re.m != 0,
        is_choice: re.c != 0,
        content_reference: re.r,
        binding,
    })
}
