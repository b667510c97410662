//! The HL7 v2 ER7 decoder: bytes in, an owned message tree out.
//!
//! Reading rules, as implemented:
//!
//! - Text: the bytes are read as UTF-8 when they are UTF-8, else as Latin-1 (one character per
//!   byte; MSH-18 is not consulted yet).
//! - Segments end at CR, LF or CRLF, in any mix. Leading whitespace of a segment line, blank
//!   lines and whitespace around the message are ignored; trailing characters of a line are data.
//! - Delimiters come from MSH-1 and MSH-2 (see [`Delimiters`]); the first segment must be MSH.
//! - Fields split into repetitions, components and subcomponents; every leaf is unescaped (see
//!   [`escape`]). MSH-1 and MSH-2 are kept as written, as single values.
//! - Any segment id of three upper-case letters or digits starting with a letter is kept,
//!   Z-segments included. Versions are not checked here: MSH-12 is read by the caller.
//! - The HL7 explicit null `""` is kept as the two-character value `""` ([`is_explicit_null`]).
//!
//! Malformed input gives a [`ParseError`] with the segment position and field number; no input
//! makes the parser panic (property-tested).

mod delimiters;
mod error;
pub mod escape;
mod path;

pub use delimiters::Delimiters;
pub use error::{ParseError, ParseErrorKind, PathError};
pub use path::Path;

/// One HL7 v2 message: its delimiters and its segments in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    delimiters: Delimiters,
    segments: Vec<Segment>,
}

/// One segment: its id and its fields (`fields[0]` is field 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The segment id, e.g. `PID` or `ZIN`.
    pub id: String,
    /// The fields, field 1 first. For MSH, field 1 is the field separator and field 2 the
    /// encoding characters, both as written.
    pub fields: Vec<Field>,
}

/// One field: its repetitions (an empty field has one empty repetition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The repetitions, first first.
    pub repetitions: Vec<Repetition>,
}

/// One repetition of a field: its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repetition {
    /// The components, component 1 first.
    pub components: Vec<Component>,
}

/// One component: its subcomponents, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The subcomponents, subcomponent 1 first; each is unescaped text.
    pub subcomponents: Vec<String>,
}

/// Whether a value is the HL7 explicit null `""` (the sender says "delete this value").
pub fn is_explicit_null(value: &str) -> bool {
    value == "\"\""
}

impl Message {
    /// Parses one message from bytes (UTF-8, else Latin-1).
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Message::parse_str(text),
            Err(_) => {
                let text: String = bytes.iter().map(|&b| char::from(b)).collect();
                Message::parse_str(&text)
            }
        }
    }

    /// Parses one message from text.
    pub fn parse_str(text: &str) -> Result<Message, ParseError> {
        let mut lines = text
            .split(['\r', '\n'])
            .map(|line| line.trim_start())
            .filter(|line| !line.is_empty());
        let first = lines
            .next()
            .ok_or(ParseError::new(ParseErrorKind::Empty, 1, 0))?;
        let (delimiters, msh) = parse_msh(first)?;
        let mut segments = vec![msh];
        for (i, line) in lines.enumerate() {
            segments.push(parse_segment(line, &delimiters, i + 2)?);
        }
        Ok(Message {
            delimiters,
            segments,
        })
    }

    /// Builds a message from parts (used to write acknowledgements).
    pub fn from_parts(delimiters: Delimiters, segments: Vec<Segment>) -> Message {
        Message {
            delimiters,
            segments,
        }
    }

    /// The delimiters the message declared.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// All segments in order (the first is MSH).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The `occurrence`-th (1-based) segment with this id.
    pub fn segment(&self, id: &str, occurrence: usize) -> Option<&Segment> {
        self.segments
            .iter()
            .filter(|s| s.id == id)
            .nth(occurrence.checked_sub(1)?)
    }

    /// The value at a path like `PID-3[1].4.1`; `Ok(None)` when the message has no such value.
    pub fn get(&self, path: &str) -> Result<Option<&str>, PathError> {
        Path::parse(path).map(|p| self.value(&p))
    }

    /// The value at a parsed path.
    pub fn value(&self, path: &Path) -> Option<&str> {
        self.segment(&path.segment, path.occurrence)?.value(
            path.field,
            path.repetition,
            path.component,
            path.subcomponent,
        )
    }

    /// The message header read as the acknowledgement and the mapper need it (all values
    /// empty for a message built without MSH by [`Message::from_parts`]).
    pub fn header(&self) -> Header<'_> {
        static NO_HEADER: Segment = Segment {
            id: String::new(),
            fields: Vec::new(),
        };
        let msh = self.segments.first().filter(|s| s.id == "MSH");
        Header {
            msh: msh.unwrap_or(&NO_HEADER),
        }
    }

    /// Writes the message back as ER7 with its own delimiters, segments ended by CR.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            segment.encode_into(&self.delimiters, &mut out);
            out.push('\r');
        }
        out
    }
}

