//! Acknowledgements: the ACK Vigil answers for each message, and for input it cannot read.
//!
//! [`acknowledge`] builds the ACK for a parsed message and an [`Outcome`]:
//!
//! - MSH: the message's own delimiters (MSH-1, MSH-2 as written), MSH-3/4 = the message's
//!   MSH-5/6 and MSH-5/6 = its MSH-3/4 (sender and receiver swapped, whole fields),
//!   MSH-7 the given timestamp, MSH-9 `ACK^<trigger>^ACK`, MSH-10 the given new control id,
//!   MSH-11 and MSH-12 copied (processing id, version). MSH-18 is left empty: the ACK is UTF-8.
//! - MSA-1 the code, MSA-2 the message's MSH-10. For versions before 2.5, MSA-3 carries the
//!   error text too (it was withdrawn later).
//! - For errors, an ERR segment: ERR-2 the error location when known, ERR-3 the HL7 error code
//!   (table 0357, `code^text^HL70357`), ERR-4 the severity (table 0516), ERR-8 the text for a
//!   user. Versions before 2.5 also get ERR-1 (segment^sequence^field^code&text&HL70357), the
//!   only ERR field they define; later fields are ignored by such receivers.
//! - Every text value is escaped with the message's delimiters.
//!
//! Modes ([`AckMode`]): when MSH-15 and MSH-16 are both empty the message is in original mode
//! and the answer is AA/AE/AR, always sent. Otherwise it is in enhanced mode: Vigil answers the
//! accept (commit) acknowledgement CA/CE/CR, sent or not as MSH-15 asks (AL always, NE never, ER
//! only on error, SU only on success; empty or unknown: always). Vigil gives the accept
//! acknowledgement only after the message and its resources are durably committed, so CA means
//! more than the standard's "safely received". The application acknowledgement AA/AE/AR is
//! then sent as MSH-16 asks (same rules), right after the accept acknowledgement on the same
//! connection, as a message of its own (MSH-10 the accept acknowledgement's with `-2`,
//! MSH-15/MSH-16 `NE`, so nothing is asked back); a storage fault is CR and AR (207), as it is
//! AR in original mode: nothing was processed and a resend is.
//!
//! [`acknowledge_unreadable`] answers input whose MSH cannot be parsed: best effort, with the
//! standard delimiters `|^~\&`, the values it can salvage from a first line that starts with
//! `MSH` and a punctuation character (sender, receiver, trigger, MSH-10, processing id,
//! version, split on that character), else empty fields and version 2.5; always AR.

use crate::er7::{Delimiters, Field, Message, ParseError, ParseErrorKind, Segment};

/// MSA-1 acknowledgement codes (table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// AA, original mode: accepted (for Vigil: durably committed).
    ApplicationAccept,
    /// AE, original mode: the content makes processing impossible.
    ApplicationError,
    /// AR, original mode: refused (unsupported type, unreadable envelope).
    ApplicationReject,
    /// CA, enhanced mode: accepted and committed.
    CommitAccept,
    /// CE, enhanced mode: error.
    CommitError,
    /// CR, enhanced mode: refused.
    CommitReject,
}

impl AckCode {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::ApplicationAccept => "AA",
            AckCode::ApplicationError => "AE",
            AckCode::ApplicationReject => "AR",
            AckCode::CommitAccept => "CA",
            AckCode::CommitError => "CE",
            AckCode::CommitReject => "CR",
        }
    }
}

/// HL7 error codes (table 0357), written in ERR-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hl7ErrorCode {
    /// 0: message accepted.
    MessageAccepted,
    /// 100: segment sequence error (missing or misplaced segment).
    SegmentSequenceError,
    /// 101: required field missing.
    RequiredFieldMissing,
    /// 102: data type error (e.g. a non-numeric NM value).
    DataTypeError,
    /// 103: table value not found.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 204: unknown key identifier.
    UnknownKeyIdentifier,
    /// 205: duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206: application record locked.
    ApplicationRecordLocked,
    /// 207: application internal error.
    ApplicationInternalError,
}

impl Hl7ErrorCode {
    /// The numeric code and its table text.
    pub fn code_and_text(self) -> (&'static str, &'static str) {
        match self {
            Hl7ErrorCode::MessageAccepted => ("0", "Message accepted"),
            Hl7ErrorCode::SegmentSequenceError => ("100", "Segment sequence error"),
            Hl7ErrorCode::RequiredFieldMissing => ("101", "Required field missing"),
            Hl7ErrorCode::DataTypeError => ("102", "Data type error"),
            Hl7ErrorCode::TableValueNotFound => ("103", "Table value not found"),
            Hl7ErrorCode::UnsupportedMessageType => ("200", "Unsupported message type"),
            Hl7ErrorCode::UnsupportedEventCode => ("201", "Unsupported event code"),
            Hl7ErrorCode::UnsupportedProcessingId => ("202", "Unsupported processing id"),
            Hl7ErrorCode::UnsupportedVersionId => ("203", "Unsupported version id"),
            Hl7ErrorCode::UnknownKeyIdentifier => ("204", "Unknown key identifier"),
            Hl7ErrorCode::DuplicateKeyIdentifier => ("205", "Duplicate key identifier"),
            Hl7ErrorCode::ApplicationRecordLocked => ("206", "Application record locked"),
            Hl7ErrorCode::ApplicationInternalError => ("207", "Application internal error"),
        }
    }
}

