//! FHIR Patch documents (http.html#patch): JSON Patch (RFC 6902, `application/json-patch+json`)
//! and FHIRPath Patch (fhirpatch.html, a `Parameters` resource sent as `application/fhir+json`).
//!
//! Pure functions over [`serde_json::Value`]: a [`PatchDocument`] is parsed (and its FHIRPath
//! expressions compiled) once, before any unit of work, then [`PatchDocument::apply`] turns the
//! current resource into the patched one. Applying is all or nothing: it works on a copy and
//! the first failing operation is reported with its index. Whether the result is a valid
//! resource, with the same `resourceType` and `id`, is checked by the service's patch
//! interaction (`vigil-service`, `interactions/patch.rs`), which also stores it.
//!
//! Architecture invariant: pure; no I/O, no storage, no HTTP. Errors are [`PatchError`]s; the
//! service maps them to OperationOutcomes.
//!
//! - [`json_patch`]: RFC 6902 with RFC 6901 pointers ([`pointer`]), written by hand;
//! - [`parameters`]: reading the `Parameters` of a FHIRPath Patch;
//! - [`fhirpath_patch`]: applying its operations, using [`locate`] to find where FHIRPath
//!   results live and [`types`] for the schema of the elements touched;
//! - `Binary.data` of a JSON Patch inside a transaction or batch is decoded with the `base64`
//!   crate (standard alphabet, padding required, whitespace tolerated as FHIR allows).

#![deny(missing_docs)]

mod fhirpath_patch;
mod json_patch;
mod locate;
mod parameters;
mod pointer;
mod types;

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod spec_cases;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// The two patch formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    /// RFC 6902 JSON Patch (`application/json-patch+json`).
    JsonPatch,
    /// FHIRPath Patch: a `Parameters` resource (`application/fhir+json`).
    FhirPathPatch,
}

/// The category of a [`PatchError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchErrorKind {
    /// The patch document itself is wrong: not an array, an unknown op, a missing member, a
    /// malformed pointer, a path that is not FHIRPath.
    Malformed,
    /// The document is well formed but cannot be applied to this resource: a failed `test`,
    /// a path that selects nothing, an index out of range, a value of the wrong type.
    NotApplicable,
}

/// Why a patch could not be read or applied, naming the operation (0-based) when one is to
/// blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct PatchError {
    kind: PatchErrorKind,
    operation: Option<usize>,
    message: String,
    format: Option<PatchFormat>,
}

impl PatchError {
    pub(crate) fn malformed(operation: Option<usize>, message: impl Into<String>) -> Self {
        PatchError {
            kind: PatchErrorKind::Malformed,
            operation,
            message: message.into(),
            format: None,
        }
    }

    pub(crate) fn failed(operation: usize, message: impl Into<String>) -> Self {
        PatchError {
            kind: PatchErrorKind::NotApplicable,
            operation: Some(operation),
            message: message.into(),
            format: None,
        }
    }

