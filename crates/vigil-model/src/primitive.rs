//! The 20 R4 primitive types and their hand-written validators (no regex).
//!
//! Each validator follows the type's regex in the R4 specification plus the JSON rules: the
//! JSON type (string, number or boolean), no empty strings, and real calendar dates (no
//! February 30th). They allocate nothing when the value is valid.

use serde_json::Value;

/// An R4 primitive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `boolean`: JSON true/false.
    Boolean,
    /// `integer`: JSON number, 32-bit signed.
    Integer,
    /// `positiveInt`: JSON number, 1..=2^31-1.
    PositiveInt,
    /// `unsignedInt`: JSON number, 0..=2^31-1.
    UnsignedInt,
    /// `decimal`: JSON number, kept with its written precision.
    Decimal,
    /// `string`: non-empty, no control characters other than whitespace, at most 1 MiB.
    String,
    /// `uri`: no whitespace.
    Uri,
    /// `url`: a uri that is a URL.
    Url,
    /// `canonical`: a uri, optionally with `|version`.
    Canonical,
    /// `uuid`: `urn:uuid:` + lower-case UUID.
    Uuid,
    /// `oid`: `urn:oid:` + OID.
    Oid,
    /// `id`: `[A-Za-z0-9\-\.]{1,64}`.
    Id,
    /// `code`: no leading, trailing or double whitespace.
    Code,
    /// `markdown`: like string.
    Markdown,
    /// `base64Binary`: base64 (whitespace tolerated).
    Base64Binary,
    /// `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    Date,
    /// `dateTime`: a date, or a full date with time and timezone.
    DateTime,
    /// `instant`: full date, time with seconds and timezone.
    Instant,
    /// `time`: `hh:mm:ss(.f+)?`.
    Time,
    /// `xhtml`: the narrative `div` (checked to be a non-empty string holding a `div`).
    Xhtml,
}

impl Primitive {
    /// Every primitive type.
    pub const ALL: [Primitive; 20] = [
        Primitive::Boolean,
        Primitive::Integer,
        Primitive::PositiveInt,
        Primitive::UnsignedInt,
        Primitive::Decimal,
        Primitive::String,
        Primitive::Uri,
        Primitive::Url,
        Primitive::Canonical,
        Primitive::Uuid,
        Primitive::Oid,
        Primitive::Id,
        Primitive::Code,
        Primitive::Markdown,
        Primitive::Base64Binary,
        Primitive::Date,
        Primitive::DateTime,
        Primitive::Instant,
        Primitive::Time,
        Primitive::Xhtml,
    ];