/// ERR-4 severity (table 0516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// E: error, the message was not processed.
    Error,
    /// W: warning, processed.
    Warning,
    /// I: information.
    Information,
    /// F: fatal error (v2.7+).
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
            Severity::Fatal => "F",
        }
    }
}

/// Where in the message the error is (ERR-2, type ERL); numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorLocation {
    /// The segment id, e.g. `OBX`.
    pub segment_id: String,
    /// Which segment with that id (1 for the first).
    pub sequence: usize,
    /// The field number, when known.
    pub field: Option<usize>,
    /// The repetition, when known.
    pub repetition: Option<usize>,
    /// The component, when known.
    pub component: Option<usize>,
    /// The subcomponent, when known.
    pub subcomponent: Option<usize>,
}

/// One error reported in ERR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// ERR-3, the HL7 error code.
    pub code: Hl7ErrorCode,
    /// ERR-4, the severity.
    pub severity: Severity,
    /// ERR-2, where, when known.
    pub location: Option<ErrorLocation>,
    /// ERR-8, a message for the sender's staff.
    pub message: String,
}

impl AckError {
    /// An error of severity E.
    pub fn new(code: Hl7ErrorCode, message: impl Into<String>) -> AckError {
        AckError {
            code,
            severity: Severity::Error,
            location: None,
            message: message.into(),
        }
    }

    /// The same error at a location.
    pub fn at(mut self, location: ErrorLocation) -> AckError {
        self.location = Some(location);
        self
    }

    /// The error reported for input the parser refused: a missing or misplaced MSH or a bad
    /// segment id is a segment sequence error (100), bad delimiters a data type error (102).
    pub fn from_parse_error(err: &ParseError) -> AckError {
        let code = match err.kind {
            ParseErrorKind::BadDelimiters { .. } => Hl7ErrorCode::DataTypeError,
            _ => Hl7ErrorCode::SegmentSequenceError,
        };
        let location = (err.segment_id.as_deref() == Some("MSH")).then(|| ErrorLocation {
            segment_id: "MSH".to_owned(),
            sequence: if err.segment == 1 { 1 } else { 2 },
            field: (err.field > 0).then_some(err.field),
            ..ErrorLocation::default()
        });
        AckError {
            location,
            ..AckError::new(code, err.to_string())
        }
    }
}

/// What processing the message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed (AA / CA).
    Accepted,
    /// The content makes processing impossible; nothing stored (AE / CE).
    Error(AckError),
    /// Refused: unsupported type, unreadable envelope (AR / CR).
    Rejected(AckError),
}

/// When an acknowledgement is wanted (table 0155, MSH-15/MSH-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCondition {
    /// AL (and empty or unknown values).
    Always,
    /// NE.
    Never,
    /// ER.
    OnError,
    /// SU.
    OnSuccess,
}

impl AckCondition {
    /// Whether an acknowledgement under this condition is sent for `outcome`.
    pub fn holds(self, outcome: &Outcome) -> bool {
        let success = matches!(outcome, Outcome::Accepted);
        match self {
            AckCondition::Always => true,
            AckCondition::Never => false,
            AckCondition::OnError => !success,
            AckCondition::OnSuccess => success,
        }
    }

    /// MSH-15 or MSH-16 as a condition (AL, and empty or unknown values, are `Always`).
    pub fn parse(value: &str) -> AckCondition {
        match value {
            "NE" => AckCondition::Never,
            "ER" => AckCondition::OnError,
            "SU" => AckCondition::OnSuccess,
            _ => AckCondition::Always,
        }
    }
}

/// Original or enhanced acknowledgement mode, read from MSH-15/MSH-16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// Both MSH-15 and MSH-16 empty: AA/AE/AR, always sent.
    Original,
    /// Enhanced mode: CA/CE/CR as MSH-15 asks.
    Enhanced {
        /// MSH-15, when the accept acknowledgement is wanted.
        accept: AckCondition,
        /// MSH-16, when an application acknowledgement is wanted.
        application: AckCondition,
    },
}

