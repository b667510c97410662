//! Element paths for issues, kept as borrowed segments and rendered only when reporting.

use std::fmt::Write;

/// One step of a path: a JSON property or an array index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Segment<'a> {
    Name(&'a str),
    Index(usize),
}

/// The path from the resource root to the value being validated.
#[derive(Debug, Default)]
pub(crate) struct Path<'a> {
    segments: Vec<Segment<'a>>,
}

impl<'a> Path<'a> {
    pub(crate) fn push(&mut self, segment: Segment<'a>) {
        self.segments.push(segment);
    }

    pub(crate) fn pop(&mut self) {
        self.segments.pop();
    }

    /// How many segments (the cost of rendering the path).
    pub(crate) fn len(&self) -> usize {
        self.segments.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// FHIRPath-ish text: `Patient.name[0].given[1]`, plus an optional child name.
    pub(crate) fn render(&self, child: Option<&str>) -> String {
        let mut out = String::with_capacity(48);
        for segment in &self.segments {
            match segment {
                Segment::Name(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Segment::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        if let Some(child) = child {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(child);
        }
        out
    }
}