    /// The FHIR type code, e.g. `positiveInt`.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Boolean => "boolean",
            Primitive::Integer => "integer",
            Primitive::PositiveInt => "positiveInt",
            Primitive::UnsignedInt => "unsignedInt",
            Primitive::Decimal => "decimal",
            Primitive::String => "string",
            Primitive::Uri => "uri",
            Primitive::Url => "url",
            Primitive::Canonical => "canonical",
            Primitive::Uuid => "uuid",
            Primitive::Oid => "oid",
            Primitive::Id => "id",
            Primitive::Code => "code",
            Primitive::Markdown => "markdown",
            Primitive::Base64Binary => "base64Binary",
            Primitive::Date => "date",
            Primitive::DateTime => "dateTime",
            Primitive::Instant => "instant",
            Primitive::Time => "time",
            Primitive::Xhtml => "xhtml",
        }
    }

    /// The primitive type with this FHIR type code.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The JSON type this primitive is written as.
    pub fn json_kind(self) -> JsonKind {
        match self {
            Primitive::Boolean => JsonKind::Boolean,
            Primitive::Integer
            | Primitive::PositiveInt
            | Primitive::UnsignedInt
            | Primitive::Decimal => JsonKind::Number,
            _ => JsonKind::String,
        }
    }

    /// Checks a JSON value against this primitive type.
    pub fn check(self, value: &Value) -> Result<(), PrimitiveError> {
        match (self.json_kind(), value) {
            (JsonKind::Boolean, Value::Bool(_)) => Ok(()),
            (JsonKind::Number, Value::Number(n)) => self.check_text(n.as_str()),
            (JsonKind::String, Value::String(s)) => self.check_text(s),
            _ => Err(PrimitiveError::WrongJsonType {
                expected: self.json_kind(),
            }),
        }
    }

    /// Checks the lexical form (the string, or a number's text) against this type.
    pub fn check_text(self, s: &str) -> Result<(), PrimitiveError> {
        let ok = match self {
            Primitive::Boolean => s == "true" || s == "false",
            Primitive::Integer => int_in_range(s, true, i64::from(i32::MIN), i64::from(i32::MAX)),
            Primitive::PositiveInt => int_in_range(s, false, 1, i64::from(i32::MAX)),
            Primitive::UnsignedInt => int_in_range(s, false, 0, i64::from(i32::MAX)),
            Primitive::Decimal => is_decimal(s) && decimal_in_range(s),
            Primitive::String | Primitive::Markdown => {
                if s.len() > MAX_STRING_BYTES {
                    return Err(PrimitiveError::TooLong);
                }
                is_string(s)
            }
            Primitive::Uri | Primitive::Url | Primitive::Canonical => is_uri(s),
            Primitive::Uuid => is_uuid(s),
            Primitive::Oid => is_oid(s),
            Primitive::Id => is_id(s),
            Primitive::Code => is_code(s),
            Primitive::Base64Binary => is_base64(s),
            Primitive::Date => is_date(s),
            Primitive::DateTime => is_date_time(s),
            Primitive::Instant => is_instant(s),
            Primitive::Time => is_time(s),
            Primitive::Xhtml => is_xhtml(s),
        };
        if ok {
            Ok(())
        } else {
            Err(PrimitiveError::BadFormat { primitive: self })
        }
    }
}

/// Strings (and markdown) longer than this are rejected (the spec's 1 MB limit).
pub const MAX_STRING_BYTES: usize = 1024 * 1024;

/// The JSON representation of a primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Boolean,
}

impl JsonKind {
    /// `a string`, `a number`, `a boolean`.
    pub fn describe(self) -> &'static str {
        match self {
            JsonKind::String => "a string",
            JsonKind::Number => "a number",
            JsonKind::Boolean => "a boolean",
        }
    }
}

/// Why a primitive value is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrimitiveError {
    /// The JSON type is wrong (e.g. a string where a number is required).
    #[error("must be {}", expected.describe())]
    WrongJsonType {
        /// The JSON type required.
        expected: JsonKind,
    },
    /// The value does not match the type's lexical rules.
    #[error("{}", format_hint(*primitive))]
    BadFormat {
        /// The type checked.
        primitive: Primitive,
    },
    /// A string longer than [`MAX_STRING_BYTES`].
    #[error("string longer than 1 MiB")]
    TooLong,
}