impl AckMode {
    /// The mode a message asks for.
    pub fn of(message: &Message) -> AckMode {
        let header = message.header();
        let (accept, application) = (header.accept_ack_type(), header.application_ack_type());
        if accept.is_empty() && application.is_empty() {
            AckMode::Original
        } else {
            AckMode::Enhanced {
                accept: AckCondition::parse(accept),
                application: AckCondition::parse(application),
            }
        }
    }
}

/// An acknowledgement ready to encode, and whether the sender asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// MSA-1.
    pub code: AckCode,
    /// False when enhanced mode's MSH-15 says not to send this one (NE, ER on success, SU on error).
    pub send: bool,
    /// The ACK message; [`Message::encode`] writes it.
    pub message: Message,
    /// Enhanced mode: the application acknowledgement (AA/AE/AR) when MSH-16 asks for it in
    /// this case, sent right after the accept acknowledgement on the same connection. Its
    /// MSH-10 is the accept acknowledgement's with `-2`, and its MSH-15/MSH-16 are `NE` (it
    /// asks for no acknowledgement back).
    pub application: Option<Message>,
}

/// The values of an acknowledgement that the caller owns: its control id and time.
#[derive(Debug, Clone, Copy)]
pub struct AckHeader<'a> {
    /// MSH-10 of the ACK, a new control id.
    pub control_id: &'a str,
    /// MSH-7 of the ACK, e.g. `20261207200000+0000`.
    pub timestamp: &'a str,
}

/// Builds the acknowledgement for a parsed message.
pub fn acknowledge(message: &Message, outcome: &Outcome, ack: AckHeader<'_>) -> Acknowledgement {
    let mode = AckMode::of(message);
    let (code, send) = code_for(mode, outcome);
    let header = message.header();
    let msh = header.segment();
    let whole = |n: usize| msh.field(n).cloned().unwrap_or_else(|| Field::text(""));
    let ack_msh = Segment {
        id: "MSH".to_owned(),
        fields: vec![
            whole(1),
            whole(2),
            whole(5),
            whole(6),
            whole(3),
            whole(4),
            Field::text(ack.timestamp),
            Field::text(""),
            Field::components(&["ACK", header.trigger_event(), "ACK"]),
            Field::text(ack.control_id),
            whole(11),
            whole(12),
        ],
    };
    let application = match mode {
        AckMode::Enhanced { application, .. } if application.holds(outcome) => {
            let mut msh = ack_msh.clone();
            msh.fields[9] = Field::text(&format!("{}-2", ack.control_id));
            msh.fields.extend([
                Field::text(""),
                Field::text(""),
                Field::text("NE"),
                Field::text("NE"),
            ]);
            let segments = response_segments(
                msh,
                application_code(outcome),
                header.control_id(),
                header.version(),
                outcome,
            );
            Some(Message::from_parts(*message.delimiters(), segments))
        }
        _ => None,
    };
    let segments = response_segments(
        ack_msh,
        code,
        header.control_id(),
        header.version(),
        outcome,
    );
    Acknowledgement {
        code,
        send,
        message: Message::from_parts(*message.delimiters(), segments),
        application,
    }
}

/// AA, AE or AR for an outcome.
fn application_code(outcome: &Outcome) -> AckCode {
    match outcome {
        Outcome::Accepted => AckCode::ApplicationAccept,
        Outcome::Error(_) => AckCode::ApplicationError,
        Outcome::Rejected(_) => AckCode::ApplicationReject,
    }
}

fn code_for(mode: AckMode, outcome: &Outcome) -> (AckCode, bool) {
    match mode {
        AckMode::Original => (application_code(outcome), true),
        AckMode::Enhanced { accept, .. } => {
            let code = match outcome {
                Outcome::Accepted => AckCode::CommitAccept,
                Outcome::Error(_) => AckCode::CommitError,
                Outcome::Rejected(_) => AckCode::CommitReject,
            };
            (code, accept.holds(outcome))
        }
    }
}

/// MSH, MSA and (for errors) ERR.
fn response_segments(
    msh: Segment,
    code: AckCode,
    control_id: &str,
    version: &str,
    outcome: &Outcome,
) -> Vec<Segment> {
    let error = match outcome {
        Outcome::Accepted => None,
        Outcome::Error(e) | Outcome::Rejected(e) => Some(e),
    };
    let legacy = is_before_2_5(version);
    let mut msa = vec![Field::text(code.as_str()), Field::text(control_id)];
    if let (true, Some(e)) = (legacy, error) {
        msa.push(Field::text(&e.message));
    }
    let mut segments = vec![
        msh,
        Segment {
            id: "MSA".to_owned(),
            fields: msa,
        },
    ];
    if let Some(e) = error {
        segments.push(err_segment(e, legacy));
    }
    segments
}

