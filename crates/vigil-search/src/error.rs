//! Search errors: one struct with a kind, separating what the client got wrong (an unknown
//! parameter, a malformed value, an unsupported modifier: always naming the parameter) from
//! faults of the registry, the FHIRPath engine or the store.

use std::fmt;

use vigil_store::StoreError;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchErrorKind {
    /// The client used a parameter the resource type does not define (ignored with a warning
    /// unless the client asked for strict handling).
    UnknownParameter,
    /// The client sent a value the parameter's type cannot read (bad date, bad prefix, ...).
    MalformedValue,
    /// The client used a modifier, prefix or feature this parameter does not support.
    Unsupported,
    /// The client named a resource type that does not exist.
    UnknownResourceType,
    /// A paging cursor that this server did not issue (or that no longer decodes).
    InvalidCursor,
    /// A SearchParameter definition that cannot be used (bad expression, unknown type).
    InvalidDefinition,
    /// A fault of the FHIRPath engine while extracting index values.
    Extraction,
    /// The store failed.
    Store,
    /// A resource would need more index rows than [`crate::MAX_INDEX_ROWS`]: the
    /// client's content, refused as too large to serve well. Its "parameter" is the element
    /// path (the parameter's expression) whose rows passed the limit.
    TooManyRows,
}

impl SearchErrorKind {
    /// True when the client caused the error (maps to HTTP 400), false for internal faults.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SearchErrorKind::UnknownParameter
                | SearchErrorKind::MalformedValue
                | SearchErrorKind::Unsupported
                | SearchErrorKind::UnknownResourceType
                | SearchErrorKind::InvalidCursor
                | SearchErrorKind::TooManyRows
        )
    }
}

/// A search error: its kind, the search parameter it concerns (when any) and a message safe to
/// show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    kind: SearchErrorKind,
    parameter: Option<String>,
    message: String,
}

impl SearchError {
    /// A new error.
    pub fn new(kind: SearchErrorKind, parameter: Option<&str>, message: impl Into<String>) -> Self {
        SearchError {
            kind,
            parameter: parameter.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A malformed value of `parameter`.
    pub fn malformed(parameter: &str, message: impl Into<String>) -> Self {
        Self::new(SearchErrorKind::MalformedValue, Some(parameter), message)
    }

    /// An unknown parameter.
    pub fn unknown_parameter(parameter: &str, resource_type: &str) -> Self {
        Self::new(
            SearchErrorKind::UnknownParameter,
            Some(parameter),
            format!("unknown search parameter '{parameter}' for {resource_type}"),
        )
    }

    /// A modifier, prefix or feature not supported for `parameter`.
    pub fn unsupported(parameter: &str, message: impl Into<String>) -> Self {
        Self::new(SearchErrorKind::Unsupported, Some(parameter), message)
    }

    /// An internal fault.
    pub fn internal(kind: SearchErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind, None, message)
    }

    /// The kind of error.
    pub fn kind(&self) -> &SearchErrorKind {
        &self.kind
    }

    /// The search parameter (as the client wrote it) the error concerns.
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the client caused the error.
    pub fn is_client_error(&self) -> bool {
        self.kind.is_client_error()
    }
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parameter {
            Some(parameter) => write!(f, "{:?} ({parameter}): {}", self.kind, self.message),
            None => write!(f, "{:?}: {}", self.kind, self.message),
        }
    }
}

impl std::error::Error for SearchError {}

impl From<StoreError> for SearchError {
    fn from(error: StoreError) -> Self {
        SearchError::internal(SearchErrorKind::Store, error.to_string())
    }
}
