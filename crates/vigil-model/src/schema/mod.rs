//! The FHIR R4 type system, loaded once from the generated compact schema.
//!
//! `schema/r4-types.json` is produced by `tools/gen_schema.py` from the official R4 package and
//! embedded with `include_str!`; [`r4`] parses it on first use. Every resource, complex and
//! primitive type is a [`TypeDef`]; backbone elements are types of their own named by path
//! (`Patient.contact`, `Questionnaire.item`), so a FHIRPath engine can walk types by path.
//! Per-type JSON property maps (including choice expansions such as `valueQuantity`) are
//! precomputed at load so validation does one hash lookup per JSON property.

mod fxhash;
mod load;
mod search;

use std::sync::{Arc, OnceLock};

use crate::primitive::Primitive;
pub(crate) use fxhash::FxHashMap;
pub use search::{
    CompartmentDef, SearchComponent, SearchParamType, SearchParameterDef, compartment,
    compartments, search_parameters,
};

const TYPES_JSON: &str = include_str!("../../schema/r4-types.json");

/// The R4 schema (parsed on first use, then shared).
pub fn r4() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    // The embedded schema is generated and covered by tests; it is not reachable by input.
    SCHEMA.get_or_init(|| load::load_types(TYPES_JSON).expect("embedded r4-types.json is valid"))
}

/// What kind of type a [`TypeDef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// A primitive type (`string`, `date`, ...).
    Primitive,
    /// A complex data type (`HumanName`), the abstract `Element`/`BackboneElement`, or a
    /// backbone element's anonymous type (`Patient.contact`).
    Complex,
    /// A resource type, including the abstract `Resource` and `DomainResource`.
    Resource,
}

/// Index of a type inside the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TypeId(pub(crate) u32);

/// A property of a type's JSON object: element index and index into its `types`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Property {
    pub(crate) element: u16,
    pub(crate) type_index: u16,
}

/// The whole type system.
#[derive(Debug)]
pub struct Schema {
    fhir_version: String,
    types: Vec<TypeDef>,
    by_name: FxHashMap<String, TypeId>,
    resource_types: Vec<String>,
    skipped_value_sets: Vec<String>,
}

impl Schema {
    /// The FHIR version of the schema (`4.0.1`).
    pub fn fhir_version(&self) -> &str {
        &self.fhir_version
    }

    /// A type by name: `Patient`, `HumanName`, `string`, `Patient.contact`.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.by_name.get(name).map(|id| self.get(*id))
    }

    /// True for a concrete (non-abstract) resource type name such as `Patient`.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.type_def(name)
            .is_some_and(|t| t.kind == TypeKind::Resource && !t.is_abstract)
    }

    /// The concrete resource types, sorted.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resource_types.iter().map(String::as_str)
    }

    /// Every type, sorted by name.
    pub fn types(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.iter()
    }

    /// The type an element's type entry refers to.
    pub fn element_type(&self, ty: &ElementType) -> &TypeDef {
        self.get(ty.id)
    }

    /// The base type of a type (`DomainResource` for `Patient`), if any.
    pub fn base_of(&self, ty: &TypeDef) -> Option<&TypeDef> {
        ty.base.as_deref().and_then(|b| self.type_def(b))
    }

    /// True when `name` is `ancestor` or derives from it (`Patient` is a `Resource`,
    /// `Age` is a `Quantity`, `code` is a `string`).
    pub fn is_subtype(&self, name: &str, ancestor: &str) -> bool {
        let mut current = self.type_def(name);
        let mut steps = 0;
        while let Some(ty) = current {
            if ty.name == ancestor {
                return true;
            }
            steps += 1;
            if steps > 32 {
                return false;
            }
            current = self.base_of(ty);
        }
        false
    }

    /// Required-binding value sets the generator could not enumerate (external code systems).
    pub fn skipped_value_sets(&self) -> &[String] {
        &self.skipped_value_sets
    }

    pub(crate) fn get(&self, id: TypeId) -> &TypeDef {
        &self.types[id.0 as usize]
    }
}

/// One type: its kind, base, and elements in FHIR JSON order (inherited ones included).
#[derive(Debug)]
pub struct TypeDef {
    /// Type name (`Patient`, `HumanName`, `string`, or a backbone path like `Patient.contact`).
    pub name: String,
    /// Primitive, complex or resource.
    pub kind: TypeKind,
    /// The type this one specializes (`DomainResource`, `Element`, `BackboneElement`, ...).
    pub base: Option<String>,
    /// Abstract types (`Resource`, `DomainResource`, `Element`, `BackboneElement`) have no
    /// instances of their own.
    pub is_abstract: bool,
    /// The elements, as in the StructureDefinition snapshot.
    pub elements: Vec<ElementDef>,
    pub(crate) primitive: Option<Primitive>,
    pub(crate) properties: FxHashMap<Box<str>, Property>,
    /// Bit `i` set when `elements[i].min >= 1`.
    pub(crate) required: u64,
}

impl TypeDef {
    /// An element by its name (`name`, `value[x]`).
    pub fn element(&self, name: &str) -> Option<&ElementDef> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// The element and type code a JSON property name stands for: `gender` ->
    /// (`gender`, `code`), `valueQuantity` -> (`value[x]`, `Quantity`).
    pub fn property(&self, json_key: &str) -> Option<(&ElementDef, &str)> {
        let p = self.properties.get(json_key)?;
        let element = &self.elements[usize::from(p.element)];
        Some((
            element,
            element.types[usize::from(p.type_index)].code.as_str(),
        ))
    }