/// MSH read by field: the values an acknowledgement and a mapper ask for.
#[derive(Debug, Clone, Copy)]
pub struct Header<'m> {
    msh: &'m Segment,
}

impl<'m> Header<'m> {
    /// The MSH segment itself.
    pub fn segment(&self) -> &'m Segment {
        self.msh
    }
    fn first(&self, field: usize, component: usize) -> &'m str {
        self.msh.value(field, 1, component, 1).unwrap_or_default()
    }
    /// MSH-9.1, the message code (`ADT`).
    pub fn message_code(&self) -> &'m str {
        self.first(9, 1)
    }
    /// MSH-9.2, the trigger event (`A01`).
    pub fn trigger_event(&self) -> &'m str {
        self.first(9, 2)
    }
    /// MSH-9.3, the message structure (`ADT_A01`), often empty.
    pub fn message_structure(&self) -> &'m str {
        self.first(9, 3)
    }
    /// MSH-10, the message control id.
    pub fn control_id(&self) -> &'m str {
        self.first(10, 1)
    }
    /// MSH-11.1, the processing id (P, T, D).
    pub fn processing_id(&self) -> &'m str {
        self.first(11, 1)
    }
    /// MSH-12.1, the version (`2.5.1`).
    pub fn version(&self) -> &'m str {
        self.first(12, 1)
    }
    /// MSH-15, the accept acknowledgement type (AL, NE, ER, SU), empty in original mode.
    pub fn accept_ack_type(&self) -> &'m str {
        self.first(15, 1)
    }
    /// MSH-16, the application acknowledgement type, empty in original mode.
    pub fn application_ack_type(&self) -> &'m str {
        self.first(16, 1)
    }
}

impl Segment {
    /// Field `n` (1-based).
    pub fn field(&self, n: usize) -> Option<&Field> {
        self.fields.get(n.checked_sub(1)?)
    }

    /// One value by position, all 1-based.
    pub fn value(
        &self,
        field: usize,
        repetition: usize,
        component: usize,
        sub: usize,
    ) -> Option<&str> {
        let rep = self
            .field(field)?
            .repetitions
            .get(repetition.checked_sub(1)?)?;
        let comp = rep.components.get(component.checked_sub(1)?)?;
        comp.subcomponents
            .get(sub.checked_sub(1)?)
            .map(String::as_str)
    }

    /// Writes the segment (without terminator) with these delimiters.
    pub fn encode_into(&self, d: &Delimiters, out: &mut String) {
        out.push_str(&self.id);
        let raw_header = usize::from(self.id == "MSH") * 2;
        for (i, field) in self.fields.iter().enumerate() {
            if i == 0 && raw_header > 0 {
                continue; // MSH-1 is the separator written below
            }
            out.push(d.field);
            if i < raw_header {
                out.push_str(field.first());
            } else {
                field.encode_into(d, out);
            }
        }
        if raw_header > 0 && self.fields.len() < 2 {
            out.push(d.field);
        }
    }
}

impl Field {
    /// A field of one plain value.
    pub fn text(value: &str) -> Field {
        Field {
            repetitions: vec![Repetition {
                components: vec![Component {
                    subcomponents: vec![value.to_owned()],
                }],
            }],
        }
    }

    /// A field of components, each one plain value.
    pub fn components(values: &[&str]) -> Field {
        let components = values
            .iter()
            .map(|v| Component {
                subcomponents: vec![(*v).to_owned()],
            })
            .collect();
        Field {
            repetitions: vec![Repetition { components }],
        }
    }