    fn in_format(mut self, format: PatchFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The format of the patch at fault, once known.
    pub fn format(&self) -> Option<PatchFormat> {
        self.format
    }

    /// The category.
    pub fn kind(&self) -> PatchErrorKind {
        self.kind
    }

    /// The 0-based index of the operation at fault, if one is.
    pub fn operation(&self) -> Option<usize> {
        self.operation
    }

    /// What went wrong, without the operation index.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn describe(&self) -> String {
        match self.operation {
            Some(index) => format!("operation {index}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

#[derive(Debug)]
enum Operations {
    Json(Vec<json_patch::JsonOperation>),
    FhirPath(Vec<parameters::FhirPathOperation>),
}

/// A parsed patch, ready to apply to any number of resources.
#[derive(Debug)]
pub struct PatchDocument {
    operations: Operations,
}

impl PatchDocument {
    /// A JSON Patch: an array of RFC 6902 operations.
    pub fn json_patch(document: Value) -> Result<PatchDocument, PatchError> {
        Ok(PatchDocument {
            operations: Operations::Json(
                json_patch::parse(document).map_err(|e| e.in_format(PatchFormat::JsonPatch))?,
            ),
        })
    }

    /// A FHIRPath Patch: a `Parameters` resource of `operation` parameters. Its paths are
    /// compiled here.
    pub fn fhirpath_patch(parameters: &Value) -> Result<PatchDocument, PatchError> {
        Ok(PatchDocument {
            operations: Operations::FhirPath(
                parameters::parse(parameters)
                    .map_err(|e| e.in_format(PatchFormat::FhirPathPatch))?,
            ),
        })
    }

    /// The patch carried by a transaction or batch entry: a `Parameters` resource (FHIRPath
    /// Patch) or a `Binary` whose `contentType` is `application/json-patch+json` and whose
    /// `data` is the base64 of the JSON Patch.
    pub fn from_entry_resource(resource: &Value) -> Result<PatchDocument, PatchError> {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Parameters") => Self::fhirpath_patch(resource),
            Some("Binary") => {
                let content_type = resource
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let media = content_type.split(';').next().unwrap_or("").trim();
                if !media.eq_ignore_ascii_case("application/json-patch+json") {
                    return Err(PatchError::malformed(
                        None,
                        format!(
                            "a Binary patch must have contentType application/json-patch+json, not '{content_type}'"
                        ),
                    ));
                }
                let data = resource
                    .get("data")
                    .and_then(Value::as_str)
                    .ok_or_else(|| PatchError::malformed(None, "the Binary patch has no data"))?;
                let bytes = decode_base64(data).ok_or_else(|| {
                    PatchError::malformed(None, "Binary.data is not valid base64")
                })?;
                let document = vigil_model::json::parse(&bytes).map_err(|error| {
                    PatchError::malformed(None, format!("Binary.data is not JSON: {error}"))
                })?;
                Self::json_patch(document)
            }
            other => Err(PatchError::malformed(
                None,
                format!(
                    "a PATCH entry's resource must be a Parameters (FHIRPath Patch) or a Binary (JSON Patch), not {}",
                    other.unwrap_or("a resource without resourceType")
                ),
            )),
        }
    }

    /// Which format the patch is in.
    pub fn format(&self) -> PatchFormat {
        match self.operations {
            Operations::Json(_) => PatchFormat::JsonPatch,
            Operations::FhirPath(_) => PatchFormat::FhirPathPatch,
        }
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        match &self.operations {
            Operations::Json(operations) => operations.len(),
            Operations::FhirPath(operations) => operations.len(),
        }
    }

    /// True for a patch without operations (it changes nothing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The patched copy of `resource`; `resource` itself is never changed.
    pub fn apply(&self, resource: &Value) -> Result<Value, PatchError> {
        let mut patched = resource.clone();
        let applied = match &self.operations {
            Operations::Json(operations) => json_patch::apply(operations, &mut patched),
            Operations::FhirPath(operations) => fhirpath_patch::apply(operations, &mut patched),
        };
        applied.map_err(|e| e.in_format(self.format()))?;
        Ok(patched)
    }

    /// The values the patch writes, taken out as one JSON array so a transaction can rewrite
    /// the references they hold like those of any resource. A bare string written at a
    /// `reference` element (JSON Patch `/subject/reference`, FHIRPath
    /// `Observation.subject.reference`, a nested part named `reference`) is wrapped as
    /// `{"reference": "..."}` so it is found too. [`PatchDocument::put_back_values`] undoes this.
    pub fn take_values(&mut self) -> Value {
        Value::Array(
            self.value_slots()
                .into_iter()
                .map(|(slot, bare)| {
                    let value = std::mem::take(slot);
                    if bare {
                        serde_json::json!({ "reference": value })
                    } else {
                        value
                    }
                })
                .collect(),
        )
    }

    /// Puts back the values [`PatchDocument::take_values`] took out (after rewriting).
    pub fn put_back_values(&mut self, values: Value) {
        let Value::Array(values) = values else {
            return;
        };
        for ((slot, bare), mut value) in self.value_slots().into_iter().zip(values) {
            *slot = if bare {
                value
                    .get_mut("reference")
                    .map(std::mem::take)
                    .unwrap_or_default()
            } else {
                value
            };
        }
    }

    /// Every value the patch writes, and whether it is a bare `reference` string.
    fn value_slots(&mut self) -> Vec<(&mut Value, bool)> {
        let mut out = Vec::new();
        match &mut self.operations {
            Operations::Json(operations) => {
                out.extend(operations.iter_mut().filter_map(|o| o.value_slot()));
            }
            Operations::FhirPath(operations) => {
                for operation in operations {
                    let bare = operation.path.source().trim_end().ends_with(".reference");
                    if let Some(value) = &mut operation.value {
                        value.values_mut(bare, &mut out);
                    }
                }
            }
        }
        out
    }
}

/// `base64Binary` as FHIR writes it: the standard alphabet with padding; whitespace between
/// symbols is tolerated.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(symbols)
        .ok()
}

#[cfg(test)]
mod base64_tests {
    use super::decode_base64;

    #[test]
    fn rfc4648_vectors_and_rejections() {
        let vectors: &[(&str, &str)] = &[
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9v\n YmFy", "foobar"),
        ];
        for (encoded, plain) in vectors {
            assert_eq!(
                decode_base64(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        for bad in ["Zg=", "Z===", "Zm9v!mFy", "Zh==", "===="] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }
}
