//! Paths into a message as HL7 writes them: `PID-3[1].4.1`, `OBX(2)-5`, `MSH-9.2`.
//!
//! Grammar: `SEG ['(' occurrence ')'] '-' field ['[' repetition ']'] ['.' component ['.' subcomponent]]`.
//! All numbers are 1-based; what is left out is 1, so `PID-5` names the first subcomponent of
//! the first component of the first repetition of PID-5 of the first PID.

use super::PathError;

/// A parsed path to one value of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The segment id, e.g. `PID`.
    pub segment: String,
    /// Which segment with that id (1-based).
    pub occurrence: usize,
    /// The field number (1-based, MSH-1 is the field separator).
    pub field: usize,
    /// The repetition (1-based).
    pub repetition: usize,
    /// The component (1-based).
    pub component: usize,
    /// The subcomponent (1-based).
    pub subcomponent: usize,
}

impl Path {
    /// Parses `PID-3[1].4.1` and its shorter forms.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let err = |reason| PathError {
            path: text.to_owned(),
            reason,
        };
        let (head, tail) = text
            .split_once('-')
            .ok_or_else(|| err("no '-' after the segment id"))?;
        let (segment, occurrence) = match head.split_once('(') {
            Some((id, rest)) => {
                let n = rest.strip_suffix(')').ok_or_else(|| err("unclosed '('"))?;
                (id, number(n).ok_or_else(|| err("bad segment occurrence"))?)
            }
            None => (head, 1),
        };
        if segment.len() != 3 || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err("the segment id must be three letters or digits"));
        }
        let mut parts = tail.split('.');
        let first = parts.next().unwrap_or_default();
        let (field, repetition) = match first.split_once('[') {
            Some((f, rest)) => {
                let r = rest.strip_suffix(']').ok_or_else(|| err("unclosed '['"))?;
                (number(f), number(r).ok_or_else(|| err("bad repetition"))?)
            }
            None => (number(first), 1),
        };
        let field = field.ok_or_else(|| err("bad field number"))?;
        let component = parts
            .next()
            .map_or(Some(1), number)
            .ok_or_else(|| err("bad component"))?;
        let subcomponent = parts
            .next()
            .map_or(Some(1), number)
            .ok_or_else(|| err("bad subcomponent"))?;
        if parts.next().is_some() {
            return Err(err("too many parts"));
        }
        Ok(Path {
            segment: segment.to_ascii_uppercase(),
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

/// A positive (1-based) number.
fn number(text: &str) -> Option<usize> {
    text.parse::<usize>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let p = Path::parse("PID-3[2].4.1").expect("valid");
        assert_eq!(
            (p.field, p.repetition, p.component, p.subcomponent),
            (3, 2, 4, 1)
        );
        let p = Path::parse("OBX(3)-5").expect("valid");
        assert_eq!((p.segment.as_str(), p.occurrence, p.field), ("OBX", 3, 5));
        assert_eq!(Path::parse("MSH-9.2").expect("valid").component, 2);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "PID",
            "PID-0",
            "PID-3[0]",
            "PID-3.x",
            "PI-3",
            "PID(2-3",
            "PID-3.1.1.1",
            "PID-3[1",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }
}
