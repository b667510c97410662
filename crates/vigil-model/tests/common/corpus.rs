//! Locating and reading the official R4 example package (shared by tests and benches).
//!
//! The package is read from `$VIGIL_SHARED/fhir-r4/` (default `../shared` next to the
//! workspace) and unpacked once with `tar -xzf` into cargo's target tmp dir; it is never
//! copied into the repository. When it is missing the caller skips, unless `CI=true`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz";

/// Conformance and terminology resources: the package's definitions, not its examples.
pub const DEFINITION_TYPES: &[&str] = &[
    "CapabilityStatement",
    "CodeSystem",
    "CompartmentDefinition",
    "ConceptMap",
    "ExampleScenario",
    "GraphDefinition",
    "ImplementationGuide",
    "MessageDefinition",
    "NamingSystem",
    "OperationDefinition",
    "SearchParameter",
    "StructureDefinition",
    "StructureMap",
    "TerminologyCapabilities",
    "ValueSet",
];

pub fn shared_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The unpacked `package/` folder, or None (after printing why) when the package is absent.
/// Panics when absent and `CI=true`: CI must run the corpus.
pub fn package_dir(consumer: &str) -> Option<PathBuf> {
    let tgz = shared_dir().join(PACKAGE);
    if !tgz.is_file() {
        let msg = format!("R4 package not found at {}", tgz.display());
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: the corpus is required)");
        }
        eprintln!("skipping: {msg}");
        return None;
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("r4-{consumer}"));
    let package = root.join("package");
    let done = root.join(".unpacked");
    if !done.is_file() {
        std::fs::create_dir_all(&root).expect("create tmp dir");
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(&root)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar -xzf {} failed", tgz.display());
        std::fs::write(&done, b"").expect("write marker");
    }
    Some(package)
}

/// One resource file of the package.
pub struct Example {
    pub file: String,
    pub resource_type: String,
    pub bytes: Vec<u8>,
}

/// Every resource file of the package (sorted by name); `package.json` is not a resource.
pub fn all_resources(package: &Path) -> Vec<Example> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(package).expect("read package dir") {
        let path = entry.expect("dir entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !file.ends_with(".json") || file == "package.json" || file.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read example");
        let resource_type = resource_type_of(&bytes).unwrap_or_default();
        out.push(Example {
            file,
            resource_type,
            bytes,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The root's `resourceType`, read without building a `Value` (other properties are skipped).
fn resource_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "resourceType")]
        resource_type: String,
    }
    serde_json::from_slice::<Head>(bytes)
        .ok()
        .map(|h| h.resource_type)
}

/// The non-conformance examples: every resource whose type is not in [`DEFINITION_TYPES`].
pub fn examples(package: &Path) -> Vec<Example> {
    all_resources(package)
        .into_iter()
        .filter(|e| !DEFINITION_TYPES.contains(&e.resource_type.as_str()))
        .collect()
}