    /// The primitive type, when this is one.
    pub fn primitive(&self) -> Option<Primitive> {
        self.primitive
    }

    /// True for a backbone element's anonymous type (`Patient.contact`).
    pub fn is_backbone(&self) -> bool {
        self.name.contains('.')
    }

    pub(crate) fn lookup(&self, json_key: &str) -> Option<Property> {
        self.properties.get(json_key).copied()
    }
}

/// One element of a type.
#[derive(Debug)]
pub struct ElementDef {
    /// The last path segment, `value[x]` style kept for choices.
    pub name: String,
    /// The allowed types (several for a choice element).
    pub types: Vec<ElementType>,
    /// Minimum cardinality.
    pub min: u32,
    /// Maximum cardinality; `None` means `*`.
    pub max: Option<u32>,
    /// Part of the `_summary=true` view.
    pub is_summary: bool,
    /// A modifier element.
    pub is_modifier: bool,
    /// A choice element (`value[x]`).
    pub is_choice: bool,
    /// For a recursive element, the path it reuses (`Questionnaire.item`).
    pub content_reference: Option<String>,
    /// The required binding, when its value set is enumerable.
    pub binding: Option<RequiredBinding>,
}

impl ElementDef {
    /// True when the element repeats (max > 1 or `*`), i.e. is a JSON array.
    pub fn is_array(&self) -> bool {
        self.max != Some(1)
    }

    /// The JSON property name for one of the element's types: `valueQuantity` for a choice,
    /// the plain name otherwise.
    pub fn json_name(&self, type_code: &str) -> String {
        match self.name.strip_suffix("[x]") {
            Some(stem) => choice_key(stem, type_code),
            None => self.name.clone(),
        }
    }
}

/// One allowed type of an element.
#[derive(Debug)]
pub struct ElementType {
    /// The type code (`Reference`, `string`, `Patient.contact`).
    pub code: String,
    /// For `Reference`/`canonical`: the resource type names of the target profiles.
    pub target_types: Vec<String>,
    pub(crate) id: TypeId,
}

/// A required binding with its enumerated codes.
#[derive(Debug, Clone)]
pub struct RequiredBinding {
    /// The value set canonical URL (without version).
    pub value_set: String,
    /// The allowed codes, sorted.
    pub codes: Arc<[String]>,
}

impl RequiredBinding {
    /// True when `code` is one of the allowed codes.
    pub fn contains(&self, code: &str) -> bool {
        self.codes
            .binary_search_by(|c| c.as_str().cmp(code))
            .is_ok()
    }
}

/// `value` + `Quantity` -> `valueQuantity`.
pub(crate) fn choice_key(stem: &str, type_code: &str) -> String {
    let mut key = String::with_capacity(stem.len() + type_code.len());
    key.push_str(stem);
    let mut chars = type_code.chars();
    if let Some(first) = chars.next() {
        key.extend(first.to_uppercase());
        key.push_str(chars.as_str());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_all_types() {
        let s = r4();
        assert_eq!(s.fhir_version(), "4.0.1");
        assert_eq!(s.resource_types().count(), 146);
        assert!(s.is_resource_type("Patient"));
        assert!(!s.is_resource_type("Resource"));
        assert!(!s.is_resource_type("HumanName"));
        assert_eq!(
            s.types().filter(|t| t.kind == TypeKind::Primitive).count(),
            20
        );
        let sorted: Vec<&str> = s.resource_types().collect();
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn properties_and_choices() {
        let s = r4();
        let obs = s.type_def("Observation").unwrap();
        let (el, ty) = obs.property("valueQuantity").unwrap();
        assert_eq!((el.name.as_str(), ty), ("value[x]", "Quantity"));
        assert!(el.is_choice && !el.is_array());
        assert!(obs.property("value").is_none());
        assert!(obs.property("valueFoo").is_none());
        let status = obs.element("status").unwrap();
        assert_eq!(status.min, 1);
        assert!(status.is_modifier && status.is_summary);
        assert!(status.binding.as_ref().unwrap().contains("final"));
        assert!(!status.binding.as_ref().unwrap().contains("done"));
        assert_eq!(el.json_name("CodeableConcept"), "valueCodeableConcept");
    }

    #[test]
    fn backbone_and_content_reference() {
        let s = r4();
        let contact = s.type_def("Patient.contact").unwrap();
        assert_eq!(contact.base.as_deref(), Some("BackboneElement"));
        assert!(contact.element("relationship").is_some());
        let item = s.type_def("Questionnaire.item").unwrap();
        let nested = item.element("item").unwrap();
        assert_eq!(
            nested.content_reference.as_deref(),
            Some("Questionnaire.item")
        );
        assert_eq!(s.element_type(&nested.types[0]).name, "Questionnaire.item");
        let subject = s
            .type_def("Observation")
            .unwrap()
            .element("subject")
            .unwrap();
        assert!(
            subject.types[0]
                .target_types
                .contains(&"Patient".to_string())
        );
        assert_eq!(
            s.type_def("Resource").unwrap().element("id").unwrap().types[0].code,
            "id"
        );
    }

    #[test]
    fn subtypes() {
        let s = r4();
        assert!(s.is_subtype("Patient", "Resource"));
        assert!(s.is_subtype("Age", "Quantity"));
        assert!(s.is_subtype("code", "string"));
        assert!(!s.is_subtype("string", "code"));
    }

    #[test]
    fn required_masks_fit() {
        for t in r4().types() {
            assert!(
                t.elements.len() <= 64,
                "{} has {} elements",
                t.name,
                t.elements.len()
            );
        }
    }
}