    /// The first value (repetition 1, component 1, subcomponent 1), empty when absent.
    pub fn first(&self) -> &str {
        self.repetitions
            .first()
            .and_then(|r| r.components.first())
            .and_then(|c| c.subcomponents.first())
            .map_or("", String::as_str)
    }

    /// Whether every value of the field is empty.
    pub fn is_empty(&self) -> bool {
        self.repetitions
            .iter()
            .flat_map(|r| &r.components)
            .flat_map(|c| &c.subcomponents)
            .all(String::is_empty)
    }

    /// Writes the field, escaping every value, with these delimiters. Delimiters the message
    /// did not declare (no repetition or subcomponent character) keep only the first item.
    pub fn encode_into(&self, d: &Delimiters, out: &mut String) {
        let reps = if d.repetition.is_some() {
            self.repetitions.len()
        } else {
            1
        };
        for (r, rep) in self.repetitions.iter().take(reps).enumerate() {
            if let (true, Some(sep)) = (r > 0, d.repetition) {
                out.push(sep);
            }
            for (c, comp) in rep.components.iter().enumerate() {
                if c > 0 {
                    out.push(d.component);
                }
                let subs = if d.subcomponent.is_some() {
                    comp.subcomponents.len()
                } else {
                    1
                };
                for (s, sub) in comp.subcomponents.iter().take(subs).enumerate() {
                    if let (true, Some(sep)) = (s > 0, d.subcomponent) {
                        out.push(sep);
                    }
                    out.push_str(&escape::escape(sub, d));
                }
            }
        }
    }
}

fn parse_msh(line: &str) -> Result<(Delimiters, Segment), ParseError> {
    let mut chars = line.chars();
    let id: String = chars.by_ref().take(3).collect();
    if id != "MSH" {
        let found = line.chars().take(20).collect();
        return Err(ParseError::new(ParseErrorKind::NoMsh { found }, 1, 0));
    }
    let bad = |reason, field| {
        ParseError::new(ParseErrorKind::BadDelimiters { reason }, 1, field).in_segment("MSH")
    };
    let field_sep = chars
        .next()
        .ok_or_else(|| bad("no field separator after MSH", 1))?;
    let rest = chars.as_str();
    let (encoding, rest) = rest.split_once(field_sep).unwrap_or((rest, ""));
    let delimiters = Delimiters::from_msh(field_sep, encoding).map_err(|reason| bad(reason, 2))?;
    let mut fields = vec![Field::text(&field_sep.to_string()), Field::text(encoding)];
    if !rest.is_empty() || line.len() > 4 + encoding.len() {
        fields.extend(rest.split(field_sep).map(|f| parse_field(f, &delimiters)));
    }
    Ok((delimiters, Segment { id, fields }))
}

fn parse_segment(line: &str, d: &Delimiters, index: usize) -> Result<Segment, ParseError> {
    let (id, rest) = match line.split_once(d.field) {
        Some((id, rest)) => (id, Some(rest)),
        None => (line, None),
    };
    if !is_segment_id(id) {
        let id = id.chars().take(20).collect();
        return Err(ParseError::new(
            ParseErrorKind::BadSegmentId { id },
            index,
            0,
        ));
    }
    if id == "MSH" {
        return Err(ParseError::new(ParseErrorKind::SecondMsh, index, 0).in_segment(id));
    }
    let fields = rest.map_or_else(Vec::new, |rest| {
        rest.split(d.field).map(|f| parse_field(f, d)).collect()
    });
    Ok(Segment {
        id: id.to_owned(),
        fields,
    })
}

fn is_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 3
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn parse_field(raw: &str, d: &Delimiters) -> Field {
    let repetitions = match d.repetition {
        Some(sep) => raw.split(sep).map(|r| parse_repetition(r, d)).collect(),
        None => vec![parse_repetition(raw, d)],
    };
    Field { repetitions }
}

fn parse_repetition(raw: &str, d: &Delimiters) -> Repetition {
    let components = raw
        .split(d.component)
        .map(|c| {
            let subcomponents = match d.subcomponent {
                Some(sep) => c.split(sep).map(|s| escape::unescape(s, d)).collect(),
                None => vec![escape::unescape(c, d)],
            };
            Component { subcomponents }
        })
        .collect();
    Repetition { components }
}

#[cfg(test)]
mod tests;
