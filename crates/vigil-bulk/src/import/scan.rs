//! The scan before loading: which files, in which order, in which format, how many items, and
//! the table of every Bundle entry's `fullUrl` with its resource type (so `urn:uuid:`
//! references can point forwards and across files).
//!
//! The scan streams every Bundle once with serde's `IgnoredAny` for everything but
//! `resourceType`, `type`, `entry[].fullUrl` and `entry[].resource.resourceType`, and counts
//! the lines of NDJSON files; it holds no file in memory.

use super::{ImportIssue, ImportPosition};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use vigil_service::ServiceError;

/// How a file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportFormat {
    /// One resource per line (`.ndjson`, `.jsonl`).
    Ndjson,
    /// A Bundle, streamed entry by entry; `kind` is its `Bundle.type` when the scan saw one.
    Bundle {
        /// `Bundle.type`.
        kind: Option<String>,
    },
    /// A JSON file holding one resource that is not a Bundle.
    Resource,
}

/// One file to import.
#[derive(Debug, Clone)]
pub struct ImportFile {
    /// The path as found.
    pub path: PathBuf,
    /// How it is read.
    pub format: ImportFormat,
    /// 0: loaded first (batch Bundles and `0-*` files); 1: the rest.
    pub phase: u8,
    /// Entries or lines the scan counted (for progress).
    pub items: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// The files of an import, in load order.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    /// Files in the order they load.
    pub files: Vec<ImportFile>,
}

impl ImportPlan {
    /// Items (entries and lines) in every file.
    pub fn items(&self) -> u64 {
        self.files.iter().map(|f| f.items).sum()
    }
    /// Bytes in every file.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// `fullUrl` -> resource type of every scanned Bundle entry, keyed by a 64-bit hash of the URL
/// (about 20 bytes an entry; a collision between two of a billion URLs has odds of 1 in 40).
#[derive(Debug, Default)]
pub(crate) struct UrlTypes {
    by_hash: HashMap<u64, u16>,
    types: Vec<String>,
    numbers: HashMap<String, u16>,
}

impl UrlTypes {
    fn insert(&mut self, full_url: &str, resource_type: &str) {
        let number = match self.numbers.get(resource_type) {
            Some(number) => *number,
            None => {
                let Ok(number) = u16::try_from(self.types.len()) else {
                    return;
                };
                self.types.push(resource_type.to_owned());
                self.numbers.insert(resource_type.to_owned(), number);
                number
            }
        };
        self.by_hash.insert(url_hash(full_url), number);
    }

    /// The resource type of the entry whose `fullUrl` is `url`.
    pub(crate) fn get(&self, url: &str) -> Option<&str> {
        let number = self.by_hash.get(&url_hash(url))?;
        self.types.get(usize::from(*number)).map(String::as_str)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_hash.len()
    }
}

fn url_hash(url: &str) -> u64 {
    // DefaultHasher::new() has fixed keys: the same URL hashes alike in every thread.
    let mut hasher = DefaultHasher::new();
    url.hash(&mut hasher);
    hasher.finish()
}

/// Finds the files, scans them and orders them. Unreadable inputs come back as issues.
pub(crate) fn scan(inputs: &[PathBuf]) -> (ImportPlan, UrlTypes, Vec<ImportIssue>) {
    let mut issues = Vec::new();
    let mut paths = Vec::new();
    for input in inputs {
        match discover(input, &mut paths) {
            Ok(()) => {}
            Err(error) => issues.push(ImportIssue::new(
                input,
                ImportPosition::File,
                ServiceError::invalid(format!("cannot read: {error}"), "file"),
            )),
        }
    }
    let mut url_types = UrlTypes::default();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match scan_file(&path, &mut url_types) {
            Ok(file) => files.push(file),
            Err(error) => issues.push(ImportIssue::new(
                &path,
                ImportPosition::File,
                ServiceError::invalid(format!("cannot read: {error}"), "file"),
            )),
        }
    }
    files.sort_by(|a, b| (a.phase, &a.path).cmp(&(b.phase, &b.path)));
    (ImportPlan { files }, url_types, issues)
}

/// Adds `input` (a file) or the import files under it (a directory) to `paths`.
fn discover(input: &Path, paths: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(input)?;
    if !metadata.is_dir() {
        paths.push(input.to_owned());
        return Ok(());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(input)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    children.sort();
    for child in children {
        if child.is_dir() {
            discover(&child, paths)?;
        } else if is_import_file(&child) {
            paths.push(child);
        }
    }
    Ok(())
}

fn is_import_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    !name.starts_with('.')
        && (name.ends_with(".json") || name.ends_with(".ndjson") || name.ends_with(".jsonl"))
}

pub(crate) fn is_ndjson(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.ends_with(".ndjson") || name.ends_with(".jsonl")
}

