//! Search value syntax shared by every parameter type: `,` separates OR'ed values, `|` and `$`
//! separate parts, and `\` escapes each of them (`\,`, `\|`, `\$`, `\\`). Prefixes (`eq`, `ne`,
//! `gt`, `lt`, `ge`, `le`, `sa`, `eb`, `ap`) precede ordered values.

use crate::error::SearchError;

/// Splits `raw` at every `separator` not escaped with `\`; pieces keep their escapes.
pub fn split_unescaped(raw: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (at, c) in raw.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            pieces.push(&raw[start..at]);
            start = at + c.len_utf8();
        }
    }
    pieces.push(&raw[start..]);
    pieces
}

/// Removes the escapes of `\,`, `\|`, `\$` and `\\`; other backslashes stay.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next @ (',' | '|' | '$' | '\\')) = chars.peek().copied()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// A comparison prefix of ordered values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// equal (the default)
    Eq,
    /// not equal
    Ne,
    /// greater than
    Gt,
    /// less than
    Lt,
    /// greater or equal
    Ge,
    /// less or equal
    Le,
    /// starts after
    Sa,
    /// ends before
    Eb,
    /// approximately
    Ap,
}

const PREFIXES: [(&str, Prefix); 9] = [
    ("eq", Prefix::Eq),
    ("ne", Prefix::Ne),
    ("gt", Prefix::Gt),
    ("lt", Prefix::Lt),
    ("ge", Prefix::Ge),
    ("le", Prefix::Le),
    ("sa", Prefix::Sa),
    ("eb", Prefix::Eb),
    ("ap", Prefix::Ap),
];

/// Splits a prefix from an ordered value. A value starting with two lower-case letters that are
/// not a prefix is malformed (`xx2015`), everything else is left to the type's parser.
pub fn split_prefix<'v>(parameter: &str, value: &'v str) -> Result<(Prefix, &'v str), SearchError> {
    let head: String = value.chars().take(2).collect();
    if head.len() == 2 && head.chars().all(|c| c.is_ascii_lowercase()) {
        return match PREFIXES.iter().find(|(text, _)| *text == head) {
            Some((_, prefix)) => Ok((*prefix, &value[2..])),
            None => Err(SearchError::malformed(
                parameter,
                format!("unknown prefix '{head}' in '{value}'"),
            )),
        };
    }
    Ok((Prefix::Eq, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_separators() {
        assert_eq!(split_unescaped("a,b\\,c,d", ','), ["a", "b\\,c", "d"]);
        assert_eq!(split_unescaped("", ','), [""]);
        assert_eq!(split_unescaped("sys|code", '|'), ["sys", "code"]);
        assert_eq!(split_unescaped("|code", '|'), ["", "code"]);
        assert_eq!(unescape("b\\,c\\|d\\$e\\\\f\\n"), "b,c|d$e\\f\\n");
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            split_prefix("date", "ge2015").unwrap(),
            (Prefix::Ge, "2015")
        );
        assert_eq!(split_prefix("date", "2015").unwrap(), (Prefix::Eq, "2015"));
        assert_eq!(split_prefix("value", "-5").unwrap(), (Prefix::Eq, "-5"));
        assert!(split_prefix("date", "xx2015").is_err());
        assert_eq!(split_prefix("date", "é").unwrap(), (Prefix::Eq, "é"));
    }
}
