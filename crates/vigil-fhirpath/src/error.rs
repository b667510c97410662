//! Typed errors: [`ParseError`] for what `compile` rejects (syntax and semantic checks, with the
//! line:column where it happened and what was expected) and [`EvalError`] for what an
//! evaluation rejects (with the position of the offending sub-expression).

use std::fmt;

/// A position in the expression source: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, counted in characters.
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What kind of mistake a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text does not follow the FHIRPath grammar.
    Syntax,
    /// A function name that FHIRPath (with the FHIR additions) does not define.
    UnknownFunction,
    /// A known function called with the wrong number of arguments.
    WrongArity,
    /// An argument that must be a type name (`is`, `as`, `ofType`) is not one.
    InvalidTypeSpecifier,
    /// A literal that is well formed lexically but not a valid value (e.g. `@2015-13`).
    InvalidLiteral,
    /// Strict checking found a path that cannot exist on the context type.
    Semantic,
}

/// An expression that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: expected {expected}, found {found}")]
pub struct ParseError {
    /// Kind of mistake.
    pub kind: ParseErrorKind,
    /// Where it happened.
    pub position: Position,
    /// What the parser expected at that position.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        position: Position,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ParseError {
            kind,
            position,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// Line of the error (1-based).
    pub fn line(&self) -> u32 {
        self.position.line
    }

    /// Column of the error (1-based, in characters).
    pub fn column(&self) -> u32 {
        self.position.column
    }
}

/// What kind of failure an [`EvalError`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// An operand or function input had more than one item where one was required.
    SingletonExpected,
    /// An operand had a type the operator or function cannot work with.
    TypeMismatch,
    /// A function argument has an invalid value (e.g. a malformed regular expression).
    InvalidArgument,
    /// A `%name` variable that the context does not define.
    UndefinedVariable(String),
    /// Integer overflow or a value outside the representable range.
    Overflow,
    /// A caller-supplied hook (resolve, terminology) reported a failure.
    Hook(String),
    /// The evaluation went deeper than the recursion limit (e.g. runaway `repeat`).
    TooDeep,
}

/// An evaluation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: {message}")]
pub struct EvalError {
    /// Kind of failure.
    pub kind: EvalErrorKind,
    /// Position of the sub-expression that failed.
    pub position: Position,
    /// Human-readable explanation.
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(kind: EvalErrorKind, position: Position, message: impl Into<String>) -> Self {
        EvalError {
            kind,
            position,
            message: message.into(),
        }
    }
}

/// Result of an evaluation step.
pub type EvalResult<T> = Result<T, EvalError>;
