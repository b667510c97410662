//! Shared fixtures of the fuzz targets: a few small resources that exercise the awkward corners
//! of FHIR JSON (primitive extensions, a contained resource, choice elements, nested backbone
//! elements), and a scratch directory for the stores of the targets that need one.
//!
//! Stores live in `/dev/shm` when it exists (a fuzzer writes thousands of times a second, and a
//! RAM disk keeps that off the real disk), one directory per process
//! (`vigil-fuzz-<target>-<pid>`). libFuzzer ends the process with `exit()`, so nothing removes
//! them: `rm -rf /dev/shm/vigil-fuzz-*` after a run.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// A Patient with a contained Practitioner, a primitive extension (`_birthDate`), an aligned
/// `_given` array with a `null`, and a choice element.
pub const PATIENT: &str = r##"{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},
 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"},
 "contained":[{"resourceType":"Practitioner","id":"gp","name":[{"family":"Who"}]}],
 "extension":[{"url":"http://example.org/x","valueString":"y"}],
 "identifier":[{"system":"http://example.org/mrn","value":"12345"},{"value":"b"}],
 "active":true,
 "name":[{"use":"official","family":"Chalmers","given":["Peter","James"],"_given":[null,{"id":"g"}]},{"use":"usual","given":["Jim"]}],
 "telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work","rank":1},{"system":"email","value":"p@example.org"}],
 "gender":"male",
 "birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
 "deceasedBoolean":false,
 "address":[{"line":["534 Erewhon St"],"city":"PleasantVille","postalCode":"3999","country":"AU"}],
 "contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}]}],"name":{"family":"du Marché"}}],
 "generalPractitioner":[{"reference":"#gp"}],
 "managingOrganization":{"reference":"Organization/o1"}}"##;

/// A second Patient, plainer, linked to the first.
pub const PATIENT_2: &str = r#"{"resourceType":"Patient","id":"p2","name":[{"family":"Chalmers","given":["Anne"]}],
 "gender":"female","birthDate":"2001-03","link":[{"other":{"reference":"Patient/p1"},"type":"seealso"}]}"#;

/// An Organization the patients and observations refer to.
pub const ORGANIZATION: &str = r#"{"resourceType":"Organization","id":"o1","active":true,"name":"ACME Health",
 "identifier":[{"system":"http://example.org/org","value":"acme"}],"type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/organization-type","code":"prov"}]}]}"#;

/// An Encounter of the first patient.
pub const ENCOUNTER: &str = r#"{"resourceType":"Encounter","id":"e1","status":"finished",
 "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
 "subject":{"reference":"Patient/p1"},"period":{"start":"2024-03-01T03:00:00Z","end":"2024-03-01T04:00:00+01:00"},
 "serviceProvider":{"reference":"Organization/o1"}}"#;

/// A blood-pressure Observation with components and exact decimals.
pub const OBSERVATION: &str = r#"{"resourceType":"Observation","id":"o1","status":"final",
 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
 "code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure"}],"text":"BP"},
 "subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},
 "effectiveDateTime":"2024-03-01T03:10:00Z","issued":"2024-03-01T03:15:00.123Z",
 "performer":[{"reference":"Organization/o1"}],
 "component":[
  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120.50,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}"#;

/// A heart-rate Observation of the second patient, with a quantity value and a note.
pub const OBSERVATION_2: &str = r#"{"resourceType":"Observation","id":"o2","status":"amended",
 "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
 "subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2023-12-31T23:59:59+14:00"},
 "valueQuantity":{"value":0.0050,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},
 "note":[{"text":"patient was **resting**"}],
 "referenceRange":[{"low":{"value":60,"unit":"/min"},"high":{"value":100,"unit":"/min"}}]}"#;

/// Every fixture above, parsed once.
pub fn resources() -> &'static [Value] {
    static RESOURCES: OnceLock<Vec<Value>> = OnceLock::new();
    RESOURCES.get_or_init(|| {
        [
            PATIENT,
            PATIENT_2,
            ORGANIZATION,
            ENCOUNTER,
            OBSERVATION,
            OBSERVATION_2,
        ]
        .iter()
        .filter_map(|text| vigil_model::json::parse(text.as_bytes()).ok())
        .collect()
    })
}

/// A fresh directory for this process's store: `/dev/shm/vigil-fuzz-<target>-<pid>` (or under
/// the system temp dir where there is no `/dev/shm`). Panics when it cannot be created: the
/// target cannot run without it, and libFuzzer reports the message.
pub fn scratch_dir(target: &str) -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("vigil-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!(
            "cannot create the scratch directory {}: {error}",
            dir.display()
        );
    }
    dir
}

/// Store options for a fuzzer: one reader, no group-commit wait (one writer, one request at a
/// time), a small page cache.
pub fn store_options() -> vigil_store::sqlite::SqliteOptions {
    vigil_store::sqlite::SqliteOptions {
        read_connections: 1,
        group_commit_wait: std::time::Duration::ZERO,
        max_batch_latency: std::time::Duration::ZERO,
        cache_size_kib: 4 * 1024,
        ..Default::default()
    }
}
