//! JSON Patch (RFC 6902), written by hand over [`serde_json::Value`].
//!
//! Why not the `json-patch` crate: it brings `jsonptr` and its own error types for ~300 lines
//! of logic, and its errors do not say which operation failed in words an OperationOutcome can
//! carry. This file is the whole of RFC 6902: `add`, `remove`, `replace`, `move`, `copy` and
//! `test` with RFC 6901 pointers (`~0`/`~1` escapes, `-` for the end of an array, no leading
//! zeros in indexes). Numbers compare by value in `test` (`1.0` equals `1`), exactly, from their
//! written text (the workspace keeps numbers as written). Members an operation does not use are
//! ignored, as §4 asks. Object members are removed and inserted with their order kept.

use super::PatchError;
use super::pointer::{Pointer, parse_index};
use serde_json::{Map, Value};

/// One RFC 6902 operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonOperation {
    Add { path: Pointer, value: Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: Value },
}

impl JsonOperation {
    /// The value the operation writes or tests, and whether it lands on a `reference` member
    /// (for reference rewriting inside transactions).
    pub(crate) fn value_slot(&mut self) -> Option<(&mut Value, bool)> {
        match self {
            JsonOperation::Add { path, value }
            | JsonOperation::Replace { path, value }
            | JsonOperation::Test { path, value } => {
                let bare = path
                    .split_last()
                    .is_some_and(|(_, last)| last == "reference");
                Some((value, bare))
            }
            _ => None,
        }
    }
}

/// Parses a JSON Patch document: an array of operation objects.
pub(crate) fn parse(document: Value) -> Result<Vec<JsonOperation>, PatchError> {
    let Value::Array(operations) = document else {
        return Err(PatchError::malformed(
            None,
            "a JSON Patch document must be a JSON array of operations",
        ));
    };
    operations
        .into_iter()
        .enumerate()
        .map(|(index, operation)| {
            parse_operation(operation)
                .map_err(|message| PatchError::malformed(Some(index), message))
        })
        .collect()
}

fn parse_operation(operation: Value) -> Result<JsonOperation, String> {
    let Value::Object(mut object) = operation else {
        return Err("an operation must be a JSON object".to_owned());
    };
    let op = match object.get("op") {
        Some(Value::String(op)) => op.clone(),
        Some(_) => return Err("'op' must be a string".to_owned()),
        None => return Err("the operation has no 'op'".to_owned()),
    };
    let path = pointer_member(&object, "path")?;
    let mut value = || {
        object
            .remove("value")
            .ok_or_else(|| format!("a '{op}' operation needs a 'value'"))
    };
    Ok(match op.as_str() {
        "add" => JsonOperation::Add {
            path,
            value: value()?,
        },
        "remove" => JsonOperation::Remove { path },
        "replace" => JsonOperation::Replace {
            path,
            value: value()?,
        },
        "test" => JsonOperation::Test {
            path,
            value: value()?,
        },
        "move" => JsonOperation::Move {
            from: pointer_member(&object, "from")?,
            path,
        },
        "copy" => JsonOperation::Copy {
            from: pointer_member(&object, "from")?,
            path,
        },
        other => {
            return Err(format!(
                "unknown op '{other}' (expected add, remove, replace, move, copy or test)"
            ));
        }
    })
}

fn pointer_member(object: &Map<String, Value>, member: &str) -> Result<Pointer, String> {
    match object.get(member) {
        Some(Value::String(text)) => Pointer::parse(text),
        Some(_) => Err(format!(
            "'{member}' must be a string holding a JSON Pointer"
        )),
        None => Err(format!("the operation has no '{member}'")),
    }
}

/// Applies the operations in order. On error the document may be partly patched; the caller
/// applies to a copy and keeps it only on success.
pub(crate) fn apply(operations: &[JsonOperation], document: &mut Value) -> Result<(), PatchError> {
    for (index, operation) in operations.iter().enumerate() {
        apply_one(operation, document).map_err(|message| PatchError::failed(index, message))?;
    }
    Ok(())
}

