//! Streaming readers: NDJSON line by line, Bundles entry by entry. Neither holds more than one
//! line or entry (as raw JSON text, parsed later by a worker) besides the Bundle's small
//! top-level fields.
//!
//! A Bundle is read with a serde `DeserializeSeed` whose visitor hands each element of the
//! `entry` array, captured as a `RawValue`, to a callback while the array streams.

use super::ImportPosition;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use vigil_service::ServiceError;

/// The JSON text of one item.
#[derive(Debug)]
pub(crate) enum RawText {
    /// An NDJSON line (or a single-resource file, re-serialized).
    Text(String),
    /// A Bundle entry as written.
    Raw(Box<RawValue>),
}

impl RawText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            RawText::Text(text) => text,
            RawText::Raw(raw) => raw.get(),
        }
    }
}

/// What an item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A resource on its own (NDJSON line, single-resource file).
    Resource,
    /// A Bundle entry (`fullUrl`, `resource`, `request`).
    BundleEntry,
}

/// One item read from a file, or the error that stopped reading at that position.
#[derive(Debug)]
pub(crate) struct RawItem {
    pub(crate) file: usize,
    pub(crate) position: ImportPosition,
    pub(crate) kind: ItemKind,
    pub(crate) body: Result<RawText, ServiceError>,
}

/// The receiving end refused more items (the import is stopping).
#[derive(Debug)]
pub(crate) struct Stopped;

const STOPPED: &str = "import stopped";

/// Reads an NDJSON file, calling `sink` with every non-blank line.
pub(crate) fn read_ndjson(
    path: &Path,
    file: usize,
    max_line_bytes: usize,
    sink: &mut dyn FnMut(RawItem) -> Result<(), Stopped>,
) -> Result<(), Stopped> {
    let item = |position, kind, body| RawItem {
        file,
        position,
        kind,
        body,
    };
    let mut reader = match File::open(path) {
        Ok(f) => BufReader::with_capacity(1 << 18, f),
        Err(error) => {
            return sink(item(
                ImportPosition::File,
                ItemKind::Resource,
                Err(unreadable(&error)),
            ));
        }
    };
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        number += 1;
        let (complete, too_long) = match read_line(&mut reader, &mut line, max_line_bytes) {
            Ok(result) => result,
            Err(error) => {
                return sink(item(
                    ImportPosition::Line(number),
                    ItemKind::Resource,
                    Err(unreadable(&error)),
                ));
            }
        };
        if !complete && line.is_empty() && !too_long {
            return Ok(());
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let position = ImportPosition::Line(number);
        if too_long {
            sink(item(
                position,
                ItemKind::Resource,
                Err(ServiceError::invalid(
                    format!("the line is longer than {max_line_bytes} bytes"),
                    "line",
                )),
            ))?;
        } else if line.iter().any(|b| !b.is_ascii_whitespace()) {
            let body = String::from_utf8(std::mem::take(&mut line))
                .map(RawText::Text)
                .map_err(|_| ServiceError::invalid("the line is not valid UTF-8", "line"));
            sink(item(position, ItemKind::Resource, body))?;
        }
        if !complete {
            return Ok(());
        }
    }
}

/// Reads one line into `line` (without its `\n`), keeping at most `max` bytes. Returns
/// (ended with a newline, was longer than `max`).
fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(bool, bool)> {
    let mut too_long = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((false, too_long));
        }
        let (taken, found) = match buffer.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (buffer.len(), false),
        };
        if !too_long {
            if line.len() + taken > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(&buffer[..taken]);
            }
        }
        reader.consume(taken + usize::from(found));
        if found {
            return Ok((true, too_long));
        }
    }
}

/// Reads a JSON file: a Bundle is streamed entry by entry; any other resource is one item.
pub(crate) fn read_json(
    path: &Path,
    file: usize,
    sink: &mut dyn FnMut(RawItem) -> Result<(), Stopped>,
) -> Result<(), Stopped> {
    let reader = match File::open(path) {
        Ok(f) => BufReader::with_capacity(1 << 18, f),
        Err(error) => {
            return sink(RawItem {
                file,
                position: ImportPosition::File,
                kind: ItemKind::Resource,
                body: Err(unreadable(&error)),
            });
        }
    };
    let mut state = DocumentState {
        file,
        sink,
        entries: 0,
        in_entries: false,
        stopped: false,
        resource_type: None,
        others: Map::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let result = DocumentSeed(&mut state)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if state.stopped {
        return Err(Stopped);
    }
    let failure = |position, text: String| RawItem {
        file,
        position,
        kind: ItemKind::Resource,
        body: Err(ServiceError::invalid(text, "file")),
    };
    if let Err(error) = result {
        let position = if state.in_entries {
            ImportPosition::Entry(state.entries)
        } else {
            ImportPosition::File
        };
        return (state.sink)(failure(position, format!("invalid JSON: {error}")));
    }
    match state.resource_type.as_deref() {
        Some("Bundle") => Ok(()),
        Some(_) if state.entries > 0 => (state.sink)(failure(
            ImportPosition::File,
            "only a Bundle may have entries".to_owned(),
        )),
        Some(_) => {
            let text = serde_json::to_string(&Value::Object(std::mem::take(&mut state.others)))
                .unwrap_or_default();
            (state.sink)(RawItem {
                file,
                position: ImportPosition::File,
                kind: ItemKind::Resource,
                body: Ok(RawText::Text(text)),
            })
        }
        None => (state.sink)(failure(
            ImportPosition::File,
            "the file holds no resourceType: not a FHIR resource or Bundle".to_owned(),
        )),
    }
}

fn unreadable(error: &std::io::Error) -> ServiceError {
    ServiceError::invalid(format!("cannot read: {error}"), "file")
}

struct DocumentState<'s> {
    file: usize,
    sink: &'s mut dyn FnMut(RawItem) -> Result<(), Stopped>,
    entries: u64,
    in_entries: bool,
    stopped: bool,
    resource_type: Option<String>,
    /// Top-level fields other than `entry`: small for a Bundle, the resource itself otherwise.
    others: Map<String, Value>,
}

