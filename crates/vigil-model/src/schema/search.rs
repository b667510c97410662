//! R4 search parameters and compartment definitions, from the generated schema files.
//!
//! Only the data: the registry, index extraction and query compilation live in vigil-search.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const SEARCH_PARAMETERS_JSON: &str = include_str!("../../schema/r4-search-parameters.json");
const COMPARTMENTS_JSON: &str = include_str!("../../schema/r4-compartments.json");

/// `SearchParameter.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchParamType {
    /// `number`
    Number,
    /// `date`
    Date,
    /// `string`
    String,
    /// `token`
    Token,
    /// `reference`
    Reference,
    /// `composite`
    Composite,
    /// `quantity`
    Quantity,
    /// `uri`
    Uri,
    /// `special`
    Special,
}

impl SearchParamType {
    /// The FHIR code.
    pub fn as_code(self) -> &'static str {
        match self {
            SearchParamType::Number => "number",
            SearchParamType::Date => "date",
            SearchParamType::String => "string",
            SearchParamType::Token => "token",
            SearchParamType::Reference => "reference",
            SearchParamType::Composite => "composite",
            SearchParamType::Quantity => "quantity",
            SearchParamType::Uri => "uri",
            SearchParamType::Special => "special",
        }
    }
}

/// One component of a composite search parameter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchComponent {
    /// Canonical URL of the component's SearchParameter.
    pub definition: String,
    /// FHIRPath relative to the composite's expression.
    pub expression: String,
}

/// A SearchParameter of the R4 specification (compacted).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchParameterDef {
    /// Canonical URL.
    pub url: String,
    /// Resource id in the package (`Observation-code-value-quantity`).
    pub id: String,
    /// The name used in URLs (`code-value-quantity`).
    pub code: String,
    /// Resource types it applies to (may be `Resource`/`DomainResource`).
    #[serde(default)]
    pub base: Vec<String>,
    /// Parameter type.
    #[serde(rename = "type")]
    pub param_type: SearchParamType,
    /// FHIRPath expression (absent for a few special parameters).
    #[serde(default)]
    pub expression: Option<String>,
    /// `normal`, `phonetic`, `nearby`, `distance`, `other`.
    #[serde(default)]
    pub xpath_usage: Option<String>,
    /// Resource types a reference parameter may point to.
    #[serde(default)]
    pub target: Vec<String>,
    /// Whether multiple values are allowed per parameter (OR), when stated.
    #[serde(default)]
    pub multiple_or: Option<bool>,
    /// Whether the parameter may repeat (AND), when stated.
    #[serde(default)]
    pub multiple_and: Option<bool>,
    /// Allowed comparators (`eq`, `gt`, ...) when restricted.
    #[serde(default)]
    pub comparator: Vec<String>,
    /// Allowed modifiers when restricted.
    #[serde(default)]
    pub modifier: Vec<String>,
    /// Chain names supported, when restricted.
    #[serde(default)]
    pub chain: Vec<String>,
    /// Components of a composite parameter.
    #[serde(default)]
    pub component: Vec<SearchComponent>,
}

/// Every R4 search parameter, sorted by URL.
pub fn search_parameters() -> &'static [SearchParameterDef] {
    static PARAMS: OnceLock<Vec<SearchParameterDef>> = OnceLock::new();
    PARAMS.get_or_init(|| {
        // Generated and covered by tests; not reachable by input.
        serde_json::from_str(SEARCH_PARAMETERS_JSON)
            .expect("embedded r4-search-parameters.json is valid")
    })
}

/// A compartment (Patient, Encounter, RelatedPerson, Practitioner, Device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompartmentDef {
    /// The compartment's resource type (`Patient`).
    pub code: String,
    /// Member resource type -> the search parameters linking it to the compartment owner.
    /// Types not listed are not in the compartment.
    pub resources: BTreeMap<String, Vec<String>>,
}

impl CompartmentDef {
    /// The parameters linking `resource_type` to this compartment (empty: not a member).
    pub fn params(&self, resource_type: &str) -> &[String] {
        self.resources.get(resource_type).map_or(&[], Vec::as_slice)
    }
}

/// The five R4 compartment definitions, sorted by code.
pub fn compartments() -> &'static [CompartmentDef] {
    static COMPARTMENTS: OnceLock<Vec<CompartmentDef>> = OnceLock::new();
    COMPARTMENTS.get_or_init(|| {
        let raw: BTreeMap<String, BTreeMap<String, Vec<String>>> =
            serde_json::from_str(COMPARTMENTS_JSON)
                .expect("embedded r4-compartments.json is valid");
        raw.into_iter()
            .map(|(code, resources)| CompartmentDef { code, resources })
            .collect()
    })
}

/// The compartment with this code (`Patient`).
pub fn compartment(code: &str) -> Option<&'static CompartmentDef> {
    compartments().iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_parameters_load() {
        let all = search_parameters();
        assert_eq!(all.len(), 1400);
        let p = all
            .iter()
            .find(|p| p.id == "Observation-code-value-quantity")
            .unwrap();
        assert_eq!(p.param_type, SearchParamType::Composite);
        assert_eq!(p.component.len(), 2);
        assert_eq!(p.component[1].expression, "value.as(Quantity)");
        let birthdate = all.iter().find(|p| p.id == "individual-birthdate").unwrap();
        assert!(birthdate.base.contains(&"Patient".to_string()));
        assert_eq!(
            birthdate.expression.as_deref(),
            Some("Patient.birthDate | Person.birthDate | RelatedPerson.birthDate")
        );
    }

    #[test]
    fn compartments_load() {
        let codes: Vec<&str> = compartments().iter().map(|c| c.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "Device",
                "Encounter",
                "Patient",
                "Practitioner",
                "RelatedPerson"
            ]
        );
        let patient = compartment("Patient").unwrap();
        assert_eq!(patient.params("Observation"), ["subject", "performer"]);
        assert!(patient.params("ActivityDefinition").is_empty());
    }
}
