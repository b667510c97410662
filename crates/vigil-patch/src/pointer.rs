//! JSON Pointer (RFC 6901): parsing with `~0`/`~1` unescaping, array index tokens, and
//! navigation over a [`Value`].

use serde_json::Value;

/// A parsed pointer: its reference tokens, unescaped. The empty pointer `""` has none and
/// names the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses `""`, `/name/0/family`, `/a~1b` (key `a/b`), `/m~0n` (key `m~n`).
    pub(crate) fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer { tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "'{text}' is not a JSON Pointer: it must be empty or start with '/'"
            ));
        };
        let tokens = rest
            .split('/')
            .map(unescape)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|token| {
                format!(
                    "'{text}' is not a JSON Pointer: '~' must be followed by 0 or 1 in '{token}'"
                )
            })?;
        Ok(Pointer { tokens })
    }

    /// The pointer to the parent and the last token; `None` for the whole document.
    pub(crate) fn split_last(&self) -> Option<(Pointer, &str)> {
        let (last, parent) = self.tokens.split_last()?;
        Some((
            Pointer {
                tokens: parent.to_vec(),
            },
            last.as_str(),
        ))
    }

    /// True when `self` is a proper prefix of `other` (`/a` of `/a/b`, not of `/ab`).
    pub(crate) fn is_proper_prefix_of(&self, other: &Pointer) -> bool {
        self.tokens.len() < other.tokens.len() && other.tokens.starts_with(&self.tokens)
    }

    /// The value this pointer names, if it exists.
    pub(crate) fn get<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.tokens
            .iter()
            .try_fold(document, |value, token| match value {
                Value::Object(map) => map.get(token),
                Value::Array(items) => array_index(token, items.len()).and_then(|i| items.get(i)),
                _ => None,
            })
    }

    /// The value this pointer names, mutably, if it exists.
    pub(crate) fn get_mut<'a>(&self, document: &'a mut Value) -> Option<&'a mut Value> {
        self.tokens
            .iter()
            .try_fold(document, |value, token| match value {
                Value::Object(map) => map.get_mut(token),
                Value::Array(items) => {
                    let len = items.len();
                    array_index(token, len).and_then(|i| items.get_mut(i))
                }
                _ => None,
            })
    }
}

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for token in &self.tokens {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

fn unescape(token: &str) -> Result<String, String> {
    if !token.contains('~') {
        return Ok(token.to_owned());
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(token.to_owned()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// An existing array element's index: `0` or digits without a leading zero, below `len`.
pub(crate) fn array_index(token: &str, len: usize) -> Option<usize> {
    parse_index(token).filter(|i| *i < len)
}

/// A syntactically valid array index token (RFC 6901 §4: `0` or `[1-9][0-9]*`).
pub(crate) fn parse_index(token: &str) -> Option<usize> {
    let digits_only = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = token.len() > 1 && token.starts_with('0');
    if digits_only && !leading_zero {
        token.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6901_examples() {
        // The document and pointers of RFC 6901 §5.
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
            "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        let cases: &[(&str, Value)] = &[
            ("", doc.clone()),
            ("/foo", json!(["bar", "baz"])),
            ("/foo/0", json!("bar")),
            ("/", json!(0)),
            ("/a~1b", json!(1)),
            ("/c%d", json!(2)),
            ("/e^f", json!(3)),
            ("/g|h", json!(4)),
            ("/i\\j", json!(5)),
            ("/k\"l", json!(6)),
            ("/ ", json!(7)),
            ("/m~0n", json!(8)),
        ];
        for (text, expected) in cases {
            let pointer = Pointer::parse(text).unwrap();
            assert_eq!(pointer.get(&doc), Some(expected), "{text}");
            assert_eq!(pointer.to_string(), *text, "round trip of {text}");
        }
    }

    #[test]
    fn malformed_pointers_and_indexes() {
        for text in ["foo", "/a~2", "/a~"] {
            assert!(Pointer::parse(text).is_err(), "{text}");
        }
        let doc = json!({"a": [1, 2]});
        for text in ["/a/01", "/a/-", "/a/2", "/a/x", "/b", "/a/0/c"] {
            assert_eq!(Pointer::parse(text).unwrap().get(&doc), None, "{text}");
        }
        assert!(
            Pointer::parse("/a")
                .unwrap()
                .is_proper_prefix_of(&Pointer::parse("/a/b").unwrap())
        );
        assert!(
            !Pointer::parse("/a")
                .unwrap()
                .is_proper_prefix_of(&Pointer::parse("/ab").unwrap())
        );
        assert!(
            !Pointer::parse("/a")
                .unwrap()
                .is_proper_prefix_of(&Pointer::parse("/a").unwrap())
        );
    }
}
