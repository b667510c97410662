//! FHIR JSON syntax: strict parsing (duplicate keys rejected, positions reported) and
//! serialization that keeps decimals exactly as written.
//!
//! The workspace enables serde_json's `arbitrary_precision` and `preserve_order` features, so a
//! parsed [`Value`] keeps `1.50` as `1.50` and keeps the key order the client sent; writing it
//! back with [`to_vec`] gives the same JSON value and the same number text.
//!
//! FHIR forbids duplicate property names in one object (RFC 8259 only says they SHOULD be
//! unique), so [`parse`] rejects them instead of silently keeping the last one.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value, map::Entry};

use crate::work::{self, Stage};

/// A JSON syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON syntax error at line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the error (0 when the error is not tied to a position).
    pub line: usize,
    /// 1-based column of the error (0 when the error is not tied to a position).
    pub column: usize,
    /// What is wrong, e.g. `duplicate key "id"` or `trailing comma`.
    pub message: String,
}

/// Deepest nesting of arrays and objects [`parse`] reads (what serde_json's recursion limit
/// of 128 lets through).
pub const MAX_DEPTH: usize = 127;

/// The message of a [`ParseError`] for input nested deeper than [`MAX_DEPTH`].
const TOO_DEEP: &str = "nested deeper than 127 arrays and objects (the limit)";

impl ParseError {
    /// Whether the input was refused for its nesting depth (over [`MAX_DEPTH`]) rather than
    /// for its syntax: a size limit, answered 413 by the API.
    pub fn is_too_deep(&self) -> bool {
        self.message == TOO_DEEP
    }
}

/// The private token serde_json uses to pass an `arbitrary_precision` number through a visitor.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Parses FHIR JSON bytes into a [`Value`], rejecting duplicate keys.
///
/// A leading UTF-8 byte-order mark is ignored. Nesting deeper than [`MAX_DEPTH`] levels is an
/// error (not a stack overflow; [`ParseError::is_too_deep`]). Counts one [`Stage::Parse`] work unit per value and per object key.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    let before = work::local(Stage::Parse);
    let parsed = parse_counted(bytes);
    work::publish(Stage::Parse, before);
    parsed
}

fn parse_counted(bytes: &[u8]) -> Result<Value, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut de).map_err(to_parse_error)?;
    de.end().map_err(to_parse_error)?;
    Ok(value.0)
}

/// Compact JSON bytes of a value (numbers written exactly as parsed). Counts the bytes written
/// as [`Stage::Serialize`] work.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Writing a Value into a Vec cannot fail: keys are strings and the writer is infallible.
    if serde_json::to_writer(&mut out, value).is_err() {
        out.clear();
    }
    work::add(Stage::Serialize, out.len() as u64);
    out
}

/// Pretty-printed JSON bytes (two-space indent) of a value.
pub fn to_vec_pretty(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    if serde_json::to_writer_pretty(&mut out, value).is_err() {
        out.clear();
    }
    work::add(Stage::Serialize, out.len() as u64);
    out
}

fn to_parse_error(err: serde_json::Error) -> ParseError {
    let text = err.to_string();
    // serde_json appends " at line L column C"; keep only the message part.
    let mut message = match text.rfind(" at line ") {
        Some(pos) if err.line() > 0 => text[..pos].to_string(),
        _ => text,
    };
    if message == "recursion limit exceeded" {
        TOO_DEEP.clone_into(&mut message);
    }
    ParseError {
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// A [`Value`] deserialized with duplicate-key detection.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        work::tick(Stage::Parse, 1);
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let Some(first) = access.next_key::<String>()? else {
            return Ok(Value::Object(Map::new()));
        };
        if first == NUMBER_TOKEN {
            let text: String = access.next_value()?;
            return Number::from_str(&text)
                .map(Value::Number)
                .map_err(de::Error::custom);
        }
        let mut map = Map::new();
        let StrictValue(value) = access.next_value()?;
        map.insert(first, value);
        while let Some(key) = access.next_key::<String>()? {
            work::tick(Stage::Parse, 1);
            match map.entry(key) {
                Entry::Occupied(entry) => {
                    return Err(de::Error::custom(format_args!(
                        "duplicate key \"{}\"",
                        entry.key()
                    )));
                }
                Entry::Vacant(entry) => {
                    let StrictValue(value) = access.next_value()?;
                    entry.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_text() {
        let v =
            parse(br#"{"a":1.50,"b":0.0050,"c":-0,"d":1e-7,"e":12345678901234567890123}"#).unwrap();
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":1.50,"b":0.0050,"c":-0,"d":1e-7,"e":12345678901234567890123}"#
        );
    }

    #[test]
    fn exponents_are_normalized_by_serde_json() {
        // serde_json writes the exponent marker as `e` with an explicit sign; the digits, and
        // so the value and its precision, are kept.
        let v = parse(b"[1E3,2e+3,3e-3]").unwrap();
        assert_eq!(String::from_utf8(to_vec(&v)).unwrap(), "[1e+3,2e+3,3e-3]");
    }

    #[test]
    fn key_order_is_kept() {
        let text = r#"{"z":1,"a":{"y":true,"b":null},"m":["x",2]}"#;
        assert_eq!(
            String::from_utf8(to_vec(&parse(text.as_bytes()).unwrap())).unwrap(),
            text
        );
    }

    #[test]
    fn errors_have_positions() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("{\"a\":1,\n\"a\":2}", 2, 3, "duplicate key \"a\""),
            ("{\"a\":1,}", 1, 8, "trailing comma"),
            ("{\"a\":1} x", 1, 9, "trailing characters"),
            ("", 1, 0, "EOF while parsing a value"),
        ];
        for (input, line, column, message) in cases {
            let err = parse(input.as_bytes()).unwrap_err();
            assert_eq!((err.line, err.column), (*line, *column), "{input:?}: {err}");
            assert_eq!(err.message, *message, "{input:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).unwrap_err().is_too_deep());
        let limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(limit.as_bytes()).is_ok());
        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(over.as_bytes()).unwrap_err().is_too_deep());
        assert!(!parse(b"[1,]").unwrap_err().is_too_deep());
    }

    #[test]
    fn bom_is_ignored() {
        assert_eq!(parse(b"\xEF\xBB\xBF{}").unwrap(), Value::Object(Map::new()));
    }
}