struct DocumentSeed<'a, 's>(&'a mut DocumentState<'s>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a FHIR resource (JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(key) = map.next_key::<String>()? {
            let bundle_so_far = state.resource_type.as_deref().is_none_or(|t| t == "Bundle");
            if key == "entry" && bundle_so_far {
                state.in_entries = true;
                map.next_value_seed(EntriesSeed(&mut *state))?;
                state.in_entries = false;
                continue;
            }
            let value: Value = map.next_value()?;
            if key == "resourceType" {
                state.resource_type = value.as_str().map(str::to_owned);
            }
            state.others.insert(key, value);
        }
        Ok(())
    }
}

struct EntriesSeed<'a, 's>(&'a mut DocumentState<'s>);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Bundle.entry: an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let item = RawItem {
                file: state.file,
                position: ImportPosition::Entry(state.entries),
                kind: ItemKind::BundleEntry,
                body: Ok(RawText::Raw(raw)),
            };
            state.entries += 1;
            if (state.sink)(item).is_err() {
                state.stopped = true;
                return Err(A::Error::custom(STOPPED));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Vec<(ImportPosition, Result<String, String>)> {
        let mut items = Vec::new();
        let mut sink = |item: RawItem| {
            items.push((
                item.position,
                item.body
                    .map(|b| b.as_str().to_owned())
                    .map_err(|e| e.to_string()),
            ));
            Ok(())
        };
        if path.extension().is_some_and(|e| e == "ndjson") {
            read_ndjson(path, 0, 20, &mut sink).expect("not stopped");
        } else {
            read_json(path, 0, &mut sink).expect("not stopped");
        }
        items
    }

    fn file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn ndjson_lines_are_numbered_from_one_and_blank_lines_skipped() {
        let (_dir, path) = file(
            "a.ndjson",
            "{\"a\":1}\n\n{\"b\":2}\r\n{\"c\": \"this line is too long\"}\n{\"d\":4}",
        );
        let items = read(&path);
        let positions: Vec<_> = items.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            positions,
            [
                ImportPosition::Line(1),
                ImportPosition::Line(3),
                ImportPosition::Line(4),
                ImportPosition::Line(5)
            ]
        );
        assert_eq!(items[1].1.as_deref(), Ok("{\"b\":2}"));
        assert!(items[2].1.as_ref().is_err_and(|e| e.contains("longer")));
        assert_eq!(items[3].1.as_deref(), Ok("{\"d\":4}"));
    }

    #[test]
    fn bundle_entries_stream_as_raw_text_in_order() {
        let (_dir, path) = file(
            "b.json",
            r#"{"resourceType":"Bundle","entry":[{"fullUrl":"x"}, {"resource":{"a":[1, 2]}}],"type":"collection"}"#,
        );
        let items = read(&path);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0, ImportPosition::Entry(0));
        assert_eq!(items[1].1.as_deref(), Ok(r#"{"resource":{"a":[1, 2]}}"#));
    }

    #[test]
    fn a_syntax_error_is_reported_at_its_entry() {
        let (_dir, path) = file(
            "b.json",
            r#"{"resourceType":"Bundle","entry":[{"fullUrl":"x"}, {"resource": nope}]}"#,
        );
        let items = read(&path);
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].0, ImportPosition::Entry(1));
        assert!(
            items[1]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("invalid JSON") && e.contains("column"))
        );
    }

    #[test]
    fn a_single_resource_file_is_one_item() {
        let (_dir, path) = file("p.json", r#"{"resourceType":"Patient","id":"p1"}"#);
        let items = read(&path);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].1.as_deref(),
            Ok(r#"{"resourceType":"Patient","id":"p1"}"#)
        );
    }
}
