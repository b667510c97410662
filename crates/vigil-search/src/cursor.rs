//! Paging cursors: the sort keys and `(type, id)` of a page's boundary row plus the direction,
//! serialised as JSON and hex-encoded, so the token is opaque, URL-safe and needs no server
//! state. A token that does not decode, or does not fit the request's `_sort`, is a client
//! error.

use serde_json::{Value, json};
use vigil_store::SqlValue;

use crate::error::{SearchError, SearchErrorKind};

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Read the page before the boundary (a `previous` link) instead of after it.
    pub backward: bool,
    /// Sort key values of the boundary row.
    pub keys: Vec<SqlValue>,
    /// Type of the boundary row.
    pub resource_type: String,
    /// Id of the boundary row.
    pub id: String,
}

fn invalid(message: &str) -> SearchError {
    SearchError::new(
        SearchErrorKind::InvalidCursor,
        Some("_cursor"),
        message.to_owned(),
    )
}

impl Cursor {
    /// The opaque token.
    pub fn encode(&self) -> String {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|key| match key {
                SqlValue::Null => Value::Null,
                SqlValue::Integer(value) => json!({ "i": value.to_string() }),
                SqlValue::Real(value) => json!({ "r": value.to_bits().to_string() }),
                SqlValue::Text(value) => json!({ "t": value }),
            })
            .collect();
        let body = json!({"b": self.backward, "k": keys, "t": self.resource_type, "i": self.id})
            .to_string();
        body.bytes().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Reads a token; `key_count` is the number of `_sort` keys of the request.
    pub fn decode(token: &str, key_count: usize) -> Result<Cursor, SearchError> {
        if !token.len().is_multiple_of(2) || token.len() > 64 * 1024 {
            return Err(invalid("malformed paging cursor"));
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|at| {
                token
                    .get(at..at + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let body: Value = bytes
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| invalid("malformed paging cursor"))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let (Some(resource_type), Some(id), Some(backward), Some(Value::Array(raw_keys))) = (
            text("t"),
            text("i"),
            body.get("b").and_then(Value::as_bool),
            body.get("k"),
        ) else {
            return Err(invalid("malformed paging cursor"));
        };
        if raw_keys.len() != key_count {
            return Err(invalid("the paging cursor does not belong to this _sort"));
        }
        let keys = raw_keys
            .iter()
            .map(decode_key)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("malformed paging cursor"))?;
        Ok(Cursor {
            backward,
            keys,
            resource_type,
            id,
        })
    }
}

fn decode_key(key: &Value) -> Option<SqlValue> {
    if key.is_null() {
        return Some(SqlValue::Null);
    }
    if let Some(value) = key.get("i").and_then(Value::as_str) {
        return value.parse().ok().map(SqlValue::Integer);
    }
    if let Some(bits) = key.get("r").and_then(Value::as_str) {
        return bits.parse().ok().map(f64::from_bits).map(SqlValue::Real);
    }
    key.get("t")
        .and_then(Value::as_str)
        .map(|text| SqlValue::Text(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            backward: true,
            keys: vec![
                SqlValue::Integer(i64::MIN),
                SqlValue::Real(-0.1),
                SqlValue::Text("zoë\u{10FFFF}".into()),
            ],
            resource_type: "Observation".into(),
            id: "o-1".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode(), 3).unwrap(), cursor);
        for bad in ["", "zz", "abc", "7b7d"] {
            assert!(Cursor::decode(bad, 0).is_err(), "{bad}");
        }
        assert!(Cursor::decode(&cursor.encode(), 2).is_err());
    }
}
