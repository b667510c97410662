//! HL7 v2 escape sequences: reading them out of a value and writing text back safely.
//!
//! Reading (`unescape`), with `\` standing for the message's escape character:
//!
//! | sequence | becomes |
//! |---|---|
//! | `\F\` `\S\` `\T\` `\R\` `\E\` | the field, component, subcomponent, repetition, escape character |
//! | `\P\` | the truncation character (v2.7+), when the message declares one |
//! | `\Xhh..\` | the bytes `hh..` (UTF-8 if they form UTF-8, else one Latin-1 character per byte) |
//! | `\.br\` | a line break (`\n`) |
//! | `\H\` `\N\` | nothing (start and end of highlighting carry no meaning in FHIR text) |
//! | anything else (`\.sp\`, `\.in\`, `\Zxx\`, `\Cxxyy\`, `\Mxxyyzz\`, ...) | kept as written |
//! | an escape character without a closing one | kept as written (not an error) |
//!
//! Writing (`escape`) is the inverse for the delimiters, and writes a line feed as `\.br\` and a
//! carriage return as `\X0D\`, so `unescape(escape(s)) == s` for any text. A message without an
//! escape character cannot carry its delimiters in text: they are written as spaces.

use super::Delimiters;

/// Decodes the escape sequences of one value (a leaf of the message tree).
pub fn unescape(raw: &str, delimiters: &Delimiters) -> String {
    let Some(esc) = delimiters.escape else {
        return raw.to_owned();
    };
    if !raw.contains(esc) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(esc) {
        out.push_str(&rest[..start]);
        let after = &rest[start + esc.len_utf8()..];
        let Some(end) = after.find(esc) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let sequence = &after[..end];
        match decode_sequence(sequence, delimiters) {
            Some(text) => out.push_str(&text),
            None => {
                out.push(esc);
                out.push_str(sequence);
                out.push(esc);
            }
        }
        rest = &after[end + esc.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn decode_sequence(sequence: &str, d: &Delimiters) -> Option<String> {
    let one = |c: Option<char>| c.map(String::from);
    match sequence {
        "F" => Some(d.field.to_string()),
        "S" => Some(d.component.to_string()),
        "T" => one(d.subcomponent),
        "R" => one(d.repetition),
        "E" => one(d.escape),
        "P" => one(d.truncation),
        ".br" => Some("\n".to_owned()),
        "H" | "N" => Some(String::new()),
        _ => sequence.strip_prefix('X').and_then(decode_hex),
    }
}

fn decode_hex(hex: &str) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => err.into_bytes().iter().map(|&b| char::from(b)).collect(),
    })
}

/// Writes text so that it reads back unchanged in a message with these delimiters.
pub fn escape(text: &str, d: &Delimiters) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = if c == d.field {
            Some("F")
        } else if c == d.component {
            Some("S")
        } else if Some(c) == d.subcomponent {
            Some("T")
        } else if Some(c) == d.repetition {
            Some("R")
        } else if Some(c) == d.escape {
            Some("E")
        } else if Some(c) == d.truncation {
            Some("P")
        } else if c == '\n' {
            Some(".br")
        } else if c == '\r' {
            Some("X0D")
        } else {
            None
        };
        match (code, d.escape) {
            (Some(code), Some(esc)) => {
                out.push(esc);
                out.push_str(code);
                out.push(esc);
            }
            (Some(_), None) => out.push(' '),
            (None, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_escapes_read_back() {
        let d = Delimiters::default();
        assert_eq!(unescape(r"Smith\F\\S\\R\\E\\T\", &d), "Smith|^~\\&");
        assert_eq!(unescape(r"line\.br\next\H\bold\N\", &d), "line\nnextbold");
        assert_eq!(unescape(r"\X0D\\X0A\", &d), "\r\n");
        assert_eq!(unescape(r"\XC3A9\", &d), "é");
        assert_eq!(unescape(r"\XE9\", &d), "é");
        assert_eq!(unescape(r"BSV 4\5 re.", &d), r"BSV 4\5 re.");
        assert_eq!(unescape(r"a\.sp2\b", &d), r"a\.sp2\b");
        assert_eq!(unescape(r"\X0\", &d), r"\X0\");
        assert_eq!(unescape(r"\P\", &d), r"\P\");
    }

    #[test]
    fn escape_round_trips() {
        let d = Delimiters::default();
        let text = "a|b^c~d\\e&f\ng\rh";
        assert_eq!(escape(text, &d), r"a\F\b\S\c\R\d\E\e\T\f\.br\g\X0D\h");
        assert_eq!(unescape(&escape(text, &d), &d), text);
    }

    #[test]
    fn no_escape_character_means_spaces() {
        let d = Delimiters::from_msh('|', "^~&").expect("valid");
        assert_eq!(d.escape, None);
        assert_eq!(escape("a|b", &d), "a b");
        assert_eq!(unescape(r"a\F\b", &d), r"a\F\b");
        let d = Delimiters::from_msh('|', "^~\\").expect("valid");
        assert_eq!((d.escape, d.subcomponent), (Some('\\'), None));
    }
}
