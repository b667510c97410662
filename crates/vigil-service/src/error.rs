//! Service errors: the user's mistakes and conflicts separated from internal faults, each
//! carrying OperationOutcome issues. The API crate maps [`ServiceErrorKind`] to an HTTP status in
//! one table.

use std::fmt;
use vigil_model::{Issue, IssueType};
use vigil_patch::{PatchError, PatchErrorKind, PatchFormat};
use vigil_search::{SearchError, SearchErrorKind};
use vigil_store::{StoreError, StoreErrorKind};

/// The category of a service error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceErrorKind {
    /// The request or resource is malformed or invalid (the user's mistake).
    Invalid,
    /// The resource type is not one this server knows.
    UnknownType,
    /// No such resource or version.
    NotFound,
    /// The resource was deleted.
    Gone,
    /// A concurrent write changed the resource first.
    Conflict,
    /// A precondition failed: `If-Match` on a stale version, or several matches for a
    /// conditional interaction.
    PreconditionFailed,
    /// Valid FHIR that breaks a business rule.
    BusinessRule,
    /// The server does not support what was asked.
    NotSupported,
    /// The caller lacks the rights.
    Forbidden,
    /// Temporarily unable to serve (e.g. the database is busy); the caller may retry.
    Unavailable,
    /// The resource holds more than the server accepts in one place (an array over
    /// `vigil_model::validate::MAX_ARRAY_ITEMS` items): 413, the request is too large, send
    /// less in one resource.
    TooLarge,
    /// A well-formed resource the server will not process because indexing it would cost too
    /// much (more than `vigil_search::MAX_INDEX_ROWS` search index rows): 422, the request is
    /// understood but unprocessable as sent.
    TooCostly,
    /// An internal fault; never the caller's mistake.
    Internal,
}

impl ServiceErrorKind {
    /// The HTTP status code of this category: the one table that the REST API uses for its
    /// responses and that Bundle `entry.response.status` uses inside batch and transaction
    /// responses.
    pub fn http_status(self) -> u16 {
        match self {
            ServiceErrorKind::Invalid => 400,
            ServiceErrorKind::UnknownType => 404,
            ServiceErrorKind::NotFound => 404,
            ServiceErrorKind::Gone => 410,
            ServiceErrorKind::Conflict => 409,
            ServiceErrorKind::PreconditionFailed => 412,
            ServiceErrorKind::BusinessRule => 422,
            ServiceErrorKind::NotSupported => 400,
            ServiceErrorKind::Forbidden => 403,
            ServiceErrorKind::Unavailable => 503,
            ServiceErrorKind::TooLarge => 413,
            ServiceErrorKind::TooCostly => 422,
            ServiceErrorKind::Internal => 500,
        }
    }
}

/// A service error with the OperationOutcome issues that explain it.
#[derive(Debug, Clone)]
pub struct ServiceError {
    kind: ServiceErrorKind,
    issues: Vec<Issue>,
}