fn format_hint(p: Primitive) -> &'static str {
    match p {
        Primitive::Boolean => "not a valid boolean",
        Primitive::Integer => "not a valid integer (whole number in 32-bit range)",
        Primitive::PositiveInt => "not a valid positiveInt (1..2147483647)",
        Primitive::UnsignedInt => "not a valid unsignedInt (0..2147483647)",
        Primitive::Decimal => {
            "not a valid decimal, or beyond the magnitudes this server orders (1e-307 to 1e308, or 0)"
        }
        Primitive::String | Primitive::Markdown => {
            "not a valid string (empty, or control characters other than whitespace)"
        }
        Primitive::Uri | Primitive::Url | Primitive::Canonical => {
            "not a valid uri (empty or contains whitespace)"
        }
        Primitive::Uuid => "not a valid uuid (urn:uuid: and a lower-case UUID)",
        Primitive::Oid => "not a valid oid (urn:oid: and a dotted OID)",
        Primitive::Id => "not a valid id (1-64 of A-Z a-z 0-9 - .)",
        Primitive::Code => "not a valid code (empty, or leading/trailing/double whitespace)",
        Primitive::Base64Binary => "not valid base64",
        Primitive::Date => "not a valid date (YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date)",
        Primitive::DateTime => {
            "not a valid dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.s)+zz:zz)"
        }
        Primitive::Instant => "not a valid instant (YYYY-MM-DDThh:mm:ss(.s)+zz:zz or Z)",
        Primitive::Time => "not a valid time (hh:mm:ss(.s))",
        Primitive::Xhtml => "not a valid xhtml narrative (must be a <div> element)",
    }
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// `-?(0|[1-9][0-9]*)` (`+?` for positiveInt/unsignedInt) within `min..=max`.
fn int_in_range(s: &str, signed: bool, min: i64, max: i64) -> bool {
    let b = s.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') if signed => (true, &b[1..]),
        Some(b'+') if !signed => (false, &b[1..]),
        _ => (false, b),
    };
    if !all_digits(digits) || (digits.len() > 1 && digits[0] == b'0') || digits.len() > 11 {
        return false;
    }
    let mut n: i64 = 0;
    for d in digits {
        n = n * 10 + i64::from(d - b'0');
    }
    let n = if negative { -n } else { n };
    (min..=max).contains(&n)
}

