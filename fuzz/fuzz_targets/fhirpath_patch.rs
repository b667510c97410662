//! Fuzz target: any bytes that parse as JSON are a FHIRPath Patch (a `Parameters` resource).
//! Reading it gives a `PatchDocument` or a `PatchError` (the same through the transaction
//! entry reader); applying it to each fixed resource gives the patched copy or a `PatchError`,
//! never a panic. A successful patch keeps the resource's `resourceType`, and taking the
//! written values out and putting them back (what a transaction does to rewrite references)
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigil_patch::{PatchDocument, PatchError};

fn apply_all(document: &PatchDocument) -> Vec<Result<Value, PatchError>> {
    vigil_fuzz::resources()
        .iter()
        .map(|resource| {
            let patched = document.apply(resource);
            if let Ok(patched) = &patched {
                assert_eq!(
                    patched.get("resourceType"),
                    resource.get("resourceType"),
                    "a FHIRPath Patch changed the resourceType"
                );
            }
            patched
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = vigil_model::json::parse(data) else {
        return;
    };
    let direct = PatchDocument::fhirpath_patch(&value);
    if value.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
        let entry = PatchDocument::from_entry_resource(&value);
        assert_eq!(
            direct
                .as_ref()
                .map(PatchDocument::len)
                .map_err(PatchError::clone),
            entry
                .as_ref()
                .map(PatchDocument::len)
                .map_err(PatchError::clone),
            "FHIRPath Patch and entry reader disagree"
        );
    }
    let Ok(mut document) = direct else {
        return;
    };
    let results = apply_all(&document);
    let values = document.take_values();
    document.put_back_values(values);
    assert_eq!(
        results,
        apply_all(&document),
        "taking the values out and back changed the patch"
    );
});
