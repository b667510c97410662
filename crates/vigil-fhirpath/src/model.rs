//! Type information the evaluator needs, behind the small [`TypeModel`] trait: the type of each
//! element, choice elements (`value[x]`), and the type hierarchy. [`BasicModel`] knows only the
//! R4 data types and the resource hierarchy (enough for choice suffixes such as `valueQuantity`
//! and for untyped JSON); [`crate::schema_model`] implements the trait over `vigil-model`'s
//! generated R4 schema.

/// What the model knows about one element of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// A single-typed element. Backbone elements are named by their path (`Patient.contact`).
    Single(&'static str),
    /// A choice element (`value[x]`): the JSON key carries the type as a suffix.
    Choice,
    /// The model knows the parent type and it has no element of that name.
    Absent,
    /// The name is a typed JSON key of a choice element (`valueQuantity`): in FHIRPath the
    /// element is only reachable by its base name (`value`), so this path yields nothing.
    ChoiceVariant,
}

/// Type lookups for navigation and `is` / `as` / `ofType`.
pub trait TypeModel: Send + Sync {
    /// The element `name` (JSON key without choice suffix) of type `parent`; `None` when the
    /// model does not know it (navigation then falls back to the JSON shape).
    fn element(&self, parent: &str, name: &str) -> Option<ElementType>;
    /// The direct base of `type_name` (`Patient` -> `DomainResource`, `code` -> `string`).
    fn base_type(&self, type_name: &str) -> Option<&'static str>;
    /// The canonical spelling of a FHIR type name if the model knows it.
    fn fhir_type(&self, name: &str) -> Option<&'static str>;
    /// Whether `type_name` names a resource type.
    fn is_resource(&self, type_name: &str) -> bool;

    /// The types a choice element allows (`Observation.value[x]` -> `Quantity`, ...); empty
    /// when unknown.
    fn choice_types(&self, _parent: &str, _name: &str) -> Vec<&'static str> {
        Vec::new()
    }

    /// Whether `ty` is `base` or derives from it.
    fn is_subtype(&self, ty: &str, base: &str) -> bool {
        let mut cur = ty;
        for _ in 0..16 {
            if cur == base {
                return true;
            }
            match self.base_type(cur) {
                Some(b) => cur = b,
                None => return false,
            }
        }
        false
    }
}

/// R4 primitive types with their base type (`Element` for the roots of the hierarchy).
pub(crate) const PRIMITIVES: &[(&str, &str)] = &[
    ("base64Binary", "Element"),
    ("boolean", "Element"),
    ("canonical", "uri"),
    ("code", "string"),
    ("date", "Element"),
    ("dateTime", "Element"),
    ("decimal", "Element"),
    ("id", "string"),
    ("instant", "Element"),
    ("integer", "Element"),
    ("markdown", "string"),
    ("oid", "uri"),
    ("positiveInt", "integer"),
    ("string", "Element"),
    ("time", "Element"),
    ("unsignedInt", "integer"),
    ("uri", "Element"),
    ("url", "uri"),
    ("uuid", "uri"),
    ("xhtml", "Element"),
];

/// R4 complex data types with their base type.
pub(crate) const COMPLEX: &[(&str, &str)] = &[
    ("Address", "Element"),
    ("Age", "Quantity"),
    ("Annotation", "Element"),
    ("Attachment", "Element"),
    ("BackboneElement", "Element"),
    ("CodeableConcept", "Element"),
    ("Coding", "Element"),
    ("ContactDetail", "Element"),
    ("ContactPoint", "Element"),
    ("Contributor", "Element"),
    ("Count", "Quantity"),
    ("DataRequirement", "Element"),
    ("Distance", "Quantity"),
    ("Dosage", "BackboneElement"),
    ("Duration", "Quantity"),
    ("ElementDefinition", "BackboneElement"),
    ("Expression", "Element"),
    ("Extension", "Element"),
    ("HumanName", "Element"),
    ("Identifier", "Element"),
    ("MarketingStatus", "BackboneElement"),
    ("Meta", "Element"),
    ("Money", "Element"),
    ("MoneyQuantity", "Quantity"),
    ("Narrative", "Element"),
    ("ParameterDefinition", "Element"),
    ("Period", "Element"),
    ("Population", "BackboneElement"),
    ("ProdCharacteristic", "BackboneElement"),
    ("ProductShelfLife", "BackboneElement"),
    ("Quantity", "Element"),
    ("Range", "Element"),
    ("Ratio", "Element"),
    ("Reference", "Element"),
    ("RelatedArtifact", "Element"),
    ("SampledData", "Element"),
    ("Signature", "Element"),
    ("SimpleQuantity", "Quantity"),
    ("SubstanceAmount", "BackboneElement"),
    ("Timing", "BackboneElement"),
    ("TriggerDefinition", "Element"),
    ("UsageContext", "Element"),
    ("Element", "Base"),
    ("Resource", "Base"),
    ("DomainResource", "Resource"),
];

/// Resources that derive from `Resource` directly rather than `DomainResource`.
const PLAIN_RESOURCES: [&str; 3] = ["Bundle", "Parameters", "Binary"];

/// The fallback model: data types and resource hierarchy, no element definitions.
#[derive(Debug, Default, Clone, Copy)]
pub struct BasicModel;

/// Finds a data type by name (exact spelling).
pub(crate) fn datatype(name: &str) -> Option<(&'static str, &'static str)> {
    PRIMITIVES
        .iter()
        .chain(COMPLEX)
        .find(|(n, _)| *n == name)
        .copied()
}

/// Whether a resource type name looks valid (`Patient`, `MedicationRequest`).
fn looks_like_resource(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && datatype(name).is_none()
}

impl TypeModel for BasicModel {
    fn element(&self, _parent: &str, _name: &str) -> Option<ElementType> {
        None
    }

    fn base_type(&self, type_name: &str) -> Option<&'static str> {
        if let Some((_, base)) = datatype(type_name) {
            return (base != "Base").then_some(base);
        }
        if type_name.contains('.') {
            return Some("BackboneElement");
        }
        if looks_like_resource(type_name) {
            return Some(if PLAIN_RESOURCES.contains(&type_name) {
                "Resource"
            } else {
                "DomainResource"
            });
        }
        None
    }

    fn fhir_type(&self, name: &str) -> Option<&'static str> {
        datatype(name).map(|(n, _)| n)
    }

    fn is_resource(&self, type_name: &str) -> bool {
        looks_like_resource(type_name)
    }
}

/// Splits a choice key such as `valueQuantity` into the type suffix's FHIR type name
/// (`Quantity`; `valueString` -> `string`), when `key` is `name` + a known type.
pub(crate) fn choice_suffix_type(key: &str, name: &str) -> Option<&'static str> {
    let suffix = key.strip_prefix(name)?;
    let first = suffix.chars().next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    if let Some((n, _)) = COMPLEX.iter().find(|(n, _)| *n == suffix) {
        return Some(n);
    }
    let mut lower = String::with_capacity(suffix.len());
    lower.push(first.to_ascii_lowercase());
    lower.push_str(&suffix[1..]);
    PRIMITIVES
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(n, _)| *n)
}
