//! FHIR R4 (4.0.1) model for Vigil: the generated compact schema, JSON parse/validate/serialize
//! with exact decimals, and OperationOutcome.
//!
//! Resources are kept as [`serde_json::Value`] (with the workspace's `arbitrary_precision` and
//! `preserve_order` features: `1.50` stays `1.50`, key order is kept). There is no Rust struct
//! per resource: the schema generated from the official R4 package by `tools/gen_schema.py`
//! drives a generic validator, which keeps compile times low and the model exactly the spec's.
//!
//! - [`schema`]: types, elements, required bindings, search parameters, compartments;
//! - [`json`]: strict parsing (duplicate keys rejected) and serialization;
//! - [`validate`]: structural validation producing [`Issue`]s;
//! - [`primitive`]: the 20 primitive types' validators;
//! - [`outcome`]: issues and OperationOutcome;
//! - [`elements`]: `_summary` and `_elements` subsets;
//! - [`work`]: work-unit counters per stage, for the linearity tests (issue 20).
//!
//! Architecture invariant: this crate does no I/O (the schema is embedded with `include_str!`)
//! and knows nothing of HTTP, storage or FHIRPath.

#![deny(missing_docs)]

pub mod elements;
pub mod instant;
pub mod json;
pub mod outcome;
pub mod primitive;
pub mod schema;
pub mod validate;
pub mod work;

pub use outcome::{Issue, IssueType, Severity};

/// Why bytes are not an acceptable FHIR resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Not JSON (or duplicate keys).
    #[error(transparent)]
    Syntax(#[from] json::ParseError),
    /// JSON, but not a valid resource; the issues say where and why.
    #[error("invalid resource: {}", summary(.0))]
    Invalid(Vec<Issue>),
}

impl ModelError {
    /// The issues to report in an OperationOutcome (a syntax error becomes one `structure`
    /// issue with its position).
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            ModelError::Syntax(err) => vec![Issue::error(IssueType::Structure, err.to_string())],
            ModelError::Invalid(issues) => issues.clone(),
        }
    }
}

fn summary(issues: &[Issue]) -> String {
    let mut text = issues
        .iter()
        .take(3)
        .map(Issue::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if issues.len() > 3 {
        text.push_str(&format!("; and {} more", issues.len() - 3));
    }
    text
}

/// Parses and validates a resource. Warnings do not make it invalid.
pub fn parse_resource(bytes: &[u8]) -> Result<serde_json::Value, ModelError> {
    let value = json::parse(bytes)?;
    let issues = validate::validate_resource(&value);
    if outcome::has_errors(&issues) {
        return Err(ModelError::Invalid(issues));
    }
    Ok(value)
}