fn err_segment(e: &AckError, legacy: bool) -> Segment {
    let (code, text) = e.code.code_and_text();
    let number = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut fields = vec![Field::text(""); 8];
    let mut where_ = [String::new(), String::new(), String::new()];
    if let Some(at) = &e.location {
        where_ = [
            at.segment_id.clone(),
            at.sequence.to_string(),
            number(at.field),
        ];
        let (rep, comp, sub) = (
            number(at.repetition),
            number(at.component),
            number(at.subcomponent),
        );
        let mut erl = vec![
            where_[0].as_str(),
            &where_[1],
            &where_[2],
            &rep,
            &comp,
            &sub,
        ];
        while erl.last().is_some_and(|c| c.is_empty()) {
            erl.pop();
        }
        fields[1] = Field::components(&erl);
    }
    if legacy {
        let mut eld = Field::components(&[&where_[0], &where_[1], &where_[2], code]);
        if let Some(last) = eld
            .repetitions
            .first_mut()
            .and_then(|r| r.components.last_mut())
        {
            last.subcomponents = vec![code.to_owned(), text.to_owned(), "HL70357".to_owned()];
        }
        fields[0] = eld;
    }
    fields[2] = Field::components(&[code, text, "HL70357"]);
    fields[3] = Field::text(e.severity.as_str());
    fields[7] = Field::text(&e.message);
    trim_trailing_empty(&mut fields);
    Segment {
        id: "ERR".to_owned(),
        fields,
    }
}

fn trim_trailing_empty(fields: &mut Vec<Field>) {
    while fields.last().is_some_and(Field::is_empty) {
        fields.pop();
    }
}

/// Whether a version id is before 2.5 (2.1 to 2.4, 2.3.1); unreadable versions count as modern.
fn is_before_2_5(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.trim().parse::<u32>().ok());
    matches!((parts.next().flatten(), parts.next().flatten()), (Some(2), Some(minor)) if minor < 5)
}

/// Best-effort AR for input whose MSH cannot be parsed (see the module docs).
pub fn acknowledge_unreadable(raw: &[u8], error: &AckError, ack: AckHeader<'_>) -> Acknowledgement {
    let salvaged = Salvaged::from_raw(raw);
    let d = Delimiters::default();
    // MSH-12's first component is the version (`2.3^USA` is version 2.3).
    let version = match salvaged.component(12, 1) {
        "" => "2.5",
        version => version,
    };
    let trigger = salvaged.component(9, 2);
    let message_type = if trigger.is_empty() {
        Field::text("ACK")
    } else {
        Field::components(&["ACK", trigger, "ACK"])
    };
    let msh = Segment {
        id: "MSH".to_owned(),
        fields: vec![
            Field::text("|"),
            Field::text(&d.encoding_characters()),
            Field::text(salvaged.component(5, 1)),
            Field::text(salvaged.component(6, 1)),
            Field::text(salvaged.component(3, 1)),
            Field::text(salvaged.component(4, 1)),
            Field::text(ack.timestamp),
            Field::text(""),
            message_type,
            Field::text(ack.control_id),
            Field::text(salvaged.component(11, 1)),
            Field::text(version),
        ],
    };
    let outcome = Outcome::Rejected(error.clone());
    let segments = response_segments(
        msh,
        AckCode::ApplicationReject,
        salvaged.get(10),
        version,
        &outcome,
    );
    Acknowledgement {
        code: AckCode::ApplicationReject,
        send: true,
        message: Message::from_parts(d, segments),
        application: None,
    }
}

/// MSH fields read from a first line the parser refused, split on its fourth character.
struct Salvaged {
    fields: Vec<String>,
    component: Option<char>,
}

impl Salvaged {
    fn from_raw(raw: &[u8]) -> Salvaged {
        let text = String::from_utf8_lossy(raw);
        let line = text
            .split(['\r', '\n'])
            .map(str::trim_start)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        let mut chars = line.chars();
        let prefix: String = chars.by_ref().take(3).collect();
        let separator = chars.next().filter(|c| c.is_ascii_punctuation());
        match (prefix.as_str(), separator) {
            ("MSH", Some(sep)) => {
                let fields: Vec<String> = line.split(sep).map(str::to_owned).collect();
                let component = fields
                    .get(1)
                    .and_then(|f| f.chars().next())
                    .filter(|c| c.is_ascii_punctuation() && *c != sep);
                Salvaged { fields, component }
            }
            _ => Salvaged {
                fields: Vec::new(),
                component: None,
            },
        }
    }

    /// MSH-n as written (MSH-n is the (n-1)-th piece after splitting on the separator).
    fn get(&self, n: usize) -> &str {
        self.fields.get(n - 1).map_or("", String::as_str)
    }

    fn component(&self, n: usize, c: usize) -> &str {
        let field = self.get(n);
        match self.component {
            Some(sep) => field.split(sep).nth(c - 1).unwrap_or_default(),
            None if c == 1 => field,
            None => "",
        }
    }
}

#[cfg(test)]
mod tests;
