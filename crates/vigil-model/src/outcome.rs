//! Issues and OperationOutcome: how every problem the model finds is reported.
//!
//! An [`Issue`] carries the FHIR `OperationOutcome.issue` fields Vigil uses (severity, issue-type
//! code, diagnostics, FHIRPath-ish expressions). [`operation_outcome`] turns a list of issues
//! into a valid OperationOutcome resource.

use std::fmt;

use serde_json::{Map, Value, json};

/// `OperationOutcome.issue.severity` (value set `issue-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The issue caused the action to fail and no further checking could be performed.
    Fatal,
    /// The issue is sufficiently important to cause the action to fail.
    Error,
    /// The issue is not important enough to cause the action to fail.
    Warning,
    /// The issue has no relation to the degree of success of the action.
    Information,
}

impl Severity {
    /// The FHIR code (`fatal`, `error`, `warning`, `information`).
    pub fn as_code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// True for `fatal` and `error`: the issue makes the input unacceptable.
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

macro_rules! issue_types {
    ($($variant:ident => $code:literal, $doc:literal;)*) => {
        /// `OperationOutcome.issue.code` (value set `issue-type`, all R4 codes).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum IssueType {
            $(#[doc = $doc] $variant,)*
        }

        impl IssueType {
            /// Every issue type, in the order of the FHIR value set.
            pub const ALL: &'static [IssueType] = &[$(IssueType::$variant,)*];

            /// The FHIR code, e.g. `code-invalid`.
            pub fn as_code(self) -> &'static str {
                match self {
                    $(IssueType::$variant => $code,)*
                }
            }

            /// The issue type for a FHIR code, if it is one.
            pub fn from_code(code: &str) -> Option<IssueType> {
                match code {
                    $($code => Some(IssueType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

issue_types! {
    Invalid => "invalid", "Content invalid against the specification or a profile.";
    Structure => "structure", "A structural issue in the content (unknown element, wrong JSON type).";
    Required => "required", "A required element is missing.";
    Value => "value", "An element or header value is invalid.";
    Invariant => "invariant", "A content validation rule failed.";
    Security => "security", "An authentication/authorization/permissions issue.";
    Login => "login", "The client needs to initiate an authentication process.";
    Unknown => "unknown", "The user or system was not able to be authenticated.";
    Expired => "expired", "User session expired; a login may be required.";
    Forbidden => "forbidden", "The user does not have the rights to perform this action.";
    Suppressed => "suppressed", "Some information was not or might not have been returned.";
    Processing => "processing", "Processing issues.";
    NotSupported => "not-supported", "The interaction, operation, resource or profile is not supported.";
    Duplicate => "duplicate", "An attempt was made to create a duplicate record.";
    MultipleMatches => "multiple-matches", "Multiple matching records were found.";
    NotFound => "not-found", "The reference provided was not found.";
    Deleted => "deleted", "The reference pointed to content that has been deleted.";
    TooLong => "too-long", "Provided content is too long.";
    CodeInvalid => "code-invalid", "The code or system could not be understood or is not valid.";
    Extension => "extension", "An extension was not recognised or is not supported.";
    TooCostly => "too-costly", "The operation was stopped to protect server resources.";
    BusinessRule => "business-rule", "The content/operation failed to pass a business rule.";
    Conflict => "conflict", "Content could not be accepted because of an edit conflict.";
    Transient => "transient", "Transient processing issues; the client may try again.";
    LockError => "lock-error", "A resource/record locking failure.";
    NoStore => "no-store", "The persistent store is unavailable.";
    Exception => "exception", "An unexpected internal error has occurred.";
    Timeout => "timeout", "An internal timeout has occurred.";
    Incomplete => "incomplete", "Not all data sources returned results.";
    Throttled => "throttled", "The system is not prepared to handle this request due to load.";
    Informational => "informational", "A message unrelated to the processing success.";
}

impl fmt::Display for IssueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// One problem (or note) about some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem it is.
    pub code: IssueType,
    /// Human-readable explanation.
    pub diagnostics: String,
    /// Where: FHIRPath-ish element paths such as `Patient.name[0].given[1]`.
    pub expression: Vec<String>,
}

impl Issue {
    /// A new issue of the given severity.
    pub fn new(severity: Severity, code: IssueType, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }

    /// An `error` issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Error, code, diagnostics)
    }

    /// A `warning` issue.
    pub fn warning(code: IssueType, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Warning, code, diagnostics)
    }

    /// A `fatal` issue.
    pub fn fatal(code: IssueType, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Fatal, code, diagnostics)
    }

    /// An `information` issue.
    pub fn information(code: IssueType, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Information, code, diagnostics)
    }

    /// Adds an element path to `expression`.
    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression.push(expression.into());
        self
    }

    /// This issue as an `OperationOutcome.issue` JSON object.
    pub fn to_json(&self) -> Value {
        let mut issue = Map::new();
        issue.insert(
            "severity".into(),
            Value::String(self.severity.as_code().into()),
        );
        issue.insert("code".into(), Value::String(self.code.as_code().into()));
        if !self.diagnostics.is_empty() {
            issue.insert(
                "diagnostics".into(),
                Value::String(self.diagnostics.clone()),
            );
        }
        if !self.expression.is_empty() {
            let exprs = self
                .expression
                .iter()
                .map(|e| Value::String(e.clone()))
                .collect();
            issue.insert("expression".into(), Value::Array(exprs));
        }
        Value::Object(issue)
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.severity.as_code(), self.code.as_code())?;
        if !self.expression.is_empty() {
            write!(f, " at {}", self.expression.join(", "))?;
        }
        write!(f, ": {}", self.diagnostics)
    }
}

/// True when any issue is `fatal` or `error`.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity.is_error())
}

/// A valid OperationOutcome resource listing `issues`.
///
/// OperationOutcome requires at least one issue; with none, a single `information` /
/// `informational` issue saying "All OK" is emitted (as FHIR servers conventionally do).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let list: Vec<Value> = if issues.is_empty() {
        vec![Issue::information(IssueType::Informational, "All OK").to_json()]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    json!({ "resourceType": "OperationOutcome", "issue": list })
}
