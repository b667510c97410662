//! Typed errors of the ER7 parser, each with the position where the input went wrong.

use thiserror::Error;

/// Why a message could not be parsed, and where: `segment` is the 1-based position of the
/// segment in the message, `field` the 1-based field number as HL7 writes it (MSH-2 is the
/// encoding characters), 0 when the whole segment is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("segment {segment}{}, field {field}: {kind}", segment_id.as_deref().map(|id| format!(" ({id})")).unwrap_or_default())]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// 1-based position of the segment in the message (1 is MSH).
    pub segment: usize,
    /// The segment's id when it could be read.
    pub segment_id: Option<String>,
    /// 1-based field number (0: the segment as a whole).
    pub field: usize,
}

/// The kinds of malformed input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    #[error("the message is empty")]
    Empty,
    /// The first segment is not MSH (batch headers FHS/BHS are not read either).
    #[error("the message does not start with an MSH segment (found {found:?})")]
    NoMsh {
        /// The start of the first line, at most 20 characters.
        found: String,
    },
    /// MSH-1 or MSH-2 do not declare usable delimiters.
    #[error("bad delimiters: {reason}")]
    BadDelimiters {
        /// Which rule the delimiters break.
        reason: &'static str,
    },
    /// A segment id that is not three upper-case letters or digits starting with a letter.
    #[error("bad segment id {id:?}")]
    BadSegmentId {
        /// The id as found, at most 20 characters.
        id: String,
    },
    /// A second MSH: batches must be split before parsing.
    #[error("a second MSH segment: one message per parse (split batches first)")]
    SecondMsh,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, segment: usize, field: usize) -> ParseError {
        ParseError {
            kind,
            segment,
            segment_id: None,
            field,
        }
    }

    pub(crate) fn in_segment(mut self, id: &str) -> ParseError {
        self.segment_id = Some(id.to_owned());
        self
    }
}

/// A path like `PID-3[1].4.1` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad HL7 path {path:?}: {reason}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}