fn apply_one(operation: &JsonOperation, document: &mut Value) -> Result<(), String> {
    match operation {
        JsonOperation::Add { path, value } => add(document, path, value.clone()),
        JsonOperation::Remove { path } => remove(document, path).map(drop),
        JsonOperation::Replace { path, value } => {
            let target = path
                .get_mut(document)
                .ok_or_else(|| format!("replace: nothing exists at '{path}'"))?;
            *target = value.clone();
            Ok(())
        }
        JsonOperation::Move { from, path } => {
            if from.is_proper_prefix_of(path) {
                return Err(format!(
                    "move: '{from}' cannot be moved into its own child '{path}'"
                ));
            }
            if from == path {
                return from
                    .get(document)
                    .map(drop)
                    .ok_or_else(|| format!("move: nothing exists at '{from}'"));
            }
            let value = remove(document, from).map_err(|e| e.replacen("remove", "move", 1))?;
            add(document, path, value).map_err(|e| e.replacen("add", "move", 1))
        }
        JsonOperation::Copy { from, path } => {
            let value = from
                .get(document)
                .cloned()
                .ok_or_else(|| format!("copy: nothing exists at '{from}'"))?;
            add(document, path, value).map_err(|e| e.replacen("add", "copy", 1))
        }
        JsonOperation::Test { path, value } => {
            let actual = path
                .get(document)
                .ok_or_else(|| format!("test: nothing exists at '{path}'"))?;
            if json_equal(actual, value) {
                Ok(())
            } else {
                Err(format!(
                    "test failed: the value at '{path}' is {}, not {}",
                    excerpt(actual),
                    excerpt(value)
                ))
            }
        }
    }
}

fn add(document: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let Some((parent_pointer, token)) = path.split_last() else {
        *document = value;
        return Ok(());
    };
    let parent = parent_pointer
        .get_mut(document)
        .ok_or_else(|| format!("add: the parent of '{path}' does not exist"))?;
    match parent {
        Value::Object(map) => {
            if let Some(slot) = map.get_mut(token) {
                *slot = value;
            } else {
                map.insert(token.to_owned(), value);
            }
            Ok(())
        }
        Value::Array(items) => {
            let index = if token == "-" {
                items.len()
            } else {
                parse_index(token)
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| {
                        format!(
                            "add: '{token}' is not an index from 0 to {} (or '-') in the array at '{parent_pointer}'",
                            items.len()
                        )
                    })?
            };
            items.insert(index, value);
            Ok(())
        }
        other => Err(format!(
            "add: '{parent_pointer}' is {}, which has no members",
            kind(other)
        )),
    }
}

fn remove(document: &mut Value, path: &Pointer) -> Result<Value, String> {
    let Some((parent_pointer, token)) = path.split_last() else {
        return Err("remove: the whole resource cannot be removed".to_owned());
    };
    let missing = || format!("remove: nothing exists at '{path}'");
    match parent_pointer.get_mut(document).ok_or_else(missing)? {
        Value::Object(map) => map.shift_remove(token).ok_or_else(missing),
        Value::Array(items) => match parse_index(token).filter(|i| *i < items.len()) {
            Some(index) => Ok(items.remove(index)),
            None => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// RFC 6902 §4.6 equality: objects ignore member order, numbers compare by value.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            x == y || normalize_number(&x).is_some_and(|n| Some(n) == normalize_number(&y))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

/// A JSON number's exact value as (negative, significant digits, exponent): `1.50` and `15e-1`
/// both become (false, "15", -1); every zero becomes (false, "", 0).
fn normalize_number(text: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{integer}{fraction}");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let trimmed = digits.trim_start_matches('0').len();
    digits = digits.split_off(digits.len() - trimmed);
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    let significant = digits.trim_end_matches('0').len();
    exponent = exponent.checked_add(i64::try_from(digits.len() - significant).ok()?)?;
    digits.truncate(significant);
    Some((negative, digits, exponent))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for an error message, cut to a readable length.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        let same = [
            ("1", "1.0"),
            ("1.50", "1.5"),
            ("15e-1", "1.5"),
            ("0", "-0.0"),
            ("100", "1E2"),
        ];
        for (a, b) in same {
            assert_eq!(normalize_number(a), normalize_number(b), "{a} = {b}");
        }
        let different = [("1", "-1"), ("1.5", "1.05"), ("10", "1")];
        for (a, b) in different {
            assert_ne!(normalize_number(a), normalize_number(b), "{a} != {b}");
        }
        assert!(json_equal(
            &json!({"a": [1, {"b": 2}]}),
            &json!({"a": [1, {"b": 2}]})
        ));
        assert!(!json_equal(&json!([1, 2]), &json!([2, 1])));
    }
}
