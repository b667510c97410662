//! Fuzz target: any bytes that parse as JSON are a JSON Patch document (RFC 6902). Reading it
//! gives a `PatchDocument` or a `PatchError`; applying it to each fixed resource gives the
//! patched copy or a `PatchError`, never a panic. Two consistency checks ride along: the same
//! bytes sent as a transaction entry's `Binary` (base64 `data`) read and apply identically, and
//! taking the written values out and putting them back (what a transaction does to rewrite
//! references) changes nothing.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use vigil_patch::{PatchDocument, PatchError};

fn apply_all(document: &PatchDocument) -> Vec<Result<Value, PatchError>> {
    vigil_fuzz::resources()
        .iter()
        .map(|resource| document.apply(resource))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = vigil_model::json::parse(data) else {
        return;
    };
    let direct = PatchDocument::json_patch(value);
    let binary = json!({
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64::engine::general_purpose::STANDARD.encode(data),
    });
    let wrapped = PatchDocument::from_entry_resource(&binary);
    let (mut document, wrapped) = match (direct, wrapped) {
        (Ok(document), Ok(wrapped)) => (document, wrapped),
        (Err(_), Err(_)) => return,
        (direct, wrapped) => panic!("JSON Patch and Binary disagree: {direct:?} / {wrapped:?}"),
    };
    let results = apply_all(&document);
    assert_eq!(
        results,
        apply_all(&wrapped),
        "Binary patch applies differently"
    );
    let values = document.take_values();
    document.put_back_values(values);
    assert_eq!(
        results,
        apply_all(&document),
        "taking the values out and back changed the patch"
    );
});
