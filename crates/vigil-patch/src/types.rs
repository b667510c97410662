//! The FHIR types along a JSON path, from the R4 schema: what element a FHIRPath Patch touches,
//! whether it repeats, which types it takes and how a choice element is spelled in JSON.

use super::locate::Step;
use serde_json::Value;
use vigil_model::schema::{self, ElementDef, TypeDef, TypeKind};

/// The type of the value at `steps` (contained resources take their own `resourceType`;
/// `_element` parts are `Element`).
pub(crate) fn type_at(root: &Value, steps: &[Step]) -> Option<&'static TypeDef> {
    let schema = schema::r4();
    let mut value = Some(root);
    let mut ty = schema.type_def(root.get("resourceType")?.as_str()?)?;
    for step in steps {
        match step {
            Step::Key(key) => {
                if let Some(own) = value.and_then(own_resource_type) {
                    ty = own;
                }
                ty = if key.starts_with('_') {
                    schema.type_def("Element")?
                } else {
                    schema.type_def(ty.property(key)?.1)?
                };
                value = value.and_then(|v| v.get(key.as_str()));
            }
            Step::Index(index) => value = value.and_then(|v| v.get(*index)),
        }
    }
    Some(value.and_then(own_resource_type).unwrap_or(ty))
}

fn own_resource_type(value: &Value) -> Option<&'static TypeDef> {
    schema::r4().type_def(value.get("resourceType")?.as_str()?)
}

/// The definition of element `name` (a plain name such as `value`, never `valueQuantity`) on
/// `owner`: `value[x]` is found as `value`.
pub(crate) fn element_named<'t>(owner: &'t TypeDef, name: &str) -> Option<&'t ElementDef> {
    owner
        .element(name)
        .or_else(|| owner.element(&format!("{name}[x]")))
}

/// The type code of a `value[x]` key suffix: `String` -> `string`, `HumanName` -> `HumanName`,
/// `DateTime` -> `dateTime`.
pub(crate) fn type_code_of_suffix(suffix: &str) -> String {
    let mut chars = suffix.chars();
    let lowered: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    match schema::r4().type_def(&lowered) {
        Some(ty) if ty.kind == TypeKind::Primitive => lowered,
        _ => suffix.to_owned(),
    }
}

/// The type a value for `element` has when given as `type_code` (or, without one, the
/// element's only type).
pub(crate) fn child_type(
    element: &ElementDef,
    type_code: Option<&str>,
) -> Option<&'static TypeDef> {
    let schema = schema::r4();
    match type_code {
        Some(code) => schema.type_def(code),
        None => match element.types.as_slice() {
            [only] => schema.type_def(&only.code),
            _ => None,
        },
    }
}

/// Fails unless a value of `type_code` may stand in `element`. Primitives are accepted for any
/// primitive element (their lexical form is checked by validation of the result); complex types
/// must be one of the element's types or derive from one (`Age` for `Quantity`, `Patient` for
/// `Resource`).
pub(crate) fn check_type(
    owner: &TypeDef,
    element: &ElementDef,
    type_code: &str,
) -> Result<(), String> {
    let schema = schema::r4();
    let is_primitive = |code: &str| {
        schema
            .type_def(code)
            .is_some_and(|t| t.kind == TypeKind::Primitive)
    };
    let allowed = element.types.iter().any(|t| {
        t.code == type_code
            || schema.is_subtype(type_code, &t.code)
            || (is_primitive(type_code) && is_primitive(&t.code))
    });
    if allowed {
        Ok(())
    } else {
        let expected: Vec<&str> = element.types.iter().map(|t| t.code.as_str()).collect();
        Err(format!(
            "{}.{} takes {}, not {type_code}",
            owner.name,
            element.name,
            expected.join(" or ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_along_paths() {
        let patient = json!({
            "resourceType": "Patient",
            "contact": [{"name": {"family": "x"}}],
            "contained": [{"resourceType": "Practitioner", "name": [{"family": "y"}]}],
            "_birthDate": {"extension": []},
        });
        let key = |k: &str| Step::Key(k.to_owned());
        let cases: &[(&[Step], &str)] = &[
            (&[], "Patient"),
            (&[key("contact"), Step::Index(0)], "Patient.contact"),
            (&[key("contact"), Step::Index(0), key("name")], "HumanName"),
            (&[key("contained"), Step::Index(0)], "Practitioner"),
            (
                &[key("contained"), Step::Index(0), key("name")],
                "HumanName",
            ),
            (&[key("birthDate")], "date"),
            (&[key("_birthDate")], "Element"),
        ];
        for (steps, expected) in cases {
            assert_eq!(
                type_at(&patient, steps).map(|t| t.name.as_str()),
                Some(*expected),
                "{steps:?}"
            );
        }
        assert!(type_at(&patient, &[key("nonsense")]).is_none());
    }

    #[test]
    fn suffixes_and_type_checks() {
        assert_eq!(type_code_of_suffix("String"), "string");
        assert_eq!(type_code_of_suffix("DateTime"), "dateTime");
        assert_eq!(type_code_of_suffix("HumanName"), "HumanName");
        let observation = schema::r4().type_def("Observation").unwrap();
        let value = element_named(observation, "value").unwrap();
        assert!(check_type(observation, value, "Quantity").is_ok());
        assert!(check_type(observation, value, "HumanName").is_err());
        let patient = schema::r4().type_def("Patient").unwrap();
        let birth = element_named(patient, "birthDate").unwrap();
        assert!(check_type(patient, birth, "date").is_ok());
        assert!(check_type(patient, birth, "string").is_ok());
        assert!(check_type(patient, birth, "Coding").is_err());
        let contained = element_named(patient, "contained").unwrap();
        assert!(check_type(patient, contained, "Practitioner").is_ok());
    }
}