impl ServiceError {
    /// An error with one issue.
    pub fn new(kind: ServiceErrorKind, code: IssueType, diagnostics: impl Into<String>) -> Self {
        ServiceError {
            kind,
            issues: vec![Issue::error(code, diagnostics)],
        }
    }
    /// An error carrying a list of issues (e.g. every validation problem at once).
    pub fn with_issues(kind: ServiceErrorKind, issues: Vec<Issue>) -> Self {
        ServiceError { kind, issues }
    }
    /// Invalid input, with one issue at an element path.
    pub fn invalid(diagnostics: impl Into<String>, expression: &str) -> Self {
        ServiceError {
            kind: ServiceErrorKind::Invalid,
            issues: vec![Issue::error(IssueType::Invalid, diagnostics).at(expression)],
        }
    }
    /// Not found.
    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        Self::new(ServiceErrorKind::NotFound, IssueType::NotFound, diagnostics)
    }
    /// An internal fault; the message is for logs and must not hold resource content.
    pub fn internal(diagnostics: impl Into<String>) -> Self {
        Self::new(
            ServiceErrorKind::Internal,
            IssueType::Exception,
            diagnostics,
        )
    }
    /// The category.
    pub fn kind(&self) -> ServiceErrorKind {
        self.kind
    }
    /// The issues explaining the error.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }
    /// The same error, located in a Bundle entry: each issue's diagnostics is prefixed with the
    /// entry and its expression placed under `Bundle.entry[index]`.
    pub fn in_entry(mut self, index: usize) -> Self {
        for issue in &mut self.issues {
            issue.diagnostics = format!("Bundle.entry[{index}]: {}", issue.diagnostics);
            let located: Vec<String> = issue
                .expression
                .iter()
                .map(|e| entry_expression(index, e))
                .collect();
            issue.expression = if located.is_empty() {
                vec![format!("Bundle.entry[{index}]")]
            } else {
                located
            };
        }
        self
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        for issue in &self.issues {
            write!(f, ": {}", issue.diagnostics)?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error.kind() {
            StoreErrorKind::VersionConflict => ServiceError::new(
                ServiceErrorKind::Conflict,
                IssueType::Conflict,
                "the resource was changed by another request at the same time; retry",
            ),
            StoreErrorKind::Busy => ServiceError::new(
                ServiceErrorKind::Unavailable,
                IssueType::Transient,
                "the database is busy; retry",
            ),
            // A unit of work aborted by the service itself carries its reason in the message;
            // the service converts it back before it reaches here, so this is a fault.
            _ => ServiceError::internal(format!("storage failure: {}", error.message())),
        }
    }
}

impl From<SearchError> for ServiceError {
    fn from(error: SearchError) -> Self {
        let (kind, code) = match error.kind() {
            SearchErrorKind::UnknownResourceType => {
                (ServiceErrorKind::UnknownType, IssueType::NotSupported)
            }
            SearchErrorKind::UnknownParameter | SearchErrorKind::Unsupported => {
                (ServiceErrorKind::Invalid, IssueType::NotSupported)
            }
            SearchErrorKind::MalformedValue | SearchErrorKind::InvalidCursor => {
                (ServiceErrorKind::Invalid, IssueType::Invalid)
            }
            SearchErrorKind::TooManyRows => (ServiceErrorKind::TooCostly, IssueType::TooCostly),
            _ => (ServiceErrorKind::Internal, IssueType::Exception),
        };
        let mut issue = Issue::error(code, error.message().to_owned());
        if let Some(parameter) = error.parameter() {
            issue = issue.at(parameter);
        }
        ServiceError {
            kind,
            issues: vec![issue],
        }
    }
}

/// `Patient.name[0]` inside entry 3 becomes `Bundle.entry[3].resource.name[0]`.
fn entry_expression(index: usize, expression: &str) -> String {
    let starts_with_type = expression.starts_with(|c: char| c.is_ascii_uppercase());
    match expression.split_once('.') {
        Some((_, rest)) if starts_with_type => format!("Bundle.entry[{index}].resource.{rest}"),
        None if starts_with_type => format!("Bundle.entry[{index}].resource"),
        _ => format!("Bundle.entry[{index}].{expression}"),
    }
}

/// Every patch failure is the client's: 400 Bad Request, as HAPI answers (it raises
/// `InvalidRequestException` for malformed documents and for operations that cannot be
/// applied alike). The issue code tells the two apart (`invalid` / `processing`) and, for a
/// FHIRPath Patch, the expression names the `Parameters.parameter` at fault.
impl From<PatchError> for ServiceError {
    fn from(error: PatchError) -> Self {
        let code = match error.kind() {
            PatchErrorKind::Malformed => IssueType::Invalid,
            _ => IssueType::Processing,
        };
        let label = match error.format() {
            Some(PatchFormat::JsonPatch) => "JSON Patch ",
            Some(PatchFormat::FhirPathPatch) => "FHIRPath Patch ",
            None => "patch ",
        };
        let mut issue = Issue::error(code, format!("{label}{error}"));
        if let (Some(PatchFormat::FhirPathPatch), Some(index)) = (error.format(), error.operation())
        {
            issue = issue.at(format!("Parameters.parameter[{index}]"));
        }
        ServiceError::with_issues(ServiceErrorKind::Invalid, vec![issue])
    }
}