/// Whether a decimal's magnitude is one the search index orders: zero, or between about
/// 1e-307 and 1e308 (a double's normal range). Beyond it the index could neither find nor
/// order the value (`1e400` would be infinite, `1e-400` would be zero), so it is refused
/// rather than stored unsearchable (docs/conformance.md).
fn decimal_in_range(s: &str) -> bool {
    let Ok(value) = s.parse::<f64>() else {
        return false;
    };
    if !value.is_finite() {
        return false;
    }
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    let written_zero = mantissa.bytes().all(|b| matches!(b, b'0' | b'.' | b'-'));
    written_zero || value.abs() >= f64::MIN_POSITIVE
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - start;
    if int_len == 0 || (int_len > 1 && b[start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == frac {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp {
            return false;
        }
    }
    i == b.len()
}

/// `[ \r\n\t\S]+`: non-empty, no control characters except tab, CR, LF.
fn is_string(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c >= 0x20 || c == b'\t' || c == b'\n' || c == b'\r')
        && !s.contains('\u{7f}')
}

/// `\S*` and non-empty (JSON forbids empty values).
fn is_uri(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut parts = rest.split('.');
    let first_ok = matches!(parts.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = parts.all(|p| {
        count += 1;
        all_digits(p.as_bytes()) && (p == "0" || !p.starts_with('0'))
    });
    first_ok && rest_ok && count > 0
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

/// `[^\s]+(\s[^\s]+)*`
fn is_code(s: &str) -> bool {
    let mut prev_space = true;
    for c in s.chars() {
        let space = c.is_whitespace();
        if space && prev_space {
            return false;
        }
        prev_space = space;
    }
    !s.is_empty() && !prev_space
}

/// Base64 (RFC 4648 alphabet), whitespace ignored, padding only at the end.
fn is_base64(s: &str) -> bool {
    let mut count = 0usize;
    let mut padding = 0usize;
    for c in s.bytes() {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => padding += 1,
            c if padding == 0 && (c.is_ascii_alphanumeric() || c == b'+' || c == b'/') => {}
            _ => return false,
        }
        count += 1;
    }
    count > 0 && count.is_multiple_of(4) && padding <= 2
}

fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    let (x, y) = (*b.get(at)?, *b.get(at + 1)?);
    (x.is_ascii_digit() && y.is_ascii_digit())
        .then(|| u32::from(x - b'0') * 10 + u32::from(y - b'0'))
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses the date part at the start of `b`; returns (bytes used, is full YYYY-MM-DD).
fn date_prefix(b: &[u8]) -> Option<(usize, bool)> {
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    if year == 0 {
        return None;
    }
    if b.get(4) != Some(&b'-') {
        return Some((4, false));
    }
    let month = two_digits(b, 5)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.get(7) != Some(&b'-') {
        return Some((7, false));
    }
    let day = two_digits(b, 8)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((10, true))
}

/// `hh:mm:ss(\.[0-9]+)?` at the start of `b` (leap second 60 allowed); returns bytes used.
fn time_prefix(b: &[u8]) -> Option<usize> {
    let (h, m, s) = (two_digits(b, 0)?, two_digits(b, 3)?, two_digits(b, 6)?);
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

/// `Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)` as the whole of `b`.
fn is_timezone(b: &[u8]) -> bool {
    match b.first() {
        Some(b'Z') => b.len() == 1,
        Some(b'+' | b'-') => {
            let (Some(h), Some(m)) = (two_digits(b, 1), two_digits(b, 4)) else {
                return false;
            };
            b.len() == 6 && b[3] == b':' && m <= 59 && (h <= 13 || (h == 14 && m == 0))
        }
        _ => false,
    }
}

fn is_date(s: &str) -> bool {
    date_prefix(s.as_bytes()).is_some_and(|(used, _)| used == s.len())
}

fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((used, full)) = date_prefix(b) else {
        return false;
    };
    if used == b.len() {
        return true;
    }
    full && b[used] == b'T' && date_time_rest(&b[used + 1..])
}

fn date_time_rest(b: &[u8]) -> bool {
    time_prefix(b).is_some_and(|used| is_timezone(&b[used..]))
}

fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(date_prefix(b), Some((10, true)))
        && b.get(10) == Some(&b'T')
        && date_time_rest(&b[11..])
}

fn is_time(s: &str) -> bool {
    time_prefix(s.as_bytes()) == Some(s.len())
}

/// The narrative must be a `div` element (its XHTML content is not parsed here).
fn is_xhtml(s: &str) -> bool {
    let t = s.trim();
    is_string(s)
        && t.starts_with("<div")
        && t[4..].starts_with([' ', '>', '/', '\t', '\r', '\n'])
        && t.ends_with('>')
}

#[cfg(test)]
mod tests {
    use super::Primitive::{self, *};

    fn check(p: Primitive, good: &[&str], bad: &[&str]) {
        for s in good {
            assert!(p.check_text(s).is_ok(), "{} should accept {s:?}", p.name());
        }
        for s in bad {
            assert!(p.check_text(s).is_err(), "{} should reject {s:?}", p.name());
        }
    }

    #[test]
    fn integers() {
        check(
            Integer,
            &["0", "-1", "2147483647", "-2147483648", "42"],
            &[
                "",
                "-",
                "2147483648",
                "-2147483649",
                "01",
                "1.0",
                "1e2",
                "+1",
                "99999999999999",
            ],
        );
        check(
            PositiveInt,
            &["1", "2147483647", "+5"],
            &["0", "-1", "2147483648", "01"],
        );
        check(
            UnsignedInt,
            &["0", "1", "2147483647"],
            &["-1", "2147483648", "00"],
        );
    }

    #[test]
    fn decimals() {
        check(
            Decimal,
            &[
                "0",
                "-0",
                "1.50",
                "0.0050",
                "1e3",
                "-1.2E-10",
                "123456789012345678901234567890",
                "1e308",
                "2.3e-307",
                "0e-500",
                "0.000",
            ],
            &[
                "", "01", "1.", ".5", "1e", "+1", "1.5.5", "NaN", "- 1", "1e400", "-1e309",
                "1.0e-400", "1e-320",
            ],
        );
    }

    #[test]
    fn strings_and_codes() {
        check(
            String,
            &["a", " ", "tab\there", "line\nbreak", "ümlaut"],
            &["", "bell\u{7}", "nul\0", "del\u{7f}"],
        );
        check(Markdown, &["# title\n\n*x*"], &[""]);
        check(
            Code,
            &["final", "a b", "entered-in-error"],
            &["", " a", "a ", "a  b", "a\tb\t"],
        );
        check(
            Id,
            &["a", "A-1.b", &"x".repeat(64)],
            &["", &"x".repeat(65), "a_b", "a b", "a/b"],
        );
    }

    #[test]
    fn uris() {
        check(
            Uri,
            &["http://x.org/a", "urn:x", "#p1", "a"],
            &["", "http://x .org", "a\n"],
        );
        check(Canonical, &["http://x.org/ValueSet/a|4.0.1"], &[""]);
        check(
            Uuid,
            &["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"],
            &[
                "c757873d-ec9a-4326-a141-556f43239520",
                "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
                "urn:uuid:c757873d-ec9a-4326-a141-556f4323952",
                "urn:uuid:c757873dxec9a-4326-a141-556f43239520",
            ],
        );
        check(
            Oid,
            &["urn:oid:1.2.3", "urn:oid:2.16.840.1.113883"],
            &[
                "urn:oid:3.1",
                "urn:oid:1",
                "urn:oid:1.02",
                "1.2.3",
                "urn:oid:1..2",
            ],
        );
    }

    #[test]
    fn base64() {
        check(
            Base64Binary,
            &["AAAA", "aGVsbG8=", "aGk=", "aGVs\nbG8=", "+/+/"],
            &["", "AAA", "A===x", "a=b=", "****", "AA=A"],
        );
    }

    #[test]
    fn dates() {
        check(
            Date,
            &[
                "2024",
                "2024-02",
                "2024-02-29",
                "2000-02-29",
                "0001-01-01",
                "1999-12-31",
            ],
            &[
                "0000",
                "24",
                "2024-2",
                "2024-13",
                "2024-00",
                "2023-02-29",
                "1900-02-29",
                "2024-04-31",
                "2024-01-01T00:00:00Z",
                "2024-01-32",
            ],
        );
        check(
            DateTime,
            &[
                "2024",
                "2024-05",
                "2024-05-06",
                "2024-05-06T10:20:30Z",
                "2024-05-06T10:20:30.123+14:00",
                "2024-05-06T23:59:60-05:30",
            ],
            &[
                "2024-05-06T10:20Z",
                "2024-05-06T10:20:30",
                "2024-05T10:20:30Z",
                "2024-05-06T24:00:00Z",
                "2024-05-06T10:20:30+14:30",
                "2024-05-06T10:20:30+5:00",
                "2024-05-06 10:20:30Z",
                "2024-05-06T10:20:30.Z",
            ],
        );
        check(
            Instant,
            &["2024-05-06T10:20:30Z", "2024-05-06T10:20:30.5-03:00"],
            &[
                "2024-05-06",
                "2024-05-06T10:20:30",
                "2024-05-06T10:20Z",
                "2023-02-29T10:20:30Z",
            ],
        );
        check(
            Time,
            &["00:00:00", "23:59:59", "12:30:00.125"],
            &["24:00:00", "12:60:00", "12:30", "12:30:00Z", "12:30:00."],
        );
    }

    #[test]
    fn xhtml() {
        check(
            Xhtml,
            &[
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>",
                "<div/>",
            ],
            &["", "text", "<divx>a</divx>", "<p>a</p>"],
        );
    }

    #[test]
    fn json_types() {
        use serde_json::json;
        assert!(Boolean.check(&json!(true)).is_ok());
        assert!(Boolean.check(&json!("true")).is_err());
        assert!(Integer.check(&json!(5)).is_ok());
        assert!(Integer.check(&json!("5")).is_err());
        assert!(String.check(&json!(5)).is_err());
        assert!(Decimal.check(&json!(1.5)).is_ok());
    }

    #[test]
    fn names_round_trip() {
        for p in Primitive::ALL {
            assert_eq!(Primitive::from_name(p.name()), Some(p));
        }
    }
}
