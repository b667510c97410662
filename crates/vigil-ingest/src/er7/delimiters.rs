//! The delimiters a message declares in MSH-1 and MSH-2.
//!
//! A sender may choose any field, component, repetition, escape and subcomponent characters;
//! they are read positionally from MSH-2 (component, repetition, escape, subcomponent, and in
//! v2.7+ a fifth, the truncation character). Rules, as implemented:
//!
//! - every delimiter is a printable ASCII character that is neither a letter nor a digit nor a
//!   space, and all of them are distinct;
//! - MSH-2 has 1 to 5 characters; characters left out are absent (a message without an escape
//!   character cannot contain escape sequences);
//! - one exception to the positional reading: an MSH-2 of three characters whose third is not
//!   `\` (`^~&`, `^~}`) is read as component, repetition, subcomponent with no escape
//!   character, because that is what senders who drop the escape character mean (both seen in
//!   the shared samples); `^~\` keeps its positional meaning (escape, no subcomponent).

/// The delimiters of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// MSH-1, the field separator (usually `|`).
    pub field: char,
    /// The component separator (usually `^`).
    pub component: char,
    /// The repetition separator (usually `~`), if declared.
    pub repetition: Option<char>,
    /// The escape character (usually `\`), if declared.
    pub escape: Option<char>,
    /// The subcomponent separator (usually `&`), if declared.
    pub subcomponent: Option<char>,
    /// The truncation character (v2.7+, usually `#`), if declared.
    pub truncation: Option<char>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: Some('~'),
            escape: Some('\\'),
            subcomponent: Some('&'),
            truncation: None,
        }
    }
}

impl Delimiters {
    /// Reads the delimiters from the field separator and the raw MSH-2 text.
    pub fn from_msh(field: char, encoding: &str) -> Result<Delimiters, &'static str> {
        let chars: Vec<char> = encoding.chars().collect();
        if chars.is_empty() {
            return Err("MSH-2 (encoding characters) is empty");
        }
        if chars.len() > 5 {
            return Err("MSH-2 (encoding characters) has more than 5 characters");
        }
        let mut all = vec![field];
        all.extend(&chars);
        for (i, c) in all.iter().enumerate() {
            if !is_delimiter_char(*c) {
                return Err("a delimiter must be printable ASCII punctuation");
            }
            if all[..i].contains(c) {
                return Err("the delimiters are not distinct");
            }
        }
        let (escape, subcomponent) = match chars.as_slice() {
            [_, _, third] if *third != '\\' => (None, Some(*third)),
            _ => (chars.get(2).copied(), chars.get(3).copied()),
        };
        Ok(Delimiters {
            field,
            component: chars[0],
            repetition: chars.get(1).copied(),
            escape,
            subcomponent,
            truncation: chars.get(4).copied(),
        })
    }

    /// The MSH-2 text these delimiters are written as.
    pub fn encoding_characters(&self) -> String {
        let mut out = String::new();
        out.push(self.component);
        let rest = [
            self.repetition,
            self.escape,
            self.subcomponent,
            self.truncation,
        ];
        for c in rest.into_iter().flatten() {
            out.push(c);
        }
        out
    }

    /// Whether `c` is one of these delimiters.
    pub fn is_delimiter(&self, c: char) -> bool {
        c == self.field
            || c == self.component
            || Some(c) == self.repetition
            || Some(c) == self.escape
            || Some(c) == self.subcomponent
            || Some(c) == self.truncation
    }
}

fn is_delimiter_char(c: char) -> bool {
    c.is_ascii_graphic() && !c.is_ascii_alphanumeric()
}