fn scan_file(path: &Path, url_types: &mut UrlTypes) -> std::io::Result<ImportFile> {
    let file = File::open(path)?;
    let bytes = file.metadata()?.len();
    let reference_data = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("0-"));
    if is_ndjson(path) {
        return Ok(ImportFile {
            path: path.to_owned(),
            format: ImportFormat::Ndjson,
            phase: if reference_data { 0 } else { 1 },
            items: count_lines(file)?,
            bytes,
        });
    }
    let mut summary = DocumentSummary::default();
    let mut deserializer =
        serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 18, file));
    // A syntax error is reported with its position when the file loads; what was scanned
    // before it still counts.
    let _ = ScanSeed {
        summary: &mut summary,
        url_types,
    }
    .deserialize(&mut deserializer);
    let is_bundle = summary.resource_type.as_deref() == Some("Bundle");
    let batch = summary.kind.as_deref() == Some("batch");
    Ok(ImportFile {
        path: path.to_owned(),
        format: if is_bundle || summary.resource_type.is_none() {
            ImportFormat::Bundle { kind: summary.kind }
        } else {
            ImportFormat::Resource
        },
        phase: if reference_data || (is_bundle && batch) {
            0
        } else {
            1
        },
        items: if is_bundle { summary.entries } else { 1 },
        bytes,
    })
}

/// Non-empty lines, for progress.
fn count_lines(mut file: File) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; 1 << 18];
    let mut lines = 0u64;
    let mut in_line = false;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        for byte in &buffer[..read] {
            match byte {
                b'\n' => {
                    lines += u64::from(in_line);
                    in_line = false;
                }
                b' ' | b'\t' | b'\r' => {}
                _ => in_line = true,
            }
        }
    }
    Ok(lines + u64::from(in_line))
}

#[derive(Default)]
struct DocumentSummary {
    resource_type: Option<String>,
    kind: Option<String>,
    entries: u64,
}

struct ScanSeed<'a> {
    summary: &'a mut DocumentSummary,
    url_types: &'a mut UrlTypes,
}

impl<'de> DeserializeSeed<'de> for ScanSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScanSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a FHIR resource (JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resourceType" => self.summary.resource_type = map.next_value()?,
                "type" => {
                    self.summary.kind = map
                        .next_value::<serde_json::Value>()?
                        .as_str()
                        .map(str::to_owned)
                }
                "entry"
                    if self
                        .summary
                        .resource_type
                        .as_deref()
                        .is_none_or(|t| t == "Bundle") =>
                {
                    map.next_value_seed(EntriesScan {
                        summary: self.summary,
                        url_types: self.url_types,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EntriesScan<'a> {
    summary: &'a mut DocumentSummary,
    url_types: &'a mut UrlTypes,
}

impl<'de> DeserializeSeed<'de> for EntriesScan<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesScan<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Bundle.entry: an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(head) = seq.next_element::<EntryHead>()? {
            self.summary.entries += 1;
            if let (Some(full_url), Some(resource_type)) =
                (head.full_url, head.resource.and_then(|r| r.resource_type))
            {
                self.url_types.insert(&full_url, &resource_type);
            }
        }
        Ok(())
    }
}

/// The parts of an entry the scan keeps; serde skips the rest.
#[derive(serde::Deserialize)]
struct EntryHead {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    resource: Option<ResourceHead>,
}

#[derive(serde::Deserialize)]
struct ResourceHead {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table_answers_by_url() {
        let mut table = UrlTypes::default();
        table.insert("urn:uuid:1", "Patient");
        table.insert("urn:uuid:2", "Observation");
        assert_eq!(table.get("urn:uuid:1"), Some("Patient"));
        assert_eq!(table.get("urn:uuid:2"), Some("Observation"));
        assert_eq!(table.get("urn:uuid:3"), None);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn scans_a_bundle_without_holding_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("b.json");
        std::fs::write(
            &path,
            r#"{"resourceType":"Bundle","type":"batch","entry":[
                {"fullUrl":"urn:uuid:a","resource":{"id":"x","resourceType":"Patient"}},
                {"request":{"method":"DELETE","url":"Patient/1"}}]}"#,
        )
        .expect("write");
        let ndjson = dir.path().join("a.ndjson");
        std::fs::write(&ndjson, "{}\n\n  \n{}\n{}").expect("write");
        let (plan, table, issues) = scan(&[dir.path().to_owned()]);
        assert!(issues.is_empty());
        assert_eq!(plan.files.len(), 2);
        assert_eq!(plan.files[0].path, path, "batch bundles load first");
        assert_eq!(plan.files[0].items, 2);
        assert_eq!(plan.files[1].items, 3);
        assert_eq!(table.get("urn:uuid:a"), Some("Patient"));
    }
}
