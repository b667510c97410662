//! The shared HL7 v2 sample corpus (`$VIGIL_SHARED/data/hl7v2`, default `../shared` next to the
//! workspace), read in place and never copied. Absent: the caller skips, unless `CI=true`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn shared_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Every `*.hl7` sample as (file name, bytes), sorted by name; None (after saying why) when the
/// corpus is absent. Panics when absent and `CI=true`: CI must run the corpus.
pub fn samples() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = shared_dir().join("data/hl7v2");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        let msg = format!("HL7 v2 samples not found at {}", dir.display());
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: the corpus is required)");
        }
        eprintln!("skipping: {msg}");
        return None;
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).expect("read sample");
            (name, bytes)
        })
        .collect();
    out.sort();
    Some(out)
}

/// One sample by file name.
pub fn sample(name: &str) -> Option<Vec<u8>> {
    samples()?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
}
